"""`make demo`: the local control plane, the CRDs, the example fleet and the operator, then a status table.

The cluster and the operator stay up after this command returns; `make demo-down`
stops both.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
from pathlib import Path

from camfleet.devcluster.build import cache_root, ensure_built
from camfleet.devcluster.cluster import LocalCluster
from camfleet.devcluster.operator_process import OperatorProcess

REPO = Path(__file__).resolve().parents[3]
DEMO_DIR = cache_root() / "demo"
PID_FILE = DEMO_DIR / "operator.pid"
CLUSTER_NAME = "camfleet"


def _stop_previous_operator() -> None:
    if not PID_FILE.exists():
        return
    pid = int(PID_FILE.read_text())
    try:
        os.killpg(pid, signal.SIGTERM)
        for _ in range(50):
            os.kill(pid, 0)
            time.sleep(0.2)
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    PID_FILE.unlink(missing_ok=True)


def _camera_ready_states(cluster: LocalCluster) -> dict[str, str]:
    items = json.loads(cluster.kubectl("get", "cameras", "-A", "-o", "json").stdout)["items"]
    states = {}
    for camera in items:
        key = f"{camera['metadata']['namespace']}/{camera['metadata']['name']}"
        ready = [c for c in camera.get("status", {}).get("conditions", []) if c["type"] == "Ready"]
        states[key] = ready[0]["status"] if ready else "Pending"
    return states


def up() -> int:
    started = time.monotonic()
    cluster = LocalCluster(name=CLUSTER_NAME)
    cluster.start()
    print(f"control plane up (build check {cluster.timings['build']:.1f}s, start {cluster.timings['start']:.1f}s)")
    cluster.kubectl("apply", "--server-side", "--field-manager=camfleet-demo", "-f", str(REPO / "crds"))
    cluster.kubectl("wait", "--for=condition=Established", "crd", "--all", "--timeout=60s")

    _stop_previous_operator()
    DEMO_DIR.mkdir(parents=True, exist_ok=True)
    operator = OperatorProcess(kubeconfig=cluster.kubeconfig, log_path=DEMO_DIR / "operator.log")
    operator.start()
    assert operator.process is not None
    PID_FILE.write_text(str(operator.process.pid))
    print(f"operator running (pid {operator.process.pid}, log {operator.log_path}, metrics {operator.url}/metrics)")

    cluster.kubectl("apply", "-f", str(REPO / "examples"))
    deadline = time.monotonic() + 90
    states = _camera_ready_states(cluster)
    while "Pending" in states.values() and time.monotonic() < deadline:
        time.sleep(1)
        states = _camera_ready_states(cluster)

    print()
    print(cluster.kubectl("get", "camfleet", "-A").stdout)
    print(f"demo ready in {time.monotonic() - started:.0f}s.")
    print(f"  export KUBECONFIG={cluster.kubeconfig}")
    print(f"  alias kubectl={ensure_built().kubectl}   # same version as the API server")
    print("  kubectl get camfleet -A        # the fleet")
    print("  kubectl describe camera -n <namespace> <name>")
    print("  make demo-down                 # stop the operator and the cluster")
    return 0 if "Pending" not in states.values() else 1


def down() -> int:
    _stop_previous_operator()
    leftovers = LocalCluster(name=CLUSTER_NAME).stop()
    if leftovers:
        print(f"killed processes kwokctl left behind: {leftovers}", file=sys.stderr)
    print("demo stopped")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m camfleet.devcluster.demo")
    parser.add_argument("action", choices=["up", "down"])
    args = parser.parse_args(argv)
    return up() if args.action == "up" else down()


if __name__ == "__main__":
    sys.exit(main())
