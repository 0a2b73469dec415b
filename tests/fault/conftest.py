"""Fault-suite fixtures: the integration suite's cluster, CRDs and simulator, and operators scoped by namespace.

Each fault test runs its own operator process(es), watching only namespaces with its own prefix (kopf
namespace patterns), so a test that kills, pauses or doubles operators never disturbs another test's
objects. The shared `operator` watches `fault-*`, which is what the `namespace` fixture creates.

Everything the operators write is kept for the leak scan in test_security.py: the log files of every
operator process started here, and, before a namespace is deleted, its Events and the status of every
camfleet object in it (`captured`).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest

from camfleet.devcluster.cluster import LocalCluster
from camfleet.devcluster.operator_process import OperatorProcess
from camfleet.devcluster.sim_process import SimProcess
from tests.fault import fleet
from tests.fault.support import Captured, OperatorLauncher, apply_json
from tests.integration import conftest as integration

# The integration suite's session fixtures: one local control plane with the CRDs, one simulator of 260 devices.
cluster = integration.cluster
crds_installed = integration.crds_installed
sim = integration.sim
sim_camera_ids = integration.sim_camera_ids
sim_camera = integration.sim_camera

SHARED_PREFIX = "fault-"


@pytest.fixture(scope="session")
def captured() -> Captured:
    return Captured(integration.ARTIFACTS / f"fault-captures-{os.getpid()}")


@pytest.fixture(scope="session")
def launcher(
    cluster: LocalCluster, crds_installed: None, sim: SimProcess, captured: Captured
) -> Iterator[OperatorLauncher]:
    """Starts operator processes for the fault tests; stops whatever is still running at the end (before the
    simulator, so no operator sees its devices vanish)."""
    launched = OperatorLauncher(cluster, integration.ARTIFACTS, captured)
    yield launched
    launched.stop_all()


@pytest.fixture
def operators(launcher: OperatorLauncher, scratch_namespaces: list[str]) -> Iterator[OperatorLauncher]:
    """For tests that start operators of their own: whatever they started is stopped when they end (before
    their namespaces go, so that no operator reports Secrets vanishing under a deleted namespace)."""
    already = len(launcher.processes)
    yield launcher
    for process in launcher.processes[already:]:
        process.stop()


@pytest.fixture(scope="session")
def operator(launcher: OperatorLauncher) -> OperatorProcess:
    """One standalone operator for the tests that do not kill or double it; watches `fault-*` namespaces."""
    return launcher.start("shared", f"--namespace={SHARED_PREFIX}*", standalone=True)


@pytest.fixture(scope="session")
def recording_storage(cluster: LocalCluster) -> None:
    """The storage class of the fault suite's recording policies (marked encrypted, statically provisioned)."""
    apply_json(cluster, [fleet.storage_class()])


@pytest.fixture
def namespace(cluster: LocalCluster, captured: Captured) -> Iterator[str]:
    name = f"{SHARED_PREFIX}{uuid.uuid4().hex[:8]}"
    cluster.kubectl("create", "namespace", name)
    yield name
    captured.snapshot(cluster, name)
    cluster.kubectl("delete", "namespace", name, "--wait=false", check=False)


@pytest.fixture
def scratch_namespaces(cluster: LocalCluster, captured: Captured) -> Iterator[list[str]]:
    """Namespaces a test creates under its own prefix: captured for the leak scan, then deleted with their
    static volumes."""
    made: list[str] = []
    yield made
    for name in made:
        captured.snapshot(cluster, name)
    if made:
        cluster.kubectl("delete", "namespace", *made, "--wait=false", "--ignore-not-found", check=False)
        for name in made:
            cluster.kubectl("delete", "pv", "-l", f"fault.camfleet.io/namespace={name}", "--wait=false", check=False)
