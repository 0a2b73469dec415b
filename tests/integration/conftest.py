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

from camfleet.devcluster.cluster import LocalCluster, free_port, session_cluster
from camfleet.devcluster.mediamtx_process import MediaMtxProcess
from camfleet.devcluster.operator_process import OperatorProcess
from camfleet.devcluster.sim_process import SimProcess

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / ".artifacts"


# Tests that must have the cluster to themselves run before the session's operator process (cluster-wide, with
# its own admission webhooks; started lazily by the first test that needs it) starts, or it would act on the same
# objects: the fake-clock controller tests build the controllers in the test process (the session's operator would
# act on the same grants and volumes on the real clock); the chart-RBAC scenario runs an operator of its own, whose
# approver stamps are sealed under its own key (the session's operator re-stamps every approval under another key,
# and each then records the approvals the other sealed as never counting).
# Entries: a file name (every test in it) or "file::test function" (every parametrisation of it).
RUN_BEFORE_THE_OPERATOR = (
    "test_clocked_controllers.py",
    "test_user_roles.py",  # its GrantApprovals name no real grant: RBAC is under test, not the approval webhook
    "test_chart.py::test_operator_with_exactly_the_chart_rbac_runs_a_camera_and_grant_scenario",
)
session_operator_started = False


def runs_before_the_operator(item: pytest.Item) -> bool:
    file = Path(str(item.fspath)).name
    function = getattr(item, "originalname", item.name)
    return file in RUN_BEFORE_THE_OPERATOR or f"{file}::{function}" in RUN_BEFORE_THE_OPERATOR


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/integration" in str(item.fspath):
            item.add_marker(pytest.mark.integration)
    items.sort(key=lambda item: not runs_before_the_operator(item))


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


# The session's MediaMTX (started lazily by the `mediamtx` fixture) listens on ports chosen now, so the session's
# operator knows its control API (to add camera paths and end revoked sessions) and its RTSP address from the start.
MEDIAMTX_RTSP_PORT = free_port()
MEDIAMTX_API_PORT = free_port()

PTZ_SILENT_AFTER_SECONDS = 12
TIER_CREDENTIAL_LIFETIME_SECONDS = 40
TIER_CREDENTIAL_ROTATE_BEFORE_SECONDS = 25
# Short intervals so that resyncs and retries happen within a test's patience; loopback-only devices.
OPERATOR_TEST_FLAGS = (
    "--standalone",
    "--resync-seconds=3",
    "--retry-first-seconds=0.5",
    "--retry-max-seconds=4",
    "--onvif-concurrency=8",
    "--onvif-timeout=3",
    "--device-network=127.0.0.0/8",
    f"--gateway-api-url=http://127.0.0.1:{MEDIAMTX_API_PORT}",
    f"--gateway-rtsp-url=rtsp://127.0.0.1:{MEDIAMTX_RTSP_PORT}",
    # R13's silence timeout and R18's credential lifetime and rotation lead, shortened so that a test sees them
    # pass (test_ptz_control.py, test_tier_credentials.py) yet long enough for every other test's steps.
    f"--ptz-silent-after-seconds={PTZ_SILENT_AFTER_SECONDS}",
    f"--tier-credential-lifetime-seconds={TIER_CREDENTIAL_LIFETIME_SECONDS}",
    f"--tier-credential-rotate-before-seconds={TIER_CREDENTIAL_ROTATE_BEFORE_SECONDS}",
)
SIM_CAMERAS = 260


@pytest.fixture(scope="session")
def sim() -> Iterator[SimProcess]:
    process = SimProcess(log_path=ARTIFACTS / f"sim-integration-{os.getpid()}.log", cameras=SIM_CAMERAS)
    process.start()
    yield process
    process.stop()


@pytest.fixture(scope="session")
def rtsp_sim() -> Iterator[SimProcess]:
    """A simulator whose devices stream real video over RTSP (GStreamer), for the media gateway tests."""
    process = SimProcess(log_path=ARTIFACTS / f"sim-rtsp-integration-{os.getpid()}.log", cameras=60, rtsp_port=0)
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
    global session_operator_started
    session_operator_started = True
    process.start()
    yield process
    process.stop()


@pytest.fixture(scope="session")
def mediamtx(operator: OperatorProcess) -> Iterator[MediaMtxProcess]:
    """Real MediaMTX, the gateway of the session's operator: its door is the operator's decision endpoint."""
    process = MediaMtxProcess.for_operator(
        operator,
        ARTIFACTS / f"mediamtx-integration-{os.getpid()}.log",
        rtsp_port=MEDIAMTX_RTSP_PORT,
        api_port=MEDIAMTX_API_PORT,
    )
    process.log_path.unlink(missing_ok=True)
    process.start()
    yield process
    process.stop()


def require_no_session_operator(what: str) -> None:
    """For the tests of RUN_BEFORE_THE_OPERATOR: fail plainly when the session's operator is already running."""
    assert not session_operator_started, (
        f"{what} must run before the session's operator process starts (it would act on the same objects): "
        "list it in RUN_BEFORE_THE_OPERATOR (tests/integration/conftest.py)"
    )


@pytest.fixture
def namespace(cluster: LocalCluster) -> Iterator[str]:
    name = f"t-{uuid.uuid4().hex[:8]}"
    cluster.kubectl("create", "namespace", name)
    yield name
    cluster.kubectl("delete", "namespace", name, "--wait=false", check=False)
