"""The whole chain: kubectl apply -> the real operator -> status, Events, finalizer, deletion."""

from __future__ import annotations

import asyncio
import copy
from pathlib import Path
from typing import Any

import yaml
from lightkube import AsyncClient
from lightkube.config.kubeconfig import KubeConfig

from camfleet.devcluster.cluster import LocalCluster
from camfleet.devcluster.operator_process import OperatorProcess
from camfleet.kube.crds import missing_crds, required_crds
from tests.helpers import get_json, wait_for

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def example_camera(namespace: str, name: str = "gate-1") -> dict[str, Any]:
    """The first Camera of the examples, moved into the test's namespace (with its Secret's name)."""
    for path in sorted(EXAMPLES.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc and doc.get("kind") == "Camera":
                camera = copy.deepcopy(doc)
                camera["metadata"] = {"name": name, "namespace": namespace}
                return camera
    raise AssertionError("examples/ has no Camera")


def ready_condition(camera: dict[str, Any]) -> dict[str, Any] | None:
    for condition in camera.get("status", {}).get("conditions", []):
        if condition["type"] == "Ready":
            return dict(condition)
    return None


def events_for(cluster: LocalCluster, namespace: str, name: str) -> list[dict[str, Any]]:
    items = get_json(cluster, "events", "-n", namespace, "--field-selector", f"involvedObject.name={name}")
    return list(items.get("items", []))


def test_camera_gets_status_and_finalizer_and_leaves_nothing_behind(
    cluster: LocalCluster, operator: OperatorProcess, namespace: str
) -> None:
    cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump(example_camera(namespace)))

    camera = wait_for(
        lambda: (c := get_json(cluster, "camera", "gate-1", "-n", namespace)) and ready_condition(c) and c,
        what="Ready condition on the Camera",
    )
    assert camera["status"]["observedGeneration"] == camera["metadata"]["generation"]
    ready = ready_condition(camera)
    assert ready is not None
    assert ready["status"] == "True"
    assert ready["reason"] == "Reconciled"
    assert ready["lastTransitionTime"]
    assert "camfleet.io/finalizer" in camera["metadata"]["finalizers"]
    # kopf's bookkeeping lives in annotations under our prefix; status is ours alone.
    assert "kopf" not in camera["status"]
    assert any(key.startswith("camfleet.io/") for key in camera["metadata"].get("annotations", {}))

    cluster.kubectl("delete", "camera", "gate-1", "-n", namespace, "--timeout=30s")
    assert get_json(cluster, "camera", "gate-1", "-n", namespace) == {}
    leftover = get_json(cluster, "camfleet", "-n", namespace)
    assert leftover.get("items", []) == []


def test_ready_event_only_on_transition(cluster: LocalCluster, operator: OperatorProcess, namespace: str) -> None:
    cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump(example_camera(namespace, "lobby")))
    wait_for(lambda: ready_condition(get_json(cluster, "camera", "lobby", "-n", namespace)), what="Ready")
    wait_for(lambda: events_for(cluster, namespace, "lobby"), what="an Event for the Ready transition")
    first = get_json(cluster, "camera", "lobby", "-n", namespace)

    # A metadata change makes kopf call the handler again; Ready stays True, so no new Event
    # and no status write (the condition keeps its transition time).
    cluster.kubectl("label", "camera", "lobby", "-n", namespace, "touched=yes")
    wait_for(
        lambda: (
            get_json(cluster, "camera", "lobby", "-n", namespace)["metadata"]["annotations"]
            .get("camfleet.io/last-handled-configuration", "")
            .find("touched")
            >= 0
        ),
        what="the operator to handle the label change",
    )
    again = get_json(cluster, "camera", "lobby", "-n", namespace)
    assert ready_condition(again) == ready_condition(first)
    reasons = [e["reason"] for e in events_for(cluster, namespace, "lobby")]
    assert reasons.count("Reconciled") == 1, reasons


def test_spec_change_moves_observed_generation(
    cluster: LocalCluster, operator: OperatorProcess, namespace: str
) -> None:
    camera = example_camera(namespace, "moved")
    cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump(camera))
    wait_for(lambda: ready_condition(get_json(cluster, "camera", "moved", "-n", namespace)), what="Ready")
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
    assert ready_condition(updated)["observedGeneration"] == 2  # type: ignore[index]


def test_health_and_metrics_endpoints(operator: OperatorProcess) -> None:
    assert operator.get("/healthz").strip() == "ok"
    assert operator.get("/readyz").strip() == "ok"
    metrics = operator.get("/metrics")
    assert "camfleet_reconciliations_total" in metrics
    assert "process_resident_memory_bytes" in metrics


def test_missing_crds_are_named(cluster: LocalCluster, crds_installed: None) -> None:
    async def check() -> list[str]:
        client = AsyncClient(config=KubeConfig.from_file(cluster.kubeconfig))
        try:
            wanted = [*required_crds(), {"metadata": {"name": "notinstalled.camfleet.io"}}]
            return await missing_crds(client, wanted)
        finally:
            await client.close()

    assert asyncio.run(check()) == ["notinstalled.camfleet.io"]
