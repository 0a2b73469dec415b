"""The whole chain: kubectl apply -> the real operator -> a simulated device -> status, Events, deletion."""

from __future__ import annotations

import asyncio
import re
import time

from lightkube import AsyncClient
from lightkube.config.kubeconfig import KubeConfig

from camfleet.devcluster.cluster import LocalCluster
from camfleet.devcluster.operator_process import OperatorProcess
from camfleet.devcluster.sim_process import SimProcess
from camfleet.kube.crds import missing_crds, required_crds
from tests.helpers import condition, events_for, get_json, wait_for, wait_ready
from tests.integration.manifests import as_yaml, camera_with_secret


def test_camera_becomes_ready_with_device_info_and_leaves_nothing_behind(
    cluster: LocalCluster, operator: OperatorProcess, sim: SimProcess, sim_camera: str, namespace: str
) -> None:
    cluster.kubectl("apply", "-f", "-", input=as_yaml(camera_with_secret(namespace, "gate-1", sim, sim_camera)))
    camera = wait_ready(cluster, namespace, "gate-1")

    status = camera["status"]
    assert status["observedGeneration"] == camera["metadata"]["generation"]
    assert status["device"]["maker"]
    assert status["device"]["serial"]
    assert status["streamUris"][0]["uri"].startswith("rtsp://")
    assert status["authMode"] in ("WSUsernameToken", "HTTPDigest")
    for kind in ("Reachable", "Authenticated", "TimeSynced", "Configured"):
        assert condition(camera, kind)["status"] == "True", kind  # type: ignore[index]
    assert "camfleet.io/finalizer" in camera["metadata"]["finalizers"]
    # kopf's bookkeeping lives in annotations under our prefix; status is ours alone.
    assert "kopf" not in status

    cluster.kubectl("delete", "camera", "gate-1", "-n", namespace, "--timeout=30s")
    assert get_json(cluster, "camera", "gate-1", "-n", namespace) == {}
    # `kubectl get camfleet` also lists the category's cluster-scoped kinds (AccessTier, CamfleetAuthorities),
    # which other tests of the session create: what matters here is what is left in this namespace.
    left = get_json(cluster, "camfleet", "-n", namespace).get("items", [])
    assert [item for item in left if item["metadata"].get("namespace") == namespace] == []
    reasons = [e["reason"] for e in events_for(cluster, namespace, "gate-1")]
    assert "Decommissioned" in reasons
    assert "NoRecordingPolicy" not in reasons, "an unrecorded camera is not worth a warning"


def test_idle_camera_causes_no_writes_and_no_repeated_events(
    cluster: LocalCluster, operator: OperatorProcess, sim: SimProcess, sim_camera: str, namespace: str
) -> None:
    cluster.kubectl("apply", "-f", "-", input=as_yaml(camera_with_secret(namespace, "lobby", sim, sim_camera)))
    settled = wait_ready(cluster, namespace, "lobby")
    ready_events = [e for e in events_for(cluster, namespace, "lobby") if e["reason"] == "Ready"]
    assert len(ready_events) == 1

    # Several resyncs (every 3 s in tests) find the device unchanged: nothing is written, nothing posted.
    time.sleep(10)
    again = get_json(cluster, "camera", "lobby", "-n", namespace)
    assert again["metadata"]["resourceVersion"] == settled["metadata"]["resourceVersion"]
    assert [e for e in events_for(cluster, namespace, "lobby") if e["reason"] == "Ready"] == ready_events


def test_spec_change_moves_observed_generation(
    cluster: LocalCluster, operator: OperatorProcess, sim: SimProcess, sim_camera: str, namespace: str
) -> None:
    cluster.kubectl("apply", "-f", "-", input=as_yaml(camera_with_secret(namespace, "moved", sim, sim_camera)))
    wait_ready(cluster, namespace, "moved")
    cluster.kubectl(
        "patch", "camera", "moved", "-n", namespace, "--type=merge", "-p", '{"spec":{"site":"Renamed site"}}'
    )
    updated = wait_for(
        lambda: (
            (c := get_json(cluster, "camera", "moved", "-n", namespace))
            and c["metadata"]["generation"] == 2
            and c["status"]["observedGeneration"] == 2
            and c
        ),
        what="observedGeneration 2",
    )
    assert condition(updated, "Ready")["observedGeneration"] == 2  # type: ignore[index]


def test_health_and_metrics_endpoints(operator: OperatorProcess) -> None:
    assert operator.get("/healthz").strip() == "ok"
    assert operator.get("/readyz").strip() == "ok"
    metrics = operator.get("/metrics")
    assert "camfleet_reconciliations_total" in metrics
    assert "camfleet_device_pass_seconds_bucket" in metrics
    assert "process_resident_memory_bytes" in metrics
    # The event-loop watch runs in the operator (issue 21): what an SRE looks at when the door or webhooks are slow.
    lag_count = re.search(r"^camfleet_event_loop_lag_seconds_count (\S+)$", metrics, re.MULTILINE)
    assert lag_count is not None
    assert float(lag_count.group(1)) >= 1


def test_missing_crds_are_named(cluster: LocalCluster, crds_installed: None) -> None:
    async def check() -> list[str]:
        client = AsyncClient(config=KubeConfig.from_file(cluster.kubeconfig))
        try:
            wanted = [*required_crds(), {"metadata": {"name": "notinstalled.camfleet.io"}}]
            return await missing_crds(client, wanted)
        finally:
            await client.close()

    assert asyncio.run(check()) == ["notinstalled.camfleet.io"]
