"""`make demo`: the local control plane, the CRDs, the example fleet and the operator, then a status table.

The cluster and the operator stay up after this command returns; `make demo-down`
stops both.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import yaml

from camfleet.devcluster.build import cache_root, ensure_built
from camfleet.devcluster.cluster import LocalCluster
from camfleet.devcluster.example_fleet import (
    DEMO_RTSP_PORT,
    DEMO_SIM_PORT,
    load_manifests,
    local_storage,
    simulator_fleet,
)
from camfleet.devcluster.operator_process import OperatorProcess
from camfleet.devcluster.sim_process import SimProcess

REPO = Path(__file__).resolve().parents[3]
DEMO_DIR = cache_root() / "demo"
PID_FILE = DEMO_DIR / "operator.pid"
SIM_PID_FILE = DEMO_DIR / "sim.pid"
CLUSTER_NAME = "camfleet"


def _stop_previous(pid_file: Path) -> None:
    """Stop a process group the demo started earlier (its leader's pid is in `pid_file`)."""
    if not pid_file.exists():
        return
    pid = int(pid_file.read_text())
    try:
        os.killpg(pid, signal.SIGTERM)
        for _ in range(50):
            os.kill(pid, 0)
            time.sleep(0.2)
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    pid_file.unlink(missing_ok=True)


def _start_simulator() -> SimProcess:
    """Simulated devices for every example Camera, where the examples' endpoints expect them."""
    fleet_file = DEMO_DIR / "fleet.yaml"
    fleet_file.write_text(yaml.safe_dump(simulator_fleet(load_manifests(REPO / "examples"))))
    sim = SimProcess(log_path=DEMO_DIR / "sim.log", fleet_file=fleet_file, port=DEMO_SIM_PORT, rtsp_port=DEMO_RTSP_PORT)
    sim.start()
    assert sim.process is not None
    SIM_PID_FILE.write_text(str(sim.process.pid))
    return sim


EMERGENCY_COMMAND = "camfleet.io/authority:emergency-command"
DEMO_AUTHORITY_RBAC = [
    {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": {"name": "camfleet-demo-emergency-command"},
        "rules": [{"apiGroups": ["camfleet.io"], "resources": ["grantapprovals"], "verbs": ["create", "get"]}],
    },
    {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRoleBinding",
        "metadata": {"name": "camfleet-demo-emergency-command"},
        "roleRef": {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "ClusterRole",
            "name": "camfleet-demo-emergency-command",
        },
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": EMERGENCY_COMMAND}],
    },
]


def _authorize_emergency(cluster: LocalCluster) -> None:
    """The example emergency grant waits for the emergency authority (R12): its duty officer authorizes it, as
    themselves (impersonated), in the cameras' owner department."""
    cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump_all(DEMO_AUTHORITY_RBAC))
    authorization = {
        "apiVersion": "camfleet.io/v1alpha1",
        "kind": "GrantApproval",
        "metadata": {"name": "typhoon-evacuation-city-hall-emc-authorization", "namespace": "public-security"},
        "spec": {
            "target": {"kind": "SharingGrant", "namespace": "transport", "name": "typhoon-evacuation-city-hall"},
            "verdict": "Approve",
            "documentReference": "QD-EMC-AUTH-2030-0810-01",
            "reason": "Special authorization of the city emergency command for the typhoon evacuation",
        },
    }
    done = cluster.kubectl(
        "apply", "-f", "-", "--as=duty-officer@emc.qingdao.example", f"--as-group={EMERGENCY_COMMAND}",
        "--as-group=system:authenticated", input=yaml.safe_dump(authorization), check=False,
    )  # fmt: skip
    print("emergency grant authorized by the emergency command's duty officer" if done.returncode == 0 else done.stderr)


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

    _stop_previous(PID_FILE)
    _stop_previous(SIM_PID_FILE)
    DEMO_DIR.mkdir(parents=True, exist_ok=True)
    sim = _start_simulator()
    print(f"simulated cameras at {sim.url} (RTSP on port {DEMO_RTSP_PORT}, log {sim.log_path})")
    # The demo's media gateway credential (the door answers no one else), issued before the operator starts.
    operator = OperatorProcess(
        kubeconfig=cluster.kubeconfig, log_path=DEMO_DIR / "operator.log", gateway="demo-gateway"
    )
    operator.start()
    assert operator.process is not None
    PID_FILE.write_text(str(operator.process.pid))
    print(f"operator running (pid {operator.process.pid}, log {operator.log_path}, metrics {operator.url}/metrics)")

    manifests = load_manifests(REPO / "examples")
    cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump_all(local_storage(manifests)))
    cluster.kubectl("apply", "-f", str(REPO / "examples"))
    _authorize_emergency(cluster)
    deadline = time.monotonic() + 90
    states = _camera_ready_states(cluster)
    while set(states.values()) != {"True"} and time.monotonic() < deadline:
        time.sleep(1)
        states = _camera_ready_states(cluster)

    print()
    print(cluster.kubectl("get", "camfleet", "-A").stdout)
    print("Recording: each camera's volume and recorder")
    print(
        cluster.kubectl(
            "get", "cameras", "-A", "-o",
            "custom-columns=NAMESPACE:.metadata.namespace,CAMERA:.metadata.name,POLICY:.status.recordingPolicy,"
            'RECORDING:.status.conditions[?(@.type=="Recording")].status',
        ).stdout
    )  # fmt: skip
    print(
        cluster.kubectl(
            "get", "pvc,deployments", "-A", "-l", "app.kubernetes.io/managed-by=camfleet",
            "-o", "wide",
        ).stdout
    )  # fmt: skip
    summary = subprocess.run(
        [sys.executable, "-m", "camfleet.cli", "status"],
        env={**os.environ, "KUBECONFIG": str(cluster.kubeconfig)}, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    print("Fleet summary (kubectl camfleet status)")
    print(summary.stdout or summary.stderr)
    print(f"demo ready in {time.monotonic() - started:.0f}s.")
    print(f"  export KUBECONFIG={cluster.kubeconfig}")
    print(f"  alias kubectl={ensure_built().kubectl}   # same version as the API server")
    print("  kubectl get camfleet -A        # the fleet")
    print("  kubectl describe camera -n <namespace> <name>")
    print("  .venv/bin/camfleet status      # per department: online rate, recording, overdue filings and approvals")
    print("  .venv/bin/camfleet access explain --department water-authority --camera transport/bay-bridge-km12")
    print(
        f"  # the decision endpoint, as the demo's media gateway (reasons are in {operator.log_path}, not the answer):"
    )
    print(
        f'  curl -sk -u demo-gateway:"$(.venv/bin/camfleet gateway-credential create demo-gateway)" '
        f'{operator.decision_url}/v1/decide -d \'{{"camera": "transport/bay-bridge-km12", '
        '"permission": "LiveView", "token": "<a grant token>"}\''
    )
    print("  make demo-down                 # stop the operator and the cluster")
    return 0 if set(states.values()) == {"True"} else 1


def down() -> int:
    _stop_previous(PID_FILE)
    _stop_previous(SIM_PID_FILE)
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
