"""Two peered operator replicas (kopf peering, no --standalone): one works, the other stands by and takes over.

The replicas watch one namespace, so by default their peering object is the namespaced KopfPeering `camfleet`
there (`camfleet run --namespace`); the takeover test runs also as the Helm chart runs them, through the
release's own ClusterKopfPeering (`--cluster-peering`, no peering object in the watched namespace). Which
replica touched what is read from each one's own /metrics: reconciliations and status writes are counted per
process.

Takeover bound: kopf resumes a standby when the dead peer's record in the peering object expires, i.e. at
most `settings.peering.lifetime` (kopf's default, 60 s, which camfleet keeps) after the peer's last
keep-alive, which is no later than the kill. After that the standby lists the namespace again and makes one
device pass for the new camera (a second or two). 60 s + 30 s for a loaded shared machine = 90 s.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from camfleet.devcluster.cluster import LocalCluster
from camfleet.devcluster.operator_process import OperatorProcess
from camfleet.devcluster.sim_process import SimProcess
from camfleet.kube.peering import peering_crds
from camfleet.kube.pod_role import ROLE_LABEL, SETTLE_SECONDS
from tests.fault import fleet
from tests.fault.access import decide, secret_token
from tests.fault.support import OperatorLauncher, apply_json, kill_hard, metric, uncaught_exceptions
from tests.helpers import get_json, wait_for, wait_ready
from tests.integration.manifests import camera_with_secret

pytestmark = pytest.mark.fault

KOPF_PEERING_LIFETIME_SECONDS = 60
TAKEOVER_BOUND_SECONDS = KOPF_PEERING_LIFETIME_SECONDS + 30
RESYNC_SECONDS = 3  # OPERATOR_TEST_FLAGS: --resync-seconds=3


@pytest.fixture
def peered_namespace(cluster: LocalCluster, crds_installed: None, scratch_namespaces: list[str]) -> str:
    """A namespace with its KopfPeering object, made before any replica starts.

    Made later, a replica started earlier would only enter it at its next keep-alive (up to a lifetime
    later), and until then a replica started after it would see no peer and work too.
    """
    name = f"ha-{uuid.uuid4().hex[:8]}"
    scratch_namespaces.append(name)
    peering = {"apiVersion": "kopf.dev/v1", "kind": "KopfPeering", "metadata": {"name": "camfleet", "namespace": name}}
    apply_json(cluster, [*peering_crds(), {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}])
    cluster.kubectl("wait", "--for=condition=Established", "crd/kopfpeerings.kopf.dev", "--timeout=60s")
    apply_json(cluster, [peering])
    return name


@pytest.fixture(params=["namespace-kopfpeering", "release-clusterkopfpeering"])
def peering(request: pytest.FixtureRequest, cluster: LocalCluster, peered_namespace: str) -> Iterator[tuple[str, ...]]:
    """Which peering object the replicas elect through: the KopfPeering in the watched namespace (`camfleet run
    --namespace`), or, as the Helm chart runs them, the release's own ClusterKopfPeering (`--cluster-peering`)."""
    if request.param == "namespace-kopfpeering":
        yield ()
        return
    name = f"camfleet-{peered_namespace}"
    cluster.kubectl("delete", "kopfpeering", "camfleet", "-n", peered_namespace)  # so only the cluster one serves
    apply_json(cluster, [{"apiVersion": "kopf.dev/v1", "kind": "ClusterKopfPeering", "metadata": {"name": name}}])
    yield (f"--cluster-peering={name}",)
    cluster.kubectl("delete", "clusterkopfpeering", name, check=False)


def replica(
    operators: OperatorLauncher,
    label: str,
    namespace: str,
    priority: int,
    pod: str | None = None,
    peering_flags: tuple[str, ...] = (),
) -> OperatorProcess:
    flags = [f"--namespace={namespace}", f"--priority={priority}", *([f"--pod={pod}"] if pod else [])]
    return operators.start(label, *flags, *peering_flags, standalone=False)


def work_done(process: OperatorProcess) -> float:
    """Reconciliations of any kind this replica has finished (devices contacted, status decided)."""
    return metric(process, "camfleet_reconciliations_total")


def add_camera(cluster: LocalCluster, namespace: str, name: str, sim: SimProcess, camera_ids: Iterator[str]) -> None:
    apply_json(cluster, camera_with_secret(namespace, name, sim, next(camera_ids)))


def test_standby_stays_idle_then_takes_over_within_the_peering_lifetime(
    cluster: LocalCluster,
    operators: OperatorLauncher,
    sim: SimProcess,
    sim_camera_ids: Iterator[str],
    peered_namespace: str,
    peering: tuple[str, ...],
) -> None:
    active = replica(operators, "ha-active", peered_namespace, priority=200, peering_flags=peering)
    standby = replica(operators, "ha-standby", peered_namespace, priority=100, peering_flags=peering)

    for name in ("first", "second", "third"):
        add_camera(cluster, peered_namespace, name, sim, sim_camera_ids)
    for name in ("first", "second", "third"):
        wait_ready(cluster, peered_namespace, name, timeout=60)
    time.sleep(3 * RESYNC_SECONDS)  # a few resyncs: a standby that worked would have counted them by now

    assert work_done(active) > 0
    assert work_done(standby) == 0, "the standby reconciled while the active replica was alive"
    assert metric(standby, "camfleet_status_writes_total") == 0

    kill_hard(active)
    killed_at = time.monotonic()
    add_camera(cluster, peered_namespace, "after-failover", sim, sim_camera_ids)
    wait_ready(cluster, peered_namespace, "after-failover", timeout=TAKEOVER_BOUND_SECONDS + 10)
    takeover = time.monotonic() - killed_at
    print(f"\nHA takeover: the standby made a new camera Ready {takeover:.1f}s after the active replica was killed")
    assert takeover <= TAKEOVER_BOUND_SECONDS
    assert work_done(standby) > 0
    assert "Resuming operations after the pause" in standby.logs()
    assert not uncaught_exceptions(standby.logs())
    if peering:  # the chart's way: both replicas kept their records in the release's ClusterKopfPeering only
        assert get_json(cluster, "kopfpeerings", "-n", peered_namespace)["items"] == []
        assert get_json(cluster, "clusterkopfpeering", peering[0].split("=", 1)[1]).get("status")


def test_a_replica_paused_for_a_higher_priority_peer_stops_working(
    cluster: LocalCluster,
    operators: OperatorLauncher,
    sim: SimProcess,
    sim_camera_ids: Iterator[str],
    peered_namespace: str,
) -> None:
    older = replica(operators, "ha-older", peered_namespace, priority=100)
    add_camera(cluster, peered_namespace, "known", sim, sim_camera_ids)
    wait_ready(cluster, peered_namespace, "known", timeout=60)

    newer = replica(operators, "ha-newer", peered_namespace, priority=200)  # e.g. a rolling update's new pod
    wait_for(lambda: "Pausing operations in favour of" in older.logs(), timeout=30, what="the older replica paused")
    paused_at = work_done(older)
    time.sleep(4 * RESYNC_SECONDS)
    assert work_done(older) == paused_at, "the paused replica kept reconciling next to the active one"
    assert work_done(newer) > 0, "nobody resynced the camera"

    newer.stop()  # the rolling update goes back: the older replica must take up its work again
    wait_for(lambda: work_done(older) > paused_at, timeout=TAKEOVER_BOUND_SECONDS, what="the older replica resumed")


def replica_pod(namespace: str, name: str) -> dict[str, Any]:
    """A pod standing in for a replica's pod (kwok runs it and gives it an IP), labelled as the chart labels them."""
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "labels": {"app.kubernetes.io/name": "camfleet"}},
        "spec": {"containers": [{"name": "operator", "image": "camfleet-operator"}]},
    }


def decision_service(namespace: str) -> dict[str, Any]:
    """The chart's decision Service: the operator's pods, but only the active one."""
    selector = {"app.kubernetes.io/name": "camfleet", ROLE_LABEL: "active"}
    port = {"name": "https-decision", "port": 8443, "targetPort": 8443}
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "camfleet-decision", "namespace": namespace},
        "spec": {"selector": selector, "ports": [port]},
    }


def decision_backends(cluster: LocalCluster, namespace: str) -> set[str]:
    """The pods behind the decision Service, as the EndpointSlice controller (kube-controller-manager) sees it."""
    slices = get_json(cluster, "endpointslices", "-n", namespace, "-l", "kubernetes.io/service-name=camfleet-decision")
    return {
        endpoint["targetRef"]["name"]
        for item in slices.get("items", [])
        for endpoint in item.get("endpoints") or []
        if endpoint.get("conditions", {}).get("ready") and endpoint.get("targetRef")
    }


def test_only_the_active_replica_is_behind_the_decision_service_and_the_standby_takes_its_place(
    cluster: LocalCluster, operators: OperatorLauncher, peered_namespace: str
) -> None:
    """A standby has no access state (kopf gives a paused replica no events), so it must not answer the media
    gateway: each replica labels its own pod with its role and the decision Service selects the active one."""
    namespace = peered_namespace
    apply_json(
        cluster, [replica_pod(namespace, "replica-a"), replica_pod(namespace, "replica-b"), decision_service(namespace)]
    )
    active = replica(operators, "ha-door-active", namespace, priority=200, pod=f"{namespace}/replica-a")
    standby = replica(operators, "ha-door-standby", namespace, priority=100, pod=f"{namespace}/replica-b")
    study = fleet.grant_for_a_day(namespace, namespace, "study", ["plaza"])
    apply_json(cluster, [fleet.camera_without_device(namespace, "plaza"), study])
    wait_for(
        lambda: get_json(cluster, "sharinggrant", "study", "-n", namespace).get("status", {}).get("effectiveCameras"),
        what="the grant active on plaza",
    )
    token = secret_token(get_json(cluster, "secret", "study-access", "-n", namespace))
    assert token is not None
    camera = f"{namespace}/plaza"
    wait_for(lambda: decision_backends(cluster, namespace) == {"replica-a"}, what="only replica-a behind the Service")
    assert get_json(cluster, "pod", "replica-b", "-n", namespace)["metadata"]["labels"][ROLE_LABEL] == "standby"
    assert decide(active, token, camera)["allowed"], "the active replica must allow it, or nothing is proven"

    kill_hard(active)
    killed_at = time.monotonic()
    # A killed container makes its pod unready at the kubelet; kwok plays no containers, so the pod goes.
    cluster.kubectl("delete", "pod", "replica-a", "-n", namespace, "--wait=false")
    wait_for(
        lambda: decision_backends(cluster, namespace) == {"replica-b"},
        timeout=TAKEOVER_BOUND_SECONDS + SETTLE_SECONDS + 10,
        what="the former standby behind the Service",
    )
    print(
        f"\nHA: the decision Service reached the new active replica {time.monotonic() - killed_at:.1f}s after the kill"
    )
    answer = decide(standby, token, camera)
    assert answer["allowed"], answer
