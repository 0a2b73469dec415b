"""e2e fixtures: whatever cluster KUBECONFIG names, or a fresh local control plane when it names none.

Every test runs once per operator mode (the `mode` fixture):

- `chart`: the Helm chart installed into the cluster (`helm install`). On a cluster whose pods cannot run (the
  local control plane: kwok fakes pods), the real operator process runs here with the chart's ServiceAccount
  token and the chart's rendered arguments, so the chart's RBAC, webhook rules and values are what is exercised
  (e2e/chart_operator.py).
- `local`: the real operator process run here with the admin kubeconfig, as `make demo` runs it.
- `in-cluster` (CAMFLEET_E2E_OPERATOR=in-cluster, `make e2e-kind`): the chart was installed beforehand and its
  pods run; the simulator then runs in the cluster too (e2e/manifests/simulator.yaml).

The chart mode goes first: the local operator manages a webhook configuration of its own, which a later
chart-mode operator would find answering for it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from camfleet.devcluster.chart import CHART_DIR, Chart
from camfleet.devcluster.cluster import ExternalCluster, LocalCluster, session_cluster
from camfleet.devcluster.example_fleet import (
    DEMO_RTSP_PORT,
    DEMO_SIM_PORT,
    load_manifests,
    local_storage,
    simulator_fleet,
)
from camfleet.devcluster.operator_process import OperatorProcess
from camfleet.devcluster.sim_process import SimProcess
from e2e.chart_operator import ChartOperator, install_chart, uninstall_chart
from e2e.cluster_access import Door, DoorForward, in_cluster_door
from e2e.fleet import journey_devices

REPO = Path(__file__).resolve().parents[1]
ARTIFACTS = REPO / ".artifacts"
Cluster = LocalCluster | ExternalCluster
IN_CLUSTER = os.environ.get("CAMFLEET_E2E_OPERATOR") == "in-cluster"
MODES = ["in-cluster"] if IN_CLUSTER else ["chart", "local"]
# "forbidden" in any spelling, or kopf's "not enough permissions": a call the chart's RBAC refused.
RBAC_REFUSAL = re.compile(r"(?i)forbidden|not enough permissions")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        item.add_marker(pytest.mark.e2e)
    if os.environ.get("KUBECONFIG"):
        # `make demo` is the local control plane's; against a cluster of the user's it is not what is tested.
        demo = [item for item in items if item.path.name == "test_demo.py"]
        if demo:
            config.hook.pytest_deselected(items=demo)
            items[:] = [item for item in items if item not in demo]


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
def example_devices() -> Iterator[SimProcess | None]:
    """Simulated devices where examples/ expects its cameras (127.0.0.1:17080, the demo's port), plus the
    journeys' cameras, with RTSP (the journeys record). In-cluster mode: the simulator runs in the cluster."""
    if IN_CLUSTER:
        yield None
        return
    fleet = simulator_fleet(load_manifests(REPO / "examples"))
    fleet["cameras"] += journey_devices()
    fleet_file = ARTIFACTS / "e2e-fleet.yaml"
    fleet_file.parent.mkdir(parents=True, exist_ok=True)
    fleet_file.write_text(yaml.safe_dump(fleet))
    sim = SimProcess(
        log_path=ARTIFACTS / "sim-e2e.log", fleet_file=fleet_file, port=DEMO_SIM_PORT, rtsp_port=DEMO_RTSP_PORT
    )
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


@pytest.fixture(scope="session", params=MODES)
def mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="session")
def operator(
    cluster: Cluster, mode: str, example_devices: SimProcess | None, example_storage: None
) -> Iterator[OperatorProcess | None]:
    """The operator of this mode: a process here (chart, local) or None (in the cluster)."""
    if mode == "in-cluster":
        yield None
        return
    if mode == "chart":
        release = install_chart(cluster, ARTIFACTS / "e2e-chart")
        chart_operator = ChartOperator.for_release(cluster, release, ARTIFACTS / "e2e-chart")
        chart_operator.start()
        yield chart_operator
        chart_operator.stop()
        uninstall_chart(cluster, release)
        refused = [line for line in chart_operator.logs().splitlines() if RBAC_REFUSAL.search(line)]
        assert not refused, "the chart's RBAC refused the operator calls:\n" + "\n".join(refused[:20])
        return
    process = OperatorProcess(kubeconfig=cluster.kubeconfig, log_path=ARTIFACTS / "operator-e2e.log")
    process.log_path.unlink(missing_ok=True)
    process.start()
    yield process
    process.stop()
    # kopf made this operator's webhook configurations (named camfleet.io); nothing answers them any more.
    for kind in ("validatingwebhookconfiguration", "mutatingwebhookconfiguration"):
        cluster.kubectl("delete", kind, "camfleet.io", "--ignore-not-found", check=False)


USER_ROLES_TEMPLATE = "templates/user-roles.yaml"


@pytest.fixture(scope="session")
def user_roles(cluster: Cluster, mode: str, operator: OperatorProcess | None) -> Iterator[None]:
    """The chart's roles for people. Installed with the chart in the chart and in-cluster modes; for the local
    operator, the chart's user-roles template is rendered and applied as Helm would, so the journeys' people act
    through exactly the roles the chart ships in every mode."""
    if mode != "local":
        yield
        return
    rendered = Chart().run("template", "camfleet", str(CHART_DIR), "--namespace", "camfleet-system",
                           "-s", USER_ROLES_TEMPLATE)  # fmt: skip
    cluster.kubectl("apply", "-f", "-", input=rendered)
    yield
    cluster.kubectl("delete", "-f", "-", "--ignore-not-found", input=rendered, check=False)


@pytest.fixture(scope="session")
def door(cluster: Cluster, operator: OperatorProcess | None) -> Iterator[Door]:
    """The decision endpoint as the media gateway reaches it, with the gateway's credential."""
    if operator is not None:
        yield Door(url=operator.decision_url, headers=operator.decision_headers())
        return
    with DoorForward(cluster) as forward:
        yield in_cluster_door(cluster, forward)
