"""Issue 17 (points 1-3) on real parts: MediaMTX is the media gateway, its door the operator's decision endpoint.

Real MediaMTX (v1.20.1, built from its Go module), the real operator process on the real local control plane,
the simulator's real RTSP stream, and real ffmpeg decoding frames as a grantee's player would. The operator
configures each camera's path on MediaMTX (`<namespace>/<camera>`, relaying the device's stream with its
credentials) through MediaMTX's control API; a grantee reads it with its grant token, as the RTSP password or as
a `jwt=` query; at the grant's expiry the stream stops within seconds and a reconnect is refused, also when the
operator was SIGKILLed and restarted in between (its session ledger gone with it).
"""

from __future__ import annotations

import os
import signal
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import yaml

from camfleet.devcluster.cluster import LocalCluster
from camfleet.devcluster.mediamtx_process import MediaMtxProcess
from camfleet.devcluster.operator_process import OperatorProcess
from camfleet.devcluster.rtsp_viewer import RtspViewer
from camfleet.devcluster.sim_process import SimProcess
from tests.helpers import authorize_emergency, configure_authorities, wait_for
from tests.integration.manifests import camera_with_secret, sim_password
from tests.integration.test_access import access_token, grant

# How long after a grant's end its viewers may still receive frames (R12 asks for the moment it ends; the
# operator's expiry timer, the control API round trip and the last frames in flight make it about a second).
LAST_FRAME_BOUND_SECONDS = 3.0


@pytest.fixture
def streamed(
    cluster: LocalCluster, operator: OperatorProcess, mediamtx: MediaMtxProcess, rtsp_sim: SimProcess
) -> Iterator[tuple[str, str, str]]:
    """An owner department with one camera on a simulated device that streams, its path on MediaMTX, and a
    grantee department allowed emergency requests: (owner, grantee, path)."""
    suffix = uuid.uuid4().hex[:6]
    owner, grantee = f"owner-{suffix}", f"grantee-{suffix}"
    device = f"cam-{int(suffix, 16) % 50 + 1:04d}"
    objects: list[dict[str, Any]] = [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": owner}},
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": grantee}},
        *camera_with_secret(owner, "gate", rtsp_sim, device),
    ]
    cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump_all(objects))
    configure_authorities(cluster, grantee)
    path = f"{owner}/gate"
    wait_for(lambda: path in mediamtx.configured_paths(), timeout=60, what="the camera's path on MediaMTX")
    yield owner, grantee, path
    cluster.kubectl("delete", "namespace", owner, grantee, "--wait=false", check=False)


def emergency_grant(cluster: LocalCluster, owner: str, grantee: str, name: str, seconds: float) -> datetime:
    """An authorized emergency grant on the camera, ending `seconds` from now; its end."""
    now = datetime.now(UTC)
    end = now + timedelta(seconds=seconds)
    body = grant(
        grantee, owner, name, now - timedelta(seconds=1), end, names=["gate"],
        emergency={"incidentReference": "EMC-17", "description": "river flood"},
    )  # fmt: skip
    cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump(body))
    assert authorize_emergency(cluster, owner, grantee, name).returncode == 0
    return end


def watch(url: str) -> RtspViewer:
    """A player reading `url`: GStreamer when the URL carries a password (ffmpeg would cut a token sent as the
    RTSP password to 128 bytes), else ffmpeg."""
    return RtspViewer(url, player="gstreamer" if "@" in url else "ffmpeg").start()


def refused(url: str) -> bool:
    """A player that connects with these credentials gets no frame and gives up."""
    viewer = watch(url)
    code = viewer.wait_exit(20)
    viewer.stop()
    return code not in (None, 0) and viewer.frames == 0


def to_epoch(moment: datetime) -> float:
    """A wall-clock instant on the monotonic clock the viewers stamp frames with."""
    return time.monotonic() + (moment - datetime.now(UTC)).total_seconds()


def assert_ended_on_time(viewers: dict[str, RtspViewer], end: datetime) -> None:
    for how, viewer in viewers.items():
        patience = to_epoch(end) - time.monotonic() + 15
        assert viewer.wait_exit(patience) is not None, f"the viewer with the token {how} still runs after the end"
        assert viewer.last_frame_at is not None
        late = viewer.last_frame_at - to_epoch(end)
        print(f"\n{how}: last frame {late:+.2f}s after the grant's end ({viewer.frames} frames)")
        assert late <= LAST_FRAME_BOUND_SECONDS, f"{how}: frames went on {late:.2f}s after the grant's end"


def test_a_grantee_watches_through_mediamtx_with_its_token_until_the_grant_ends(
    cluster: LocalCluster, operator: OperatorProcess, mediamtx: MediaMtxProcess, streamed: tuple[str, str, str]
) -> None:
    owner, grantee, path = streamed
    source = mediamtx.configured_paths()[path]
    assert source["sourceOnDemand"] is True
    assert source["record"] is False, "MediaMTX records nothing: camfleet's recorder keeps that job"
    # Nobody reads without a token, nor with a made-up one.
    assert refused(mediamtx.rtsp_url(path))
    assert refused(mediamtx.rtsp_url(path, user="viewer", password="not-a-token"))

    end = emergency_grant(cluster, owner, grantee, "flood", seconds=25)
    token = wait_for(lambda: access_token(cluster, grantee, "flood"), what="the grant's token")
    viewers = {
        "as the RTSP password": watch(mediamtx.rtsp_url(path, user="viewer", password=token)),
        "as a jwt= query": watch(mediamtx.rtsp_url(path, query=f"jwt={token}")),
    }
    try:
        for how, viewer in viewers.items():
            assert viewer.wait_frames(10, timeout=30), f"no frames with the token {how} ({viewer.frames} frames)"
        assert mediamtx.readers(path) == 2
        # The device's credentials stay between the operator and MediaMTX.
        password = sim_password(source["source"].split("/cam/")[1].split("/")[0])
        assert password not in operator.logs()
        assert password not in mediamtx.logs()
        assert token not in mediamtx.logs()
        assert_ended_on_time(viewers, end)
    finally:
        for viewer in viewers.values():
            viewer.stop()
    assert refused(mediamtx.rtsp_url(path, user="viewer", password=token)), "a reconnect after the end is refused"
    assert refused(mediamtx.rtsp_url(path, query=f"jwt={token}"))
    assert mediamtx.readers(path) == 0
    # The camera's path goes with the camera.
    cluster.kubectl("delete", "camera", "gate", "-n", owner)
    wait_for(lambda: path not in mediamtx.configured_paths(), timeout=30, what="the camera's path removed")


def test_a_grant_that_ends_while_the_operator_is_down_ends_its_live_sessions_at_restart(
    cluster: LocalCluster, operator: OperatorProcess, mediamtx: MediaMtxProcess, streamed: tuple[str, str, str]
) -> None:
    """The operator is SIGKILLed while a grantee watches (token as the RTSP password: MediaMTX never lists it) and
    the grant ends before it is back: the new process, whose session ledger is empty, still ends the session,
    and a second grantee's viewer on the same camera, still allowed, is let in again at the door."""
    owner, grantee, path = streamed
    end = emergency_grant(cluster, owner, grantee, "night-shift", seconds=20)
    token = wait_for(lambda: access_token(cluster, grantee, "night-shift"), what="the grant's token")
    emergency_grant(cluster, owner, grantee, "day-shift", seconds=600)
    other = wait_for(lambda: access_token(cluster, grantee, "day-shift"), what="the other grant's token")
    ending = watch(mediamtx.rtsp_url(path, user="viewer", password=token))
    try:
        assert ending.wait_frames(10, timeout=30), "no frames before the kill"
        assert operator.process is not None
        os.killpg(operator.process.pid, signal.SIGKILL)
        operator.process.wait(30)
        time.sleep(max(0.0, (end - datetime.now(UTC)).total_seconds()) + 1)
        assert ending.running, "nothing ended the session while the operator was down"
        operator.start()
        assert ending.wait_exit(30) is not None, "the session outlived the grant after the restart"
        frames_at_end = ending.frames
        assert refused(mediamtx.rtsp_url(path, user="viewer", password=token))
        # The still-allowed grant reads as before.
        staying = watch(mediamtx.rtsp_url(path, user="viewer", password=other))
        assert staying.wait_frames(10, timeout=30)
        staying.stop()
        print(f"\nsession ended after restart ({frames_at_end} frames)")
    finally:
        ending.stop()
