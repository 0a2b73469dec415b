"""A grant that ends right after the active replica was SIGKILLed still ends its live sessions (issue 17, point 3).

Two peered replicas, real MediaMTX in front of them (its door reaches the active replica through a forwarder that
stands for the decision Service), the simulator's real RTSP stream, and a real player (GStreamer) that sent the
grant token as the RTSP password, which MediaMTX never lists. The replica that admitted the session is killed;
the grant ends before the standby takes over (kopf's peering lifetime, 60 s). The standby's session ledger never
saw the session, so only "no live ledger entry vouches for this reader of the grant's camera" can find it: the
session must end once the standby works, a reconnect with the token must be refused, and a viewer of a grant
that is still active must be let in.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from camfleet.devcluster.cluster import LocalCluster, free_port
from camfleet.devcluster.mediamtx_process import MediaMtxProcess
from camfleet.devcluster.rtsp_viewer import RtspViewer
from camfleet.devcluster.sim_process import SimProcess
from camfleet.kube.webhook_tls import make_webhook_certificate
from tests.fault import fleet
from tests.fault.access import secret_token
from tests.fault.forwarder import TcpForwarder
from tests.fault.support import OperatorLauncher, apply_json, kill_hard, uncaught_exceptions
from tests.fault.test_ha import TAKEOVER_BOUND_SECONDS, peered_namespace
from tests.helpers import get_json, wait_for
from tests.integration import conftest as integration
from tests.integration.manifests import camera_with_secret

pytestmark = pytest.mark.fault
rtsp_sim = integration.rtsp_sim
__all__ = ["peered_namespace", "rtsp_sim"]

# From the standby's takeover to the end of the revoked grant's session: its first grant pass, a session list
# and a kick.
AFTER_TAKEOVER_SECONDS = 15


@pytest.fixture
def gateway_ports() -> tuple[int, int]:
    return free_port(), free_port()


@pytest.fixture
def decision_tls(tmp_path: Path) -> Path:
    folder = tmp_path / "decision-tls"
    make_webhook_certificate(folder, ["127.0.0.1"])
    return folder


@pytest.fixture
def door() -> Iterator[TcpForwarder]:
    forwarder = TcpForwarder(target_port=1)
    yield forwarder
    forwarder.close()


def token_of(cluster: LocalCluster, namespace: str, grant: str) -> str | None:
    return secret_token(get_json(cluster, "secret", f"{grant}-access", "-n", namespace))


def test_a_grant_revoked_after_the_active_replica_was_killed_ends_its_live_sessions(
    cluster: LocalCluster,
    operators: OperatorLauncher,
    rtsp_sim: SimProcess,
    peered_namespace: str,
    gateway_ports: tuple[int, int],
    decision_tls: Path,
    door: TcpForwarder,
    tmp_path: Path,
) -> None:
    namespace = peered_namespace
    rtsp_port, api_port = gateway_ports
    gateway = (f"--gateway-api-url=http://127.0.0.1:{api_port}",)
    active = operators.start(
        "mtx-active", f"--namespace={namespace}", "--priority=200", *gateway, standalone=False,
        decision_cert_dir=decision_tls,
    )  # fmt: skip
    standby = operators.start(
        "mtx-standby", f"--namespace={namespace}", "--priority=100", *gateway, standalone=False,
        decision_cert_dir=decision_tls,
    )  # fmt: skip
    assert active.gateway_token == standby.gateway_token, "one gateway credential, whichever replica answers"
    door.target_port = active.decision_port
    mediamtx = MediaMtxProcess(
        log_path=tmp_path / "mediamtx.log",
        decision_url=door.url,
        gateway=str(active.gateway),
        gateway_token=str(active.gateway_token),
        decision_fingerprint=active.decision_fingerprint,
        rtsp_port=rtsp_port,
        api_port=api_port,
    )
    mediamtx.start()
    viewers: list[RtspViewer] = []
    try:
        apply_json(cluster, camera_with_secret(namespace, "plaza", rtsp_sim, "cam-0055", shareClass="Unconditional"))
        path = f"{namespace}/plaza"
        wait_for(lambda: path in mediamtx.configured_paths(), timeout=60, what="the camera's path on MediaMTX")
        now = datetime.now(UTC)
        ending = fleet.grant(namespace, namespace, "patrol", now - timedelta(minutes=1), now + timedelta(seconds=40),
                             names=["plaza"])  # fmt: skip
        apply_json(cluster, [ending, fleet.grant_for_a_day(namespace, namespace, "study", ["plaza"])])
        token = wait_for(lambda: token_of(cluster, namespace, "patrol"), what="the ending grant's token")
        other = wait_for(lambda: token_of(cluster, namespace, "study"), what="the lasting grant's token")
        watching = RtspViewer(mediamtx.rtsp_url(path, user="viewer", password=token), player="gstreamer").start()
        viewers.append(watching)
        assert watching.wait_frames(10, timeout=30), "the grantee never saw the camera"

        kill_hard(active)
        killed_at = time.monotonic()
        door.target_port = standby.decision_port  # the Service follows the role labels (tests/fault/test_ha.py)
        end = datetime.fromisoformat(ending["spec"]["period"]["end"])
        time.sleep(max(0.0, (end - datetime.now(UTC)).total_seconds()) + 2)
        assert watching.running, "nothing may end the session while no replica works: the test proves nothing"

        code = watching.wait_exit(TAKEOVER_BOUND_SECONDS + AFTER_TAKEOVER_SECONDS)
        assert code is not None, "the revoked grant's session outlived the failover"
        ended_after = time.monotonic() - killed_at
        print(f"\nfailover: the revoked grant's session ended {ended_after:.1f}s after the active replica was killed")
        assert "Resuming operations after the pause" in standby.logs()
        again = RtspViewer(mediamtx.rtsp_url(path, user="viewer", password=token), player="gstreamer").start()
        viewers.append(again)
        assert again.wait_exit(20) not in (None, 0), "a reconnect with the ended grant's token is refused"
        assert again.frames == 0
        lasting = RtspViewer(mediamtx.rtsp_url(path, user="viewer", password=other), player="gstreamer").start()
        viewers.append(lasting)
        assert lasting.wait_frames(10, timeout=30), "a still-active grant reads through the new active replica"
        assert not uncaught_exceptions(standby.logs())
    finally:
        for viewer in viewers:
            viewer.stop()
        mediamtx.stop()
