"""Integration fixtures: the real local control plane, the CRDs, the real operator process.

One cluster per test session (started once, torn down at the end with no
process left behind); each test gets a namespace of its own.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from camfleet.devcluster.cluster import LocalCluster, session_cluster
from camfleet.devcluster.operator_process import OperatorProcess
from camfleet.devcluster.sim_process import SimProcess

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / ".artifacts"


# These build the controllers in the test process on a fake clock; the session's operator process (cluster-wide,
# started lazily by the first test that needs it) would act on the same grants and volumes on the real clock.
RUN_BEFORE_THE_OPERATOR = ("test_clocked_controllers.py",)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/integration" in str(item.fspath):
            item.add_marker(pytest.mark.integration)
    items.sort(key=lambda item: Path(str(item.fspath)).name not in RUN_BEFORE_THE_OPERATOR)


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


# Short intervals so that resyncs and retries happen within a test's patience; loopback-only devices.
OPERATOR_TEST_FLAGS = (
    "--standalone",
    "--resync-seconds=3",
    "--retry-first-seconds=0.5",
    "--retry-max-seconds=4",
    "--onvif-concurrency=8",
    "--onvif-timeout=3",
    "--device-network=127.0.0.0/8",
)
SIM_CAMERAS = 260


@pytest.fixture(scope="session")
def sim() -> Iterator[SimProcess]:
    process = SimProcess(log_path=ARTIFACTS / f"sim-integration-{os.getpid()}.log", cameras=SIM_CAMERAS)
    process.start()
    yield process
    process.stop()


@pytest.fixture(scope="session")
def sim_camera_ids(sim: SimProcess) -> Iterator[str]:
    """Each test takes fresh simulated devices from this pool, so no two tests share one."""
    return iter([f"cam-{i:04d}" for i in range(1, SIM_CAMERAS + 1)])


@pytest.fixture
def sim_camera(sim_camera_ids: Iterator[str]) -> str:
    return next(sim_camera_ids)


@pytest.fixture(scope="session")
def operator(cluster: LocalCluster, crds_installed: None) -> Iterator[OperatorProcess]:
    process = OperatorProcess(
        kubeconfig=cluster.kubeconfig,
        log_path=ARTIFACTS / f"operator-integration-{os.getpid()}.log",
        extra_args=OPERATOR_TEST_FLAGS,
    )
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
