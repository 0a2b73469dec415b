"""`make demo`: the local control plane, the CRDs, the example fleet, the operator and MediaMTX, then a table.

The cluster, the simulator, the operator, the volume provisioner and MediaMTX stay up after this command returns;
`make demo-down` stops them all. What is simulated is said in the final table's legend: the devices
(`camfleet sim`) and the pods (kwok marks them Running; no recorder process runs and no footage is written).
Everything else is the real thing: API server, etcd, controllers, the operator, ONVIF, the decision endpoint,
MediaMTX relaying a camera's stream to a grant holder.
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
from camfleet.devcluster.demo_gateway import (
    expiry_check,
    live_view_command,
    start_gateway,
    watch_check,
)
from camfleet.devcluster.demo_table import simulated_table
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
# CAMFLEET_DEMO_NAME: another cluster and state folder (the demo's test uses one of its own).
CLUSTER_NAME = os.environ.get("CAMFLEET_DEMO_NAME", "camfleet")
DEMO_DIR = cache_root() / ("demo" if CLUSTER_NAME == "camfleet" else f"demo-{CLUSTER_NAME}")
PID_FILE = DEMO_DIR / "operator.pid"
SIM_PID_FILE = DEMO_DIR / "sim.pid"
MEDIAMTX_PID_FILE = DEMO_DIR / "mediamtx.pid"
PROVISIONER_PID_FILE = DEMO_DIR / "provisioner.pid"
GATEWAY_RTSP_PORT = 18554  # MediaMTX, where grant holders read streams (the printed ffplay line)
GATEWAY_API_PORT = 18997  # MediaMTX's control API (the operator ends revoked sessions through it)
TABLE_WIDTH = 120


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


def _start_provisioner(cluster: LocalCluster) -> None:
    """The demo storage class's provisioner (static_provisioner.py): a volume for every pending claim, so
    cameras a user adds get their retention volume like the examples' do."""
    log = (DEMO_DIR / "provisioner.log").open("ab")
    process = subprocess.Popen(
        [sys.executable, "-m", "camfleet.devcluster.static_provisioner", "--kubeconfig", str(cluster.kubeconfig)],
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    PROVISIONER_PID_FILE.write_text(str(process.pid))


def _start_operator(cluster: LocalCluster) -> OperatorProcess:
    # The demo's media gateway credential (the door answers no one else), issued before the operator starts.
    operator = OperatorProcess(
        kubeconfig=cluster.kubeconfig,
        log_path=DEMO_DIR / "operator.log",
        gateway="demo-gateway",
        extra_args=(
            "--standalone", "--device-network=127.0.0.0/8",
            f"--gateway-api-url=http://127.0.0.1:{GATEWAY_API_PORT}",
            f"--gateway-rtsp-url=rtsp://127.0.0.1:{GATEWAY_RTSP_PORT}",
        ),
    )  # fmt: skip
    operator.start()
    assert operator.process is not None
    PID_FILE.write_text(str(operator.process.pid))
    return operator


def _wait_ready(cluster: LocalCluster, seconds: float) -> dict[str, str]:
    deadline = time.monotonic() + seconds
    states = _camera_ready_states(cluster)
    while set(states.values()) != {"True"} and time.monotonic() < deadline:
        time.sleep(1)
        states = _camera_ready_states(cluster)
    return states


def _print_usage(cluster: LocalCluster, operator: OperatorProcess) -> None:
    print(f"  export KUBECONFIG={cluster.kubeconfig}")
    print(f"  alias kubectl={ensure_built().kubectl}   # same version as the API server")
    print("  kubectl get camfleet -A        # the fleet")
    print("  kubectl describe camera -n <namespace> <name>")
    print("  .venv/bin/camfleet status      # per department: online rate, recording, overdue filings and approvals")
    print("  .venv/bin/camfleet access explain --department water-authority --camera transport/bay-bridge-km12")
    print("  # your own cameras: docs/own-cameras.md (camfleet sim --fleet docs/examples/sim-fleet.yaml)")
    print(f"  # the decision endpoint, as the demo's media gateway (reasons are in {operator.log_path}):")
    print(
        f'  curl -sk -u demo-gateway:"$(.venv/bin/camfleet gateway-credential create demo-gateway)" '
        f'{operator.decision_url}/v1/decide -d \'{{"camera": "transport/bay-bridge-km12", '
        '"permission": "LiveView", "token": "<a grant token>"}\''
    )
    print("  make demo-down                 # stop the operator, MediaMTX, the simulator and the cluster")


def up() -> int:
    started = time.monotonic()
    cluster = LocalCluster(name=CLUSTER_NAME)
    cluster.start()
    print(f"control plane up (build check {cluster.timings['build']:.1f}s, start {cluster.timings['start']:.1f}s)")
    cluster.kubectl("apply", "--server-side", "--field-manager=camfleet-demo", "-f", str(REPO / "crds"))
    cluster.kubectl("wait", "--for=condition=Established", "crd", "--all", "--timeout=60s")

    for pid_file in (PID_FILE, SIM_PID_FILE, MEDIAMTX_PID_FILE, PROVISIONER_PID_FILE):
        _stop_previous(pid_file)
    DEMO_DIR.mkdir(parents=True, exist_ok=True)
    sim = _start_simulator()
    print(f"simulated cameras at {sim.url} (RTSP on port {DEMO_RTSP_PORT}, log {sim.log_path})")
    operator = _start_operator(cluster)
    print(f"operator running (pid {operator.process.pid if operator.process else '?'}, log {operator.log_path})")
    print(f"  metrics            {operator.url}/metrics")
    print(f"  decision endpoint  {operator.decision_url}/v1/decide and /v1/mediamtx/auth (docs/decision-endpoint.md)")

    storage = local_storage(load_manifests(REPO / "examples"))[0]  # the class; volumes come from the provisioner
    cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump(storage))
    _start_provisioner(cluster)
    print(f"volume provisioner for storage class {storage['metadata']['name']} (log {DEMO_DIR / 'provisioner.log'})")
    cluster.kubectl("apply", "-f", str(REPO / "examples"))
    _authorize_emergency(cluster)
    states = _wait_ready(cluster, 90)

    gateway = start_gateway(cluster, operator, DEMO_DIR, GATEWAY_RTSP_PORT, GATEWAY_API_PORT, MEDIAMTX_PID_FILE)
    print(f"media gateway: MediaMTX, RTSP rtsp://127.0.0.1:{GATEWAY_RTSP_PORT}/<namespace>/<camera>, "
          f"control API http://127.0.0.1:{GATEWAY_API_PORT} (log {gateway.log_path})")  # fmt: skip
    print(watch_check(cluster, GATEWAY_RTSP_PORT))
    print(expiry_check(cluster, GATEWAY_RTSP_PORT))

    print()
    print(cluster.kubectl("get", "camfleet", "-A").stdout)
    summary = subprocess.run(
        [sys.executable, "-m", "camfleet.cli", "status"],
        env={**os.environ, "KUBECONFIG": str(cluster.kubeconfig)}, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    print("Fleet summary (kubectl camfleet status)")
    print(summary.stdout or summary.stderr)
    print(f"demo ready in {time.monotonic() - started:.0f}s.")
    _print_usage(cluster, operator)
    print()
    print("Watch a camera through the gateway with a grant's token (the token is read from its Secret):")
    print("  " + live_view_command(cluster.kubeconfig, GATEWAY_RTSP_PORT))
    print()
    print(simulated_table(cluster, TABLE_WIDTH))
    return 0 if set(states.values()) == {"True"} else 1


def down() -> int:
    for pid_file in (PID_FILE, MEDIAMTX_PID_FILE, PROVISIONER_PID_FILE, SIM_PID_FILE):
        _stop_previous(pid_file)
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
