"""The pydantic models: examples parse, invalid manifests are refused with the rule's words, and the models
read JSON the way the API server does."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import kopf
import pytest
from pydantic import ValidationError

from camfleet.api import Camera, Condition, ConditionStatus, RecordingPolicy, SharingGrant
from camfleet.api.camera import CameraSpec, LocationCategory, ShareClass
from camfleet.api.crds import all_crds
from tests.unit.api.manifests import (
    InvalidManifest,
    example_files,
    example_objects,
    invalid_manifests,
    load_documents,
    model_for,
)

EXAMPLES = example_objects()
CREATE_REFUSALS = [manifest for manifest in invalid_manifests() if not manifest.is_update]
UPDATE_REFUSALS = [manifest for manifest in invalid_manifests() if manifest.is_update]


def by_kind(kind: str) -> list[dict[str, Any]]:
    return [document for _, document in EXAMPLES if document["kind"] == kind]


@pytest.mark.parametrize(
    "document",
    [document for _, document in EXAMPLES],
    ids=[f"{d['kind']}/{d['metadata']['name']}" for _, d in EXAMPLES],
)
def test_every_example_is_valid(document: dict[str, Any]) -> None:
    model_for(document).model_validate(document)


def test_example_files_are_numbered_in_apply_order() -> None:
    names = [path.name for path in example_files()]
    assert names == sorted(names)
    assert names[0] == "00-namespaces.yaml"
    assert all(name[:2].isdigit() and name[2] == "-" for name in names)


def test_examples_describe_a_small_city() -> None:
    namespaces = {d["metadata"]["name"] for d in load_documents(example_files()[0]) if d["kind"] == "Namespace"}
    cameras = [CameraSpec.model_validate(d["spec"]) for d in by_kind("Camera")]
    camera_namespaces = {d["metadata"]["namespace"] for d in by_kind("Camera")}
    assert len(camera_namespaces) >= 2
    assert camera_namespaces <= namespaces
    assert len(cameras) >= 6
    assert len({camera.location.category for camera in cameras}) >= 5
    assert {camera.security_level for camera in cameras} == {"Standard", "Restricted"}
    assert {camera.share_class for camera in cameras} == set(ShareClass)
    policy_namespaces = {d["metadata"]["namespace"] for d in by_kind("RecordingPolicy")}
    assert camera_namespaces <= policy_namespaces, "a recording policy per department"
    tiers = [d["spec"] for d in by_kind("AccessTier")]
    assert sorted(tier["level"] for tier in tiers) == [1, 2, 3, 4]
    windows = [w for tier in tiers for subject in tier.get("subjects", []) for w in subject.get("windows", [])]
    assert any("recurring" in window for window in windows), "a seasonal tier such as the flood season"
    assert by_kind("GrantApproval")
    assert by_kind("FootageExport")


def test_examples_hold_a_grant_of_each_kind() -> None:
    grants = [SharingGrant.model_validate(d).spec for d in by_kind("SharingGrant")]
    unconditional = [
        g for g in grants if g.share_class == "Unconditional" and g.application is None and not g.emergency
    ]
    conditional = [g for g in grants if g.share_class == "Conditional" and g.application is not None]
    emergency = [g for g in grants if g.emergency is not None]
    assert unconditional
    assert conditional
    assert emergency
    assert all(g.period.end - g.period.start <= timedelta(hours=72) for g in emergency)
    assert all(g.period.end > datetime(2030, 1, 1, tzinfo=UTC) for g in emergency), "examples must stay valid"


def test_every_example_camera_has_its_credentials_secret() -> None:
    secrets = {
        (d["metadata"]["namespace"], d["metadata"]["name"]): d["stringData"]
        for path in example_files()
        for d in load_documents(path)
        if d["kind"] == "Secret"
    }
    for document in by_kind("Camera"):
        camera = Camera.model_validate(document)
        ref = camera.spec.credentials_secret_ref
        data = secrets[(document["metadata"]["namespace"], ref.name)]
        assert ref.username_key in data
        assert ref.password_key in data


@pytest.mark.parametrize("manifest", CREATE_REFUSALS, ids=[m.name for m in CREATE_REFUSALS])
def test_pydantic_refuses_each_invalid_manifest_with_the_rule(manifest: InvalidManifest) -> None:
    with pytest.raises(ValidationError) as refusal:
        model_for(manifest.refused).model_validate(manifest.refused)
    assert manifest.expect_pydantic in str(refusal.value)


@pytest.mark.parametrize("manifest", UPDATE_REFUSALS, ids=[m.name for m in UPDATE_REFUSALS])
def test_transition_rules_are_judged_by_the_api_server_only(manifest: InvalidManifest) -> None:
    """A single parse sees one object, not the change; each version alone is valid (the API server
    refuses the change, see tests/integration/test_api_server.py)."""
    before, after = manifest.documents
    model = model_for(after)
    assert model.model_validate(before) != model.model_validate(after)


def test_invalid_manifests_cover_every_rule() -> None:
    expectations = " ".join(f"{m.expect_server} {m.expect_pydantic}" for m in invalid_manifests())
    for rule in ("R1", "R2", "R3", "R9", "R10", "R11", "R12", "R13", "R14", "R15", "R16", "R18"):
        assert f"rule {rule})" in expectations, rule
    for place in ("toilets", "hotel guest rooms", "collective dormitories", "public bathhouses", "changing rooms"):
        assert f"installed in {place}" in expectations
    assert "date-time" in expectations
    assert "integer" in expectations
    assert "a period must start before it ends" in expectations


def test_every_cel_message_is_exercised_by_an_invalid_manifest() -> None:
    expectations = [m.expect_server for m in invalid_manifests()]
    schemas = [crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"] for crd in all_crds()]
    messages = {rule["message"] for schema in schemas for rule in _rules(schema)}
    untested = sorted(message for message in messages if not any(expected in message for expected in expectations))
    assert untested == []


def _rules(node: dict[str, Any]) -> list[dict[str, str]]:
    found = list(node.get("x-kubernetes-validations", []))
    for child in node.get("properties", {}).values():
        found += _rules(child)
    if isinstance(node.get("items"), dict):
        found += _rules(node["items"])
    return found


KOPF_BODY: dict[str, Any] = {
    "apiVersion": "camfleet.io/v1alpha1",
    "kind": "Camera",
    "metadata": {
        "name": "gate",
        "namespace": "transport",
        "uid": "8d0d6c3e-3c1e-4bb0-9a57-6e4e1f2f9a10",
        "generation": 3,
        "resourceVersion": "4711",
        "creationTimestamp": "2030-01-01T00:00:00Z",
        "labels": {"camfleet.io/recorded": "true"},
        "finalizers": ["kopf.zalando.org/KopfFinalizerMarker"],
        "managedFields": [{"manager": "kubectl", "operation": "Apply"}],
    },
    "spec": {
        "endpoint": "http://10.0.0.1/onvif/device_service",
        "credentialsSecretRef": {"name": "gate-onvif"},
        "site": "Gate",
        "location": {"category": "street", "description": "Main gate"},
        "purpose": "Gate security",
        "legalBasis": "city classification decision CLS-2030-01",
    },
    "status": {
        "observedGeneration": 2,
        "conditions": [
            {
                "type": "Ready",
                "status": "False",
                "reason": "Unreachable",
                "message": "no answer from 10.0.0.1",
                "lastTransitionTime": "2030-01-01T00:05:00Z",
                "observedGeneration": 2,
            }
        ],
        "clockDriftSeconds": 0.4,
        "lastError": {"message": "timeout", "onvifFault": {"subcode": "ter:NotAuthorized"}},
        "kopf": {"progress": {"reconcile_camera": {"retries": 1}}},
    },
}


def test_a_kopf_body_parses_with_defaults_applied() -> None:
    camera = Camera.model_validate(kopf.Body(KOPF_BODY))
    assert camera.metadata.name == "gate"
    assert camera.metadata.generation == 3
    assert camera.spec.share_class is ShareClass.CONDITIONAL
    assert camera.spec.credentials_secret_ref.password_key == "password"
    assert camera.spec.device.video_encoder.bitrate_kbps == 4096
    assert camera.status is not None
    ready = camera.status.conditions[0]
    assert ready.status == "False"
    assert ready.status is ConditionStatus.FALSE
    assert ready.last_transition_time == datetime(2030, 1, 1, 0, 5, tzinfo=UTC)
    assert camera.status.last_error is not None
    assert camera.status.last_error.onvif_fault is not None
    assert camera.status.last_error.onvif_fault.subcode == "ter:NotAuthorized"


def test_json_is_camel_case_and_python_is_snake_case() -> None:
    spec = CameraSpec(
        endpoint="http://10.0.0.1/onvif/device_service",
        credentials_secret_ref={"name": "gate-onvif"},
        site="Gate",
        location={"category": LocationCategory.STREET, "description": "Main gate"},
        purpose="Gate security",
        share_class=ShareClass.UNCONDITIONAL,
    )
    api = spec.to_api()
    assert api["credentialsSecretRef"] == {"name": "gate-onvif", "usernameKey": "username", "passwordKey": "password"}
    assert api["shareClass"] == "Unconditional"
    assert "acceptanceDate" not in api, "absent fields stay absent"
    assert CameraSpec.model_validate(api) == spec


def test_condition_round_trips_as_metav1_condition() -> None:
    condition = Condition(
        type="Reachable",
        status=ConditionStatus.TRUE,
        reason="Answered",
        last_transition_time=datetime(2030, 1, 1, tzinfo=UTC),
    )
    assert condition.to_api() == {
        "type": "Reachable",
        "status": "True",
        "reason": "Answered",
        "message": "",
        "lastTransitionTime": "2030-01-01T00:00:00Z",
    }
    with pytest.raises(ValidationError):
        Condition.model_validate({**condition.to_api(), "lastTransitionTime": "2030-01-01T00:00:00"})


MINIMAL_POLICY: dict[str, Any] = {"cameraSelector": {}}


def policy(**spec: Any) -> RecordingPolicy:
    return RecordingPolicy.model_validate({"metadata": {"name": "p"}, "spec": {**MINIMAL_POLICY, **spec}})


def test_null_means_absent_as_on_the_api_server() -> None:
    assert policy(retentionDays=None).spec.retention_days == 30
    assert policy(cameraSelector={"matchLabels": {"a": None, "b": "c"}}).spec.camera_selector.match_labels == {"b": "c"}
    with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
        policy(unexpected=None)


@pytest.mark.parametrize("value", ["300", True, 300.5, "5m"])
def test_numbers_are_numbers(value: Any) -> None:
    with pytest.raises(ValidationError, match="valid integer"):
        policy(segmentSeconds=value)


def test_a_whole_float_is_an_integer_as_in_json() -> None:
    assert policy(segmentSeconds=300.0).spec.segment_seconds == 300


@pytest.mark.parametrize("value", ["true", 1, "yes"])
def test_booleans_are_booleans(value: Any) -> None:
    with pytest.raises(ValidationError, match="valid boolean"):
        policy(requireEncryption=value)


def test_unknown_fields_are_refused_like_kubectl_strict_validation() -> None:
    with pytest.raises(ValidationError, match="retention_day"):
        policy(retention_day=30)


def test_times_need_a_zone() -> None:
    spec = SharingGrant.model_validate(by_kind("SharingGrant")[0]).spec
    assert spec.period.start.tzinfo is not None
    with pytest.raises(ValidationError, match="must be of type date-time with a time zone"):
        SharingGrant.model_validate(
            {
                **by_kind("SharingGrant")[0],
                "spec": {
                    **by_kind("SharingGrant")[0]["spec"],
                    "period": {"start": datetime(2030, 1, 1), "end": datetime(2030, 1, 2)},
                },
            }
        )


def test_examples_use_distinct_camera_names_per_namespace() -> None:
    counts = Counter((d["metadata"]["namespace"], d["metadata"]["name"]) for d in by_kind("Camera"))
    assert max(counts.values()) == 1
