"""e2e fixtures: whatever cluster KUBECONFIG names, or a fresh local control plane when it names none.

The operator runs in the cluster when CAMFLEET_E2E_OPERATOR=in-cluster (the Helm
chart installed it); otherwise the real operator process runs here against it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from camfleet.devcluster.cluster import ExternalCluster, LocalCluster, session_cluster
from camfleet.devcluster.example_fleet import DEMO_SIM_PORT, load_manifests, local_storage, simulator_fleet
from camfleet.devcluster.operator_process import OperatorProcess
from camfleet.devcluster.sim_process import SimProcess

REPO = Path(__file__).resolve().parents[1]
Cluster = LocalCluster | ExternalCluster


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        item.add_marker(pytest.mark.e2e)


@pytest.fixture(scope="session")
def cluster() -> Iterator[Cluster]:
    kubeconfig = os.environ.get("KUBECONFIG")
    if kubeconfig:
        yield ExternalCluster(Path(kubeconfig))
        return
    local = session_cluster("camfleet-e2e")
    local.start()
    yield local
    leftovers = local.stop()
    assert not leftovers, f"kwokctl left control-plane processes running: {leftovers}"


@pytest.fixture(scope="session")
def example_devices() -> Iterator[SimProcess]:
    """Simulated devices where examples/ expects its cameras: 127.0.0.1:17080 (the demo's port)."""
    fleet_file = REPO / ".artifacts" / "e2e-fleet.yaml"
    fleet_file.parent.mkdir(parents=True, exist_ok=True)
    fleet_file.write_text(yaml.safe_dump(simulator_fleet(load_manifests(REPO / "examples"))))
    sim = SimProcess(log_path=REPO / ".artifacts" / "sim-e2e.log", fleet_file=fleet_file, port=DEMO_SIM_PORT)
    try:
        sim.start()
    except RuntimeError as error:
        raise RuntimeError(f"{error}; is `make demo` running? It uses the same port (make demo-down)") from error
    yield sim
    sim.stop()


@pytest.fixture(scope="session")
def example_storage(cluster: Cluster) -> None:
    """Storage for the example fleet where the cluster has none of its own (the local control plane)."""
    if isinstance(cluster, LocalCluster):
        manifests = load_manifests(REPO / "examples")
        cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump_all(local_storage(manifests)))


@pytest.fixture(scope="session")
def operator(cluster: Cluster, example_devices: SimProcess, example_storage: None) -> Iterator[OperatorProcess | None]:
    if os.environ.get("CAMFLEET_E2E_OPERATOR") == "in-cluster":
        yield None
        return
    process = OperatorProcess(kubeconfig=cluster.kubeconfig, log_path=REPO / ".artifacts" / "operator-e2e.log")
    process.log_path.unlink(missing_ok=True)
    process.start()
    yield process
    process.stop()
