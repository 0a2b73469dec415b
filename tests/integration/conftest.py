"""Integration fixtures: the real local control plane, the CRDs, the real operator process.

One cluster per test session (started once, torn down at the end with no
process left behind); each test gets a namespace of its own.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from camfleet.devcluster.cluster import LocalCluster, session_cluster
from camfleet.devcluster.operator_process import OperatorProcess

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / ".artifacts"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/integration" in str(item.fspath):
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def cluster() -> Iterator[LocalCluster]:
    local = session_cluster("camfleet-test")
    local.start()
    print(f"\nlocal control plane: build check {local.timings['build']:.1f}s, start {local.timings['start']:.1f}s")
    yield local
    leftovers = local.stop()
    assert not leftovers, f"kwokctl left control-plane processes running: {leftovers}"


@pytest.fixture(scope="session")
def crds_installed(cluster: LocalCluster) -> None:
    cluster.kubectl("apply", "--server-side", "--field-manager=camfleet-tests", "-f", str(REPO / "crds"))
    cluster.kubectl("wait", "--for=condition=Established", "crd", "--all", "--timeout=60s")


@pytest.fixture(scope="session")
def operator(cluster: LocalCluster, crds_installed: None) -> Iterator[OperatorProcess]:
    process = OperatorProcess(kubeconfig=cluster.kubeconfig, log_path=ARTIFACTS / "operator-integration.log")
    process.log_path.unlink(missing_ok=True)
    process.start()
    yield process
    process.stop()


@pytest.fixture
def namespace(cluster: LocalCluster) -> Iterator[str]:
    name = f"t-{uuid.uuid4().hex[:8]}"
    cluster.kubectl("create", "namespace", name)
    yield name
    cluster.kubectl("delete", "namespace", name, "--wait=false", check=False)
