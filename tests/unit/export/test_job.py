"""The export volume claim and Job built for one camera of a FootageExport."""

from __future__ import annotations

import copy
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from camfleet.api.camera import Camera, PrivacyMask
from camfleet.api.footage_export import FootageExport
from camfleet.export import cli
from camfleet.export.errors import EXIT_DESTINATION_CONFLICT, EXIT_SOURCE_BROKEN, EXIT_USAGE
from camfleet.export.job import (
    ExportJobSettings,
    camera_privacy_masks,
    expected_export_bytes,
    export_job,
    export_labels,
    export_object_name,
    export_objects,
    export_volume_claim,
    handed_over_claim_name,
)
from camfleet.recording import workloads
from tests.unit.recording_logic.test_workloads import CAMERA, POLICY

EXAMPLE = Path(__file__).parents[3] / "examples" / "70-footage-exports.yaml"
SETTINGS = ExportJobSettings(image="example/recorder:1")
GIB = 1024**3
DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


def body(**spec: Any) -> dict[str, Any]:
    """The example export; unmasked unless `maskPrivacy` is given (masked Jobs need the camera's masks)."""
    document = yaml.safe_load(EXAMPLE.read_text())
    document["metadata"]["uid"] = "uid-1"
    document["spec"].update({"maskPrivacy": False, **spec})
    return dict(document)


def export(**spec: Any) -> FootageExport:
    return FootageExport.model_validate(body(**spec))


def job(**kwargs: Any) -> dict[str, Any]:
    return export_job(export(), "taidong-street", "taidong-street-recordings", SETTINGS, **kwargs)


def pod(**kwargs: Any) -> dict[str, Any]:
    spec: dict[str, Any] = job(**kwargs)["spec"]["template"]["spec"]
    return spec


def container(**kwargs: Any) -> dict[str, Any]:
    containers: list[dict[str, Any]] = pod(**kwargs)["containers"]
    assert len(containers) == 1
    return containers[0]


def test_claim_and_job_share_the_deterministic_name() -> None:
    claim, built = export_objects(export(), "taidong-street", "taidong-street-recordings", GIB, SETTINGS)
    assert claim["metadata"]["name"] == built["metadata"]["name"] == "taidong-theft-case-0418-export"
    assert claim["metadata"]["namespace"] == built["metadata"]["namespace"] == "public-security"


def test_labels_name_the_manager_component_export_and_camera() -> None:
    expected = {
        "app.kubernetes.io/managed-by": "camfleet",
        "app.kubernetes.io/component": "footage-export",
        "camfleet.io/export": "taidong-theft-case-0418",
        "camfleet.io/camera": "taidong-street",
    }
    built = job()
    assert built["metadata"]["labels"] == expected
    assert built["spec"]["template"]["metadata"]["labels"] == expected
    assert export_volume_claim(export(), "taidong-street", GIB, SETTINGS)["metadata"]["labels"] == expected


def test_the_job_is_controlled_by_the_footage_export_and_kept_after_it_finishes() -> None:
    built = job()
    assert built["metadata"]["ownerReferences"] == [
        {"apiVersion": "camfleet.io/v1alpha1", "kind": "FootageExport", "name": "taidong-theft-case-0418",
         "uid": "uid-1", "controller": True, "blockOwnerDeletion": True}
    ]  # fmt: skip
    assert "ttlSecondsAfterFinished" not in built["spec"]


def test_the_evidence_volume_is_not_garbage_collected_with_the_request() -> None:
    assert "ownerReferences" not in export_volume_claim(export(), "taidong-street", GIB, SETTINGS)["metadata"]


def test_a_footage_export_without_uid_cannot_own_a_job() -> None:
    document = body()
    del document["metadata"]["uid"]
    with pytest.raises(ValueError, match="uid"):
        export_job(FootageExport.model_validate(document), "taidong-street", "v", SETTINGS)


def test_retries_are_few_deadline_is_set_and_permanent_failures_fail_at_once() -> None:
    spec = job()["spec"]
    assert spec["backoffLimit"] == 2
    assert spec["activeDeadlineSeconds"] == 6 * 3600
    fail_job, ignore = spec["podFailurePolicy"]["rules"]
    assert fail_job["action"] == "FailJob"
    assert fail_job["onExitCodes"] == {
        "containerName": "export",
        "operator": "In",
        "values": [EXIT_USAGE, EXIT_SOURCE_BROKEN, EXIT_DESTINATION_CONFLICT],
    }
    assert ignore == {"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget"}]}
    assert pod()["restartPolicy"] == "Never"  # a pod failure policy requires it


def test_the_retention_volume_is_mounted_read_only_and_the_export_volume_read_write() -> None:
    spec = pod()
    assert spec["volumes"] == [
        {"name": "recordings", "persistentVolumeClaim": {"claimName": "taidong-street-recordings", "readOnly": True}},
        {"name": "export", "persistentVolumeClaim": {"claimName": "taidong-theft-case-0418-export"}},
    ]
    assert container()["volumeMounts"] == [
        {"name": "recordings", "mountPath": "/recordings", "readOnly": True},
        {"name": "export", "mountPath": "/export"},
    ]


def test_the_pod_runs_restricted() -> None:
    spec = pod()
    assert spec["automountServiceAccountToken"] is False
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert spec["securityContext"]["runAsUser"] == 65532
    assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert spec["securityContext"]["fsGroupChangePolicy"] == "OnRootMismatch"
    security = container()["securityContext"]
    assert security == {
        "runAsNonRoot": True,
        "runAsUser": 65532,
        "allowPrivilegeEscalation": False,
        "privileged": False,
        "readOnlyRootFilesystem": True,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def test_the_result_is_read_from_the_termination_message_or_the_log_tail() -> None:
    built = container()
    assert built["terminationMessagePolicy"] == "FallbackToLogsOnError"
    assert built["terminationMessagePath"] == "/dev/termination-log"
    assert built["image"] == "example/recorder:1"
    assert built["command"] == ["camfleet", "export"]


def test_the_pod_must_run_beside_the_cameras_recorder() -> None:
    affinity = pod()["affinity"]
    assert affinity == {
        "podAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": [
                {
                    "labelSelector": {
                        "matchLabels": {
                            "app.kubernetes.io/managed-by": "camfleet",
                            "app.kubernetes.io/component": "recorder",
                            "camfleet.io/camera": "taidong-street",
                        }
                    },
                    "topologyKey": "kubernetes.io/hostname",
                }
            ]
        }
    }


def test_the_affinity_matches_the_labels_of_the_recorder_the_operator_builds() -> None:
    recorder = workloads.recorder(Camera.model_validate(CAMERA), POLICY, "rtsp://x/", 30, workloads.RecorderSettings())
    recorder_labels = recorder["spec"]["template"]["metadata"]["labels"]
    gate = export(cameras=["gate"])
    built = export_job(gate, "gate", "gate-recordings", SETTINGS)
    terms = built["spec"]["template"]["spec"]["affinity"]["podAffinity"][
        "requiredDuringSchedulingIgnoredDuringExecution"
    ]
    wanted = terms[0]["labelSelector"]["matchLabels"]
    assert wanted.items() <= recorder_labels.items()


def test_a_node_hint_is_a_preference_only() -> None:
    affinity = pod(node_name_hint="node-7")["affinity"]
    assert "podAffinity" in affinity
    assert affinity["nodeAffinity"] == {
        "preferredDuringSchedulingIgnoredDuringExecution": [
            {
                "weight": 100,
                "preference": {
                    "matchExpressions": [{"key": "kubernetes.io/hostname", "operator": "In", "values": ["node-7"]}]
                },
            }
        ]
    }


def test_without_a_recorder_the_pod_affinity_is_left_out() -> None:
    # A decommissioned camera's volume is kept under retention hold; requiring its recorder would never schedule.
    assert "affinity" not in pod(recorder_running=False)
    assert "podAffinity" not in pod(recorder_running=False, node_name_hint="node-7")["affinity"]


def test_args_carry_the_request_and_parse_back_into_it() -> None:
    args = container()["args"]
    request, paths, _, termination_log, _ = cli._parse(args, {})
    assert request.name == "taidong-theft-case-0418"
    assert request.camera == "taidong-street"
    assert request.case_reference == "SB-XS-2030-0418-07"
    start = datetime(2030, 4, 18, 11, 30, tzinfo=UTC).timestamp()  # 19:30 at +08:00
    assert [(r.start, r.end) for r in request.ranges] == [(start, start + 90 * 60)]
    assert (str(paths.source), str(paths.destination)) == ("/recordings", "/export/taidong-street")
    assert termination_log == "/dev/termination-log"


def test_dollar_signs_in_the_case_reference_are_escaped_from_kubernetes_expansion() -> None:
    built = export_job(export(caseReference="Case $(HOME) $x"), "taidong-street", "v", SETTINGS)
    args = built["spec"]["template"]["spec"]["containers"][0]["args"]
    assert args[args.index("--case-reference") + 1] == "Case $$(HOME) $$x"


def test_every_range_becomes_a_range_argument() -> None:
    ranges = [
        {"start": "2030-04-18T19:30:00+08:00", "end": "2030-04-18T21:00:00+08:00"},
        {"start": "2030-04-19T08:00:00Z", "end": "2030-04-19T09:00:00Z"},
    ]
    args = export_job(export(ranges=ranges), "taidong-street", "v", SETTINGS)["spec"]["template"]["spec"]["containers"][
        0
    ]["args"]
    assert [args[i + 1] for i, arg in enumerate(args) if arg == "--range"] == [
        "2030-04-18T19:30:00+08:00/2030-04-18T21:00:00+08:00",
        "2030-04-19T08:00:00+00:00/2030-04-19T09:00:00+00:00",
    ]


def test_a_camera_the_export_does_not_ask_for_is_refused() -> None:
    with pytest.raises(ValueError, match="not one the FootageExport asks for"):
        export_job(export(), "other-camera", "v", SETTINGS)


def test_several_cameras_get_one_job_and_volume_each() -> None:
    several = export(cameras=["taidong-street", "zhongshan-road"])
    assert export_object_name(several, "taidong-street") == "taidong-theft-case-0418-taidong-street-export"
    assert export_object_name(several, "zhongshan-road") == "taidong-theft-case-0418-zhongshan-road-export"


def test_long_names_are_shortened_deterministically_to_a_valid_job_name() -> None:
    document = body()
    document["metadata"]["name"] = "case-" + "x" * 120 + ".part-2"
    long_export = FootageExport.model_validate(document)
    name = export_object_name(long_export, "taidong-street")
    assert len(name) <= 63
    assert DNS_SUBDOMAIN.match(name)
    assert name == export_object_name(copy.deepcopy(long_export), "taidong-street")
    built = export_job(long_export, "taidong-street", "v", SETTINGS)
    assert built["metadata"]["name"] == name
    assert len(built["metadata"]["labels"]["camfleet.io/export"]) <= 63


@pytest.mark.parametrize(
    ("expected_bytes", "storage"),
    [(0, "1Gi"), (1, "1Gi"), (GIB * 10 // 12, "1Gi"), (GIB, "2Gi"), (10 * GIB, "12Gi"), (100 * GIB + 1, "121Gi")],
)
def test_claim_size_is_the_expected_bytes_plus_headroom_rounded_up_to_gib(expected_bytes: int, storage: str) -> None:
    claim = export_volume_claim(export(), "taidong-street", expected_bytes, SETTINGS)
    assert claim["spec"]["resources"] == {"requests": {"storage": storage}}
    assert claim["spec"]["accessModes"] == ["ReadWriteOnce"]


def test_storage_class_comes_from_the_export_then_the_operator_setting_then_the_cluster_default() -> None:
    with_default = ExportJobSettings(storage_class="encrypted-ssd")
    unnamed = export(storageClassName=None)
    assert "storageClassName" not in export_volume_claim(unnamed, "taidong-street", GIB, SETTINGS)["spec"]
    assert export_volume_claim(unnamed, "taidong-street", GIB, with_default)["spec"]["storageClassName"] == (
        "encrypted-ssd"
    )
    chosen = export(storageClassName="evidence-vault")
    assert export_volume_claim(chosen, "taidong-street", GIB, with_default)["spec"]["storageClassName"] == (
        "evidence-vault"
    )


def test_expected_bytes_count_overlapping_ranges_once() -> None:
    ranges = [
        {"start": "2030-04-18T10:00:00Z", "end": "2030-04-18T11:00:00Z"},
        {"start": "2030-04-18T10:30:00Z", "end": "2030-04-18T11:30:00Z"},
    ]
    # 90 minutes at 4000 kbit/s = 5400 s x 500 000 bytes/s
    assert expected_export_bytes(export(ranges=ranges), 4000) == 5400 * 500_000


def test_the_approvers_the_operator_recorded_go_into_the_manifest() -> None:
    document = body()
    document["status"] = {"approvedBy": ["alice@police.example", "bob$1@police.example"]}
    built = export_job(FootageExport.model_validate(document), "taidong-street", "v", SETTINGS)
    args = built["spec"]["template"]["spec"]["containers"][0]["args"]
    assert [args[i + 1] for i, arg in enumerate(args) if arg == "--approved-by"] == [
        "alice@police.example",
        "bob$$1@police.example",
    ]
    request, *_ = cli._parse([arg.replace("$$", "$") for arg in args], {})
    assert request.approved_by == ("alice@police.example", "bob$1@police.example")


def mask(name: str, *corners: tuple[float, float]) -> PrivacyMask:
    return PrivacyMask.model_validate({"name": name, "polygon": [{"left": x, "top": y} for x, y in corners]})


MASKS = [
    mask("flat-windows", (0.5, 0.1), (0.9, 0.1), (0.9, 0.4)),
    mask("yard", (0.1, 0.6), (0.3, 0.6), (0.3, 0.9), (0.1, 0.9)),
]


def test_a_masked_export_carries_the_cameras_exact_polygons_and_they_parse_back() -> None:
    masked = export(maskPrivacy=True)
    args = export_job(masked, "taidong-street", "v", SETTINGS, masks=MASKS)["spec"]["template"]["spec"]["containers"][
        0
    ]["args"]
    assert "--mask-privacy" in args
    assert [args[i + 1] for i, arg in enumerate(args) if arg == "--privacy-mask"] == [
        "flat-windows:0.5,0.1;0.9,0.1;0.9,0.4",
        "yard:0.1,0.6;0.3,0.6;0.3,0.9;0.1,0.9",
    ]
    request, *_ = cli._parse(args, {})
    assert request.privacy_masks is not None
    assert [(p.name, p.vertices) for p in request.privacy_masks] == [
        ("flat-windows", ((0.5, 0.1), (0.9, 0.1), (0.9, 0.4))),
        ("yard", ((0.1, 0.6), (0.3, 0.6), (0.3, 0.9), (0.1, 0.9))),
    ]


def test_a_masked_export_never_runs_without_knowing_the_masks() -> None:
    with pytest.raises(ValueError, match="privacy masks"):
        export_job(export(maskPrivacy=True), "taidong-street", "v", SETTINGS)
    none_configured = export_job(export(maskPrivacy=True), "taidong-street", "v", SETTINGS, masks=[])
    args = none_configured["spec"]["template"]["spec"]["containers"][0]["args"]
    assert "--mask-privacy" in args
    assert "--privacy-mask" not in args
    request, *_ = cli._parse(args, {})
    assert request.privacy_masks == ()
    assert not request.masking


def test_an_unmasked_export_passes_no_masks_and_reencodes_nothing() -> None:
    args = container()["args"]
    assert "--mask-privacy" not in args
    assert "--privacy-mask" not in args
    request, *_ = cli._parse(args, {})
    assert request.privacy_masks is None


def test_a_masked_copy_gets_room_and_memory_to_reencode() -> None:
    masked = export(maskPrivacy=True)
    claim = export_volume_claim(masked, "taidong-street", 10 * GIB, SETTINGS)
    assert claim["spec"]["resources"] == {"requests": {"storage": "18Gi"}}  # 10 GiB x 1.5 x 1.2
    built = export_job(masked, "taidong-street", "v", SETTINGS, masks=MASKS)
    assert built["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]["memory"] == "1Gi"
    # 90 minutes of footage: 4 s of encoding per second on top of the copy's 6 hours
    assert built["spec"]["activeDeadlineSeconds"] == 6 * 3600 + 4 * 90 * 60
    assert job()["spec"]["activeDeadlineSeconds"] == 6 * 3600, "an unmasked copy re-encodes nothing"


def test_the_camera_body_gives_the_masks_and_an_unknown_camera_none() -> None:
    camera = {"spec": {"device": {"privacyMasks": [mask.to_api() for mask in MASKS]}}}
    assert camera_privacy_masks(camera) == MASKS
    assert camera_privacy_masks({"spec": {}}) == []
    assert camera_privacy_masks(None) is None


def test_a_mask_without_mask_privacy_is_a_usage_error() -> None:
    args = [*container()["args"], "--privacy-mask", "x:0,0;1,0;1,1"]
    with pytest.raises(cli.UsageError, match="needs --mask-privacy"):
        cli._parse(args, {})


def test_an_extraction_stages_in_the_owners_namespace_and_lands_under_the_requesters_own_name() -> None:
    extraction = export(sourceNamespace="transport", documentReference="DOC-1")
    claim, built = export_objects(extraction, "taidong-street", "taidong-street-recordings", GIB, SETTINGS)
    staging = "public-security-taidong-theft-case-0418-export"
    assert claim["metadata"]["name"] == built["metadata"]["name"] == staging
    assert claim["metadata"]["namespace"] == built["metadata"]["namespace"] == "transport"
    assert handed_over_claim_name(extraction, "taidong-street") == "taidong-theft-case-0418-export"
    assert handed_over_claim_name(extraction, "taidong-street") == export_object_name(export(), "taidong-street")
    labels = export_labels(extraction, "taidong-street")
    assert labels["camfleet.io/export-namespace"] == "public-security"
    assert labels["camfleet.io/source-namespace"] == "transport"
    assert claim["metadata"]["labels"] == built["metadata"]["labels"] == labels
    assert "ownerReferences" not in built["metadata"], "no ownerReference across namespaces"


def test_a_grouped_camera_is_exported_from_its_own_directory_of_the_group_volume_beside_the_group_pod() -> None:
    built = export_job(export(), "taidong-street", "city-rg-0-recordings", SETTINGS, group="city-rg-0")
    spec = built["spec"]["template"]["spec"]
    assert spec["volumes"][0]["persistentVolumeClaim"] == {"claimName": "city-rg-0-recordings", "readOnly": True}
    mount = next(m for m in spec["containers"][0]["volumeMounts"] if m["name"] == "recordings")
    assert mount["subPath"] == "taidong-street"
    assert mount["readOnly"] is True
    term = spec["affinity"]["podAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"][0]
    assert term["labelSelector"]["matchLabels"][workloads.COMPONENT_LABEL] == "recorder-group"
    assert term["labelSelector"]["matchLabels"]["camfleet.io/recorder-group"] == "city-rg-0"
    # A camera on a volume of its own mounts the whole volume, as before.
    own = next(m for m in container()["volumeMounts"] if m["name"] == "recordings")
    assert "subPath" not in own
