"""kube-apiserver, and separately etcd, crash in the middle of a rollout; the operator rides it out on its own.

The component is SIGKILLed (a crash, not a polite stop) while cameras are being reconciled and their
recorders and volumes made; `kwokctl start cluster` then starts whatever component is missing, as a
supervisor (kubelet, systemd) would. The operator is neither restarted nor told anything.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from camfleet.devcluster.cluster import LocalCluster
from camfleet.devcluster.sim_process import SimProcess
from tests.fault import fleet
from tests.fault.support import (
    Captured,
    OperatorLauncher,
    apply_json,
    condition_summary,
    items,
    ready_count,
    tracebacks,
    uncaught_exceptions,
    wait_until,
)
from tests.helpers import wait_for

pytestmark = pytest.mark.fault

CAMERAS = 30
# What an API server that is gone, or not ready yet, or without its etcd, looks like to the operator's HTTP
# client: a lost connection, a 5xx ("rpc error: code = Unavailable", "not all HTTP paths installed") or a 429.
# Any other exception in a traceback would be an error of the operator's own.
OUTAGE = re.compile(
    r"\.(ConnectError|ReadError|RemoteProtocolError|ConnectTimeout|ReadTimeout|WriteError)(:|$)"
    r"|HTTPStatusError: Server error '5\d\d |HTTPStatusError: Client error '429 "
)


def caused_by_the_outage(exception_lines: list[str]) -> bool:
    return any(OUTAGE.search(line) for line in exception_lines)


def component_pid(cluster: LocalCluster, component: str) -> int:
    return int((cluster.cluster_dir / "pids" / f"{component}.pid").read_text())


def crash_and_restart(cluster: LocalCluster, component: str) -> float:
    """SIGKILL one control-plane process, let kwokctl start it again; seconds until the API server is ready."""
    crashed = time.monotonic()
    kill_and_start_again(cluster, component)
    wait_for(
        lambda: cluster.kubectl("get", "--raw", "/readyz", check=False, timeout=10).returncode == 0,
        timeout=60, what="the API server ready again",
    )  # fmt: skip
    return time.monotonic() - crashed


def kill_and_start_again(cluster: LocalCluster, component: str) -> None:
    pid = component_pid(cluster, component)
    os.kill(pid, signal.SIGKILL)
    # kwokctl takes a process that still exists (a zombie not reaped yet) for a running one.
    wait_for(lambda: not Path(f"/proc/{pid}").exists(), timeout=30, interval=0.1, what=f"{component} gone")
    start_cluster(cluster)
    assert component_pid(cluster, component) != pid


def start_missing_components(cluster: LocalCluster) -> list[str]:
    """Start again any control-plane process that has died since (the controller manager and scheduler exit when
    they lose their leases during a long outage), so the tests after this one find a whole control plane."""
    missing = [
        pids.stem for pids in sorted((cluster.cluster_dir / "pids").glob("*.pid"))
        if not Path(f"/proc/{pids.read_text().strip()}").exists()
    ]  # fmt: skip
    if missing:
        start_cluster(cluster)
    return missing


def start_cluster(cluster: LocalCluster) -> None:
    assert cluster.bins is not None
    subprocess.run(
        [str(cluster.bins.kwokctl), "start", "cluster", "--name", cluster.name, "--wait", "2m"],
        env={**os.environ, "KWOK_WORKDIR": str(cluster.workdir)}, check=True, capture_output=True, timeout=180,
    )  # fmt: skip


def stragglers(cluster: LocalCluster, namespace: str) -> dict[str, Any]:
    """Why cameras are not Ready: their summary, and what the cluster says of their recorder and its pods."""
    deployments = {d["metadata"]["name"]: d for d in items(cluster, "deployments", namespace)}
    pods = items(cluster, "pods", namespace)
    found = {}
    for camera in items(cluster, "cameras", namespace):
        summary = condition_summary(camera)
        if summary.get("Ready", ("", ""))[0] == "True":
            continue
        name = camera["metadata"]["name"]
        recorder = deployments.get(f"{name}-recorder", {})
        found[name] = {
            "conditions": summary,
            "recorderStatus": recorder.get("status"),
            "pods": [
                (p["metadata"]["name"], p.get("status", {}).get("phase")) for p in pods if name in p["metadata"]["name"]
            ],
        }
    return found


@pytest.mark.parametrize("component", ["kube-apiserver", "etcd"])
def test_operator_recovers_by_itself_from_a_control_plane_crash(
    cluster: LocalCluster,
    operators: OperatorLauncher,
    sim: SimProcess,
    sim_camera_ids: Iterator[str],
    captured: Captured,
    recording_storage: None,
    scratch_namespaces: list[str],
    component: str,
) -> None:
    namespace = f"cp-{uuid.uuid4().hex[:8]}"
    scratch_namespaces.append(namespace)
    operator = operators.start(namespace, f"--namespace={namespace}", standalone=True)
    assert operator.process is not None
    pid = operator.process.pid
    names = [f"cam-{index:02d}" for index in range(CAMERAS)]
    apply_json(cluster, [fleet.namespace(namespace), fleet.recording_policy(namespace)])
    apply_json(cluster, fleet.recorded_cameras(namespace, names, sim, sim_camera_ids, captured))

    wait_for(lambda: ready_count(cluster, namespace) >= 3, timeout=60, interval=0.2, what="the rollout under way")
    before = ready_count(cluster, namespace)
    outage = crash_and_restart(cluster, component)
    back = time.monotonic()
    if component == "etcd":
        # kwok v0.8.0, standing in for kubelets, can come out of an etcd restart unable to renew its node leases
        # (its log: "Failed to sync lease ... lease already exists") and then starts no pod on those nodes for
        # minutes. Deleting the node leases makes it take them again (within its lease interval), so what is
        # judged below is the operator's recovery, not kwok's.
        cluster.kubectl("delete", "leases", "--all", "-n", "kube-node-lease")
    converged = wait_until(lambda: ready_count(cluster, namespace) == CAMERAS, timeout=180, interval=1)
    assert converged is not None, f"not every camera Ready 180 s after the restart: {stragglers(cluster, namespace)}"
    print(
        f"\n{component} crashed with {before}/{CAMERAS} cameras Ready; API server back after {outage:.1f}s; "
        f"all Ready {time.monotonic() - back:.1f}s later"
    )

    died_later = start_missing_components(cluster)
    assert operator.process.poll() is None, "the operator exited"
    assert operator.process.pid == pid
    recorders = Counter(
        body["metadata"]["labels"]["camfleet.io/camera"]
        for body in items(cluster, "deployments", namespace, "-l", "app.kubernetes.io/component=recorder")
    )
    volumes = items(cluster, "pvc", namespace, "-l", "camfleet.io/retention-volume=true")
    assert recorders == dict.fromkeys(names, 1)
    assert sorted(v["metadata"]["name"] for v in volumes) == sorted(f"{name}-recordings" for name in names)

    log = operator.logs()
    failures = [excerpt for excerpt in uncaught_exceptions(log) if "Traceback" not in excerpt.splitlines()[0]]
    assert not failures, failures[:3]
    logged = tracebacks(log)
    print(f"errors logged with a traceback during the outage: {len(logged)} ({len(log.splitlines())} log lines)")
    unexplained = [lines for lines in logged if not caused_by_the_outage(lines)]
    assert not unexplained, unexplained[:3]
    if died_later:
        print(f"control-plane components that exited after the outage and were started again: {died_later}")
