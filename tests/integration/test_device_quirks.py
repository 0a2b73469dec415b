"""Issue 16 on the real control plane, with the real operator and simulator processes.

- the README's out-of-cluster path (`camfleet crds | kubectl apply --server-side -f -`, then `camfleet run`)
  on a cluster where the operator's namespace does not exist;
- two vendor personalities that used to fail reach Ready, with their capability gaps in status;
- a device whose replies camfleet cannot use is reported with a typed reason and a growing backoff, and
  recovers by itself once its replies are usable again.

The first test runs its own operator; it comes first so that, run alone, it sees no operator of the session.
"""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from camfleet.devcluster.cluster import LocalCluster, free_port
from camfleet.devcluster.operator_process import OperatorProcess
from camfleet.devcluster.sim_process import SimProcess
from tests.helpers import condition, events_for, get_json, wait_for, wait_ready
from tests.integration.conftest import ARTIFACTS
from tests.integration.manifests import as_yaml, camera_with_secret, example_camera_spec

CAMFLEET = str(Path(sys.executable).with_name("camfleet"))
WEBHOOK_CONFIGURATIONS = ("validatingwebhookconfiguration", "mutatingwebhookconfiguration")


def apply(cluster: LocalCluster, objects: list[dict[str, Any]]) -> None:
    cluster.kubectl("apply", "-f", "-", input=as_yaml(objects))


def camera_condition(cluster: LocalCluster, namespace: str, name: str, kind: str) -> dict[str, Any] | None:
    return condition(get_json(cluster, "camera", name, "-n", namespace), kind)


# -- the README's out-of-cluster path ---------------------------------------------------------------------------


@pytest.fixture
def webhook_configurations_kept(cluster: LocalCluster) -> Iterator[None]:
    """A second operator registers its own admission webhooks: put back the session operator's afterwards."""
    saved = {kind: get_json(cluster, kind, "camfleet.io") for kind in WEBHOOK_CONFIGURATIONS}
    yield
    for kind, previous in saved.items():
        cluster.kubectl("delete", kind, "camfleet.io", "--ignore-not-found", check=False)
        if previous:
            for field in ("resourceVersion", "uid", "creationTimestamp", "managedFields", "generation"):
                previous["metadata"].pop(field, None)
            cluster.kubectl("create", "-f", "-", input=json.dumps(previous))


def readyz(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as answer:
            return bool(answer.status == 200)
    except OSError:
        return False


def test_readme_out_of_cluster_path_works_on_a_cluster_without_the_operator_namespace(
    cluster: LocalCluster, webhook_configurations_kept: None
) -> None:
    env = {**os.environ, "KUBECONFIG": str(cluster.kubeconfig), "PYTHONUNBUFFERED": "1"}
    env.pop("POD_NAMESPACE", None)
    # A namespace no fixture made: the state of a fresh cluster as far as the operator's own Secrets go.
    operator_namespace = f"camfleet-ops-{uuid.uuid4().hex[:6]}"
    assert not get_json(cluster, "namespace", operator_namespace)

    # 1. camfleet crds | kubectl apply --server-side -f -
    crds = subprocess.run([CAMFLEET, "crds"], env=env, capture_output=True, text=True, check=True, timeout=60)
    cluster.kubectl("apply", "--server-side", "-f", "-", input=crds.stdout)

    # 2. camfleet run (ports and the operator namespace chosen so that it shares the machine and the session)
    http_port = free_port()
    log_path = ARTIFACTS / f"operator-readme-{os.getpid()}.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    command = [
        CAMFLEET, "run", "--operator-namespace", operator_namespace,
        "--http-host", "127.0.0.1", "--http-port", str(http_port),
        "--webhook-addr", "127.0.0.1", "--webhook-port", str(free_port()),
        "--decision-addr", "127.0.0.1", "--decision-port", str(free_port()),
    ]  # fmt: skip
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while not readyz(http_port):
            assert process.poll() is None, f"camfleet run exited:\n{log_path.read_text()[-3000:]}"
            assert time.monotonic() < deadline, f"camfleet run not ready:\n{log_path.read_text()[-3000:]}"
            time.sleep(0.3)
        time.sleep(2)  # anything that would crash right after start-up has had its chance
        assert process.poll() is None
    finally:
        process.terminate()
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    output = log_path.read_text(errors="replace")
    assert "Traceback" not in output, output[-3000:]
    assert get_json(cluster, "namespace", operator_namespace), "the operator namespace was not created"
    assert get_json(cluster, "secret", "camfleet-signing-keys", "-n", operator_namespace)
    cluster.kubectl("delete", "namespace", operator_namespace, "--wait=false", check=False)


# -- personalities that used to fail -----------------------------------------------------------------------------

# What each personality cannot do for the example Camera's spec (NTP servers, time zone, encoder).
EXPECTED_GAPS = {
    "vendor-a": {"ntp"},  # an empty NTPInformation: NTP cannot be verified
    "vendor-b": {"ntp"},  # NTP refused with HTTP 501 and a plain-text body
}
# vendor-b reports its local time as UTC: in any zone but UTC its clock reads off by the zone's offset, and
# TimeSynced=False ClockDrift is then the honest verdict (tests/device/test_reply_shapes.py). Its city runs it on UTC.
TIMEZONES = {"vendor-a": "CST-8", "vendor-b": "UTC0"}


@pytest.mark.parametrize("personality", sorted(EXPECTED_GAPS))
def test_vendor_personality_becomes_ready_with_its_capability_gaps(
    cluster: LocalCluster,
    operator: OperatorProcess,
    sim: SimProcess,
    sim_camera: str,
    namespace: str,
    personality: str,
) -> None:
    sim.change(sim_camera, personality=personality)
    device = example_camera_spec()["device"]
    device["time"]["timezone"] = TIMEZONES[personality]
    apply(cluster, camera_with_secret(namespace, "quirky", sim, sim_camera, device=device))
    camera = wait_ready(cluster, namespace, "quirky", timeout=60)

    gaps = camera["status"].get("capabilityGaps", [])
    assert {gap["feature"] for gap in gaps} == EXPECTED_GAPS[personality], gaps
    assert all(gap["reason"] for gap in gaps)
    configured = condition(camera, "Configured")
    assert configured is not None
    assert configured["status"] == "True"
    for feature in EXPECTED_GAPS[personality]:
        assert f"capability gaps: {feature}: " in configured["message"]
    # The encoder was really set through this vendor's replies (the simulator starts at 1920x1080).
    assert main_encoder(sim, sim_camera)["width"] == device["videoEncoder"]["resolution"]["width"]
    assert sim.camera(sim_camera)["time"]["timezone"] == TIMEZONES[personality]

    # Ready and unchanged: later passes write nothing (resourceVersion stays).
    version = camera["metadata"]["resourceVersion"]
    time.sleep(7)  # two resyncs of 3 s
    assert get_json(cluster, "camera", "quirky", "-n", namespace)["metadata"]["resourceVersion"] == version


def main_encoder(sim: SimProcess, camera_id: str) -> dict[str, Any]:
    encoder: dict[str, Any] = sim.camera(camera_id)["encoders"][0]
    return encoder


# -- a reply camfleet cannot use -------------------------------------------------------------------------------


def test_unusable_reply_is_a_protocol_error_with_growing_backoff_and_recovers(
    cluster: LocalCluster, operator: OperatorProcess, sim: SimProcess, sim_camera: str, namespace: str
) -> None:
    # GetVideoEncoderConfiguration answers <tt:Width>1920px</tt:Width>: zeep cannot convert it, the pass stops.
    sim.change(sim_camera, quirks=["encoder-garbled"])
    apply(cluster, camera_with_secret(namespace, "garbled", sim, sim_camera))

    seen: dict[int, float] = {}
    configured: dict[str, Any] | None = None
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and len(seen) < 5:
        configured = camera_condition(cluster, namespace, "garbled", "Configured")
        if configured and configured["status"] == "False" and "attempt " in configured["message"]:
            attempt = int(configured["message"].split("attempt ")[1].split(",")[0])
            seen.setdefault(attempt, time.monotonic())
        time.sleep(0.1)
    attempts = sorted(seen)
    assert len(attempts) >= 4, f"too few retries seen: {attempts} (last Configured: {configured})"
    gaps = [seen[b] - seen[a] for a, b in itertools.pairwise(attempts) if b == a + 1]
    assert gaps[-1] > gaps[0], f"retry intervals do not grow: {gaps}"
    assert configured is not None
    assert configured["reason"] == "ProtocolError"
    assert "GetVideoEncoderConfiguration reply: Width" in configured["message"]
    # The device answered and signed in: it is not blamed on the network or the credentials.
    camera = get_json(cluster, "camera", "garbled", "-n", namespace)
    assert condition(camera, "Reachable")["status"] == "True"  # type: ignore[index]
    assert condition(camera, "Authenticated")["status"] == "True"  # type: ignore[index]
    assert condition(camera, "Ready")["reason"] == "ProtocolError"  # type: ignore[index]
    assert camera["status"]["lastError"]["operation"] == "GetVideoEncoderConfiguration"
    assert camera["status"]["device"]["firmware"]  # what the pass learned before it stopped is kept

    # zeep's own ERROR line for the value is silenced; ours is one warning per transition, not per retry.
    log = operator.logs()
    endpoint = sim.device_url(sim_camera)
    assert sum(1 for line in log.splitlines() if endpoint in line and "cannot use" in line) == 1
    assert "Error during xml -> python translation" not in log

    sim.change(sim_camera, quirks=[])
    camera = wait_ready(cluster, namespace, "garbled", timeout=30)
    assert "lastError" not in camera["status"]
    reasons = wait_for(
        lambda: [e["reason"] for e in events_for(cluster, namespace, "garbled") if e["reason"] == "Ready"],
        what="a Ready Event after recovery",
    )
    assert reasons
