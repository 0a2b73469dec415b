from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

from camfleet.access.decision_inputs import CameraFacts
from camfleet.api.base import ObjectMeta
from camfleet.api.camera import Camera
from camfleet.export.job import camera_privacy_masks
from camfleet.kube.events import reference_to
from camfleet.kube.store import DEFAULT_BITRATE_KBPS, KEPT_METADATA, ApprovalStore, CameraStore, key_of


def _camera(namespace: str, name: str, **spec: Any) -> dict[str, Any]:
    return {"metadata": {"namespace": namespace, "name": name, "managedFields": [{"x": 1}]}, "spec": spec}


def _approval(name: str, kind: str, target: str, namespace: str = "owner") -> dict[str, Any]:
    return {"metadata": {"namespace": namespace, "name": name}, "spec": {"target": {"kind": kind, "name": target}}}


def test_camera_store_indexes_by_namespace_drops_managed_fields_and_hands_out_copies() -> None:
    store = CameraStore()
    store.put(_camera("police", "gate", shareClass="Conditional"))
    store.put(_camera("police", "lobby"))
    store.put(_camera("water", "dam"))
    assert store.count_in("police") == 2
    assert sorted(store.keys_in("police")) == [("police", "gate"), ("police", "lobby")]
    body = store.get(("police", "gate"))
    assert body is not None
    assert "managedFields" not in body["metadata"]
    body["spec"]["shareClass"] = "NotShared"
    assert store.get(("police", "gate"))["spec"]["shareClass"] == "Conditional"  # type: ignore[index]
    store.remove(("police", "gate"))
    assert store.count_in("police") == 1
    assert not store.knows(("police", "gate"))


def test_camera_store_listeners_hear_changes_and_removals() -> None:
    store = CameraStore()
    heard: list[tuple[tuple[str, str], Mapping[str, Any] | None]] = []
    store.subscribe(lambda key, body: heard.append((key, body)))
    store.put(_camera("police", "gate"))
    store.notify(("police", "gate"))
    store.refresh(_camera("police", "gate", note="written by us"))  # our own write is no news
    store.remove(("police", "gate"))
    assert [(key, body is None) for key, body in heard] == [(("police", "gate"), False), (("police", "gate"), True)]


def test_a_cameras_bitrate_is_told_without_its_body_and_follows_every_change() -> None:
    store = CameraStore()
    key = ("police", "gate")
    store.put(_camera("police", "gate", device={"videoEncoder": {"bitrateKbps": 2048}}))
    assert store.bitrate_kbps(key) == 2048
    store.refresh(_camera("police", "gate", device={"videoEncoder": {"bitrateKbps": 8192}}))
    assert store.bitrate_kbps(key) == 8192
    store.put(_camera("police", "gate"))  # the field removed: the model's default applies, not the old value
    assert store.bitrate_kbps(key) == DEFAULT_BITRATE_KBPS == 4096
    store.put(_camera("police", "gate", device={"videoEncoder": {"bitrateKbps": 1024}}))
    store.remove(key)
    assert store.bitrate_kbps(key) == DEFAULT_BITRATE_KBPS
    assert store.bitrate_kbps(("police", "never-seen")) == DEFAULT_BITRATE_KBPS


def test_approval_store_finds_approvals_by_target_and_follows_a_retarget() -> None:
    store = ApprovalStore()
    store.put(_approval("a1", "SharingGrant", "g1"))
    store.put(_approval("a2", "SharingGrant", "g1"))
    store.put(_approval("e1", "FootageExport", "g1"))
    assert [b["metadata"]["name"] for b in store.approvals_for("SharingGrant", "owner", "g1")] == ["a1", "a2"]
    assert [b["metadata"]["name"] for b in store.approvals_for("FootageExport", "owner", "g1")] == ["e1"]
    store.put(_approval("a2", "SharingGrant", "g2"))
    assert [b["metadata"]["name"] for b in store.approvals_for("SharingGrant", "owner", "g1")] == ["a1"]
    store.remove(("owner", "a1"))
    assert store.approvals_for("SharingGrant", "owner", "g1") == []


# -- the projection: what a CameraStore keeps of a camera is what controllers read --------------------------------

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "30-cameras.yaml"
CONDITIONS = ["Reachable", "Authenticated", "TimeSynced", "Configured", "Recording", "Filed", "Signage", "Ready"]


def _as_stored(example: dict[str, Any]) -> dict[str, Any]:
    """An example camera as the API server hands it out once camfleet has worked on it: every metadata field
    the server and clients add, and a full status."""
    name = example["metadata"]["name"]
    at = "2026-12-05T07:00:00Z"
    metadata = {
        **example["metadata"],
        "uid": f"uid-{name}",
        "resourceVersion": "4711",
        "generation": 3,
        "creationTimestamp": at,
        "deletionTimestamp": at,
        "finalizers": ["camfleet.io/finalizer"],
        "annotations": {
            "camfleet.io/note": "kept: camfleet's own",
            "kubectl.kubernetes.io/last-applied-configuration": json.dumps(example),
            "kopf.zalando.org/last-handled-configuration": "{}",
        },
        "managedFields": [{"manager": "kubectl", "operation": "Apply", "fieldsV1": {"f:spec": {}}}],
        "ownerReferences": [{"apiVersion": "v1", "kind": "ConfigMap", "name": "x", "uid": "u"}],
        "selfLink": f"/apis/camfleet.io/v1alpha1/namespaces/x/cameras/{name}",
    }
    status = {
        "observedGeneration": 3,
        "conditions": [
            {"type": kind, "status": "True", "reason": "AsDeclared", "message": "m", "lastTransitionTime": at}
            for kind in CONDITIONS
        ],
        "device": {"maker": "Sim", "model": "S1", "firmware": "1.0", "serial": "42", "hardwareId": "h"},
        "clockDriftSeconds": 0.4,
        "streamUris": [{"profile": "main", "uri": "rtsp://127.0.0.1:8554/main"}],
        "authMode": "HTTPDigest",
        "recordingPolicy": "default",
        "ptzControl": {"department": "police", "person": "duty officer", "rank": "Level1", "since": at},
    }
    return {**example, "metadata": metadata, "status": status}


def _stored_examples() -> list[dict[str, Any]]:
    return [_as_stored(doc) for doc in yaml.safe_load_all(EXAMPLES.read_text()) if doc and doc["kind"] == "Camera"]


@pytest.mark.parametrize("full", _stored_examples(), ids=lambda body: body["metadata"]["name"])
def test_the_projection_keeps_everything_the_controllers_read(full: dict[str, Any]) -> None:
    store = CameraStore()
    store.put(full)
    kept = store.get(key_of(full))
    assert kept is not None
    # Every controller parses the camera through the API model (camera, recording, exports, access state).
    parsed_full, parsed_kept = Camera.model_validate(full), Camera.model_validate(kept)
    assert parsed_kept.spec == parsed_full.spec
    assert parsed_kept.status == parsed_full.status
    assert parsed_kept.metadata.model_dump(exclude={"annotations"}) == parsed_full.metadata.model_dump(
        exclude={"annotations"}
    )
    assert parsed_kept.metadata.annotations == {"camfleet.io/note": "kept: camfleet's own"}
    # The access state and export controller read facts and masks from the same bodies.
    assert CameraFacts.from_resource(parsed_kept) == CameraFacts.from_resource(parsed_full)
    assert camera_privacy_masks(kept) == camera_privacy_masks(full)
    # Events name the camera as it was (uid, resourceVersion); status patches start from the stored status.
    assert reference_to(kept) == reference_to(full)
    assert kept["status"] == full["status"]
    assert kept["spec"] == full["spec"]
    # What is left out is what nobody reads, and most of the body.
    assert {"managedFields", "ownerReferences", "selfLink"}.isdisjoint(kept["metadata"])
    assert len(json.dumps(kept)) < len(json.dumps(full)) * 0.8


def test_a_metadata_field_the_model_reads_is_kept_whatever_it_is() -> None:
    """KEPT_METADATA follows api.base.ObjectMeta: a field added there (read by a controller) is kept without a
    second list to update."""
    by_alias = {field.alias or name for name, field in ObjectMeta.model_fields.items()}
    assert by_alias - {"generateName"} <= set(KEPT_METADATA)
