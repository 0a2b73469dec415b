"""FootageExport on the real control plane and the real operator: it runs only after two approvals by two people who
did not ask for it (R15); a masked export's Job carries the camera's exact mask polygons; an unmasked one also needs
the classification authority and is audited; and none runs onto a storage class not marked encrypted (R17)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from camfleet.devcluster.cluster import LocalCluster
from camfleet.devcluster.operator_process import OperatorProcess
from tests.helpers import (
    CLASSIFICATION_GROUP,
    CLASSIFIER,
    DEPARTMENT_GROUP,
    as_user,
    audit_records,
    audited,
    condition,
    configure_authorities,
    create_as,
    events_for,
    get_json,
    wait_for,
)

ENCRYPTED = "camfleet-test-evidence-encrypted"
PLAIN = "camfleet-test-evidence-plain"
BALCONY = [{"left": 0.5, "top": 0.05}, {"left": 0.95, "top": 0.05}, {"left": 0.95, "top": 0.6},
           {"left": 0.85, "top": 0.6}, {"left": 0.85, "top": 0.2}, {"left": 0.5, "top": 0.2}]  # fmt: skip


@pytest.fixture(scope="module")
def storage_classes(cluster: LocalCluster) -> Iterator[None]:
    classes = [
        {
            "apiVersion": "storage.k8s.io/v1",
            "kind": "StorageClass",
            "metadata": {"name": name, "annotations": annotations},
            "provisioner": "camfleet.test/static",
            "volumeBindingMode": "Immediate",
        }
        for name, annotations in [(ENCRYPTED, {"camfleet.io/encrypted": "true"}), (PLAIN, {})]
    ]
    cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump_all(classes))
    yield
    cluster.kubectl("delete", "storageclass", ENCRYPTED, PLAIN, "--ignore-not-found")


def department_staff(namespace: str) -> list[dict[str, Any]]:
    """A department namespace whose people (its group) may request exports and record approvals, as themselves."""
    group = f"{DEPARTMENT_GROUP}{namespace}"
    return [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}},
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "Role",
            "metadata": {"name": "evidence-staff", "namespace": namespace},
            "rules": [
                {
                    "apiGroups": ["camfleet.io"],
                    "resources": ["grantapprovals", "footageexports"],
                    "verbs": ["create", "get"],
                }
            ],
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": {"name": "evidence-staff", "namespace": namespace},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "evidence-staff"},
            "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": group}],
        },
    ]


@pytest.fixture
def department(cluster: LocalCluster) -> Iterator[str]:
    name = f"police-{uuid.uuid4().hex[:6]}"
    objects: list[dict[str, Any]] = [
        *department_staff(name),
        {
            "apiVersion": "camfleet.io/v1alpha1",
            "kind": "Camera",
            "metadata": {"name": "lobby", "namespace": name},
            "spec": {
                "endpoint": "http://127.0.0.1:9/cam/lobby/onvif/device_service",
                "credentialsSecretRef": {"name": "lobby-onvif"},
                "site": "Station",
                "location": {"category": "transitStation", "description": "ticket hall"},
                "purpose": "public safety",
                "legalBasis": "city classification decision CLS-2030-01",
                "device": {"privacyMasks": [{"name": "flat-balcony", "polygon": BALCONY}]},
            },
        },
    ]
    cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump_all(objects))
    yield name
    cluster.kubectl("delete", "namespace", name, "--wait=false", check=False)


def export(namespace: str, name: str, mask_privacy: bool, storage_class: str = ENCRYPTED) -> dict[str, Any]:
    return {
        "apiVersion": "camfleet.io/v1alpha1",
        "kind": "FootageExport",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "cameras": ["lobby"],
            "ranges": [{"start": "2026-11-20T10:00:00+08:00", "end": "2026-11-20T10:30:00+08:00"}],
            "purpose": "Theft on platform 2",
            "caseReference": "SB-2026-1120-03",
            "maskPrivacy": mask_privacy,
            "storageClassName": storage_class,
        },
    }


def approval(namespace: str, target: str, name: str) -> dict[str, Any]:
    return {
        "apiVersion": "camfleet.io/v1alpha1",
        "kind": "GrantApproval",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"target": {"kind": "FootageExport", "name": target}, "verdict": "Approve"},
    }


def job(cluster: LocalCluster, namespace: str, name: str) -> dict[str, Any]:
    jobs = get_json(cluster, "jobs", "-n", namespace, "-l", f"camfleet.io/export={name}").get("items", [])
    return dict(jobs[0]) if jobs else {}


def completed(cluster: LocalCluster, namespace: str, name: str) -> dict[str, Any] | None:
    return condition(get_json(cluster, "footageexport", name, "-n", namespace), "Completed")


def test_a_masked_export_runs_after_two_approvals_with_the_cameras_exact_polygons(
    cluster: LocalCluster, operator: OperatorProcess, department: str, storage_classes: None
) -> None:
    assert as_user(cluster, "carol", department, export(department, "theft", mask_privacy=True)).returncode == 0
    assert as_user(cluster, "carol", department, approval(department, "theft", "carol-yes")).returncode == 0
    assert as_user(cluster, "alice", department, approval(department, "theft", "alice-yes")).returncode == 0
    pending = wait_for(
        lambda: (get_json(cluster, "footageexport", "theft", "-n", department).get("status") or {}).get("approvedBy"),
        what="alice's approval counted",
    )
    assert pending == ["alice"], "the requester's own approval never counts"
    assert job(cluster, department, "theft") == {}, "one approval is not enough to run"

    assert as_user(cluster, "bob", department, approval(department, "theft", "bob-yes")).returncode == 0
    created = wait_for(lambda: job(cluster, department, "theft"), what="the export Job")
    pod = created["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert container["command"] == ["camfleet", "export"]
    args = container["args"]
    assert "--mask-privacy" in args
    corners = ";".join(f"{p['left']:g},{p['top']:g}" for p in BALCONY)
    assert [args[i + 1] for i, arg in enumerate(args) if arg == "--privacy-mask"] == [f"flat-balcony:{corners}"]
    mounts = {m["name"]: m for m in container["volumeMounts"]}
    assert any(m.get("readOnly") for m in mounts.values()), "the recordings are mounted read-only"
    assert created["metadata"]["ownerReferences"][0]["kind"] == "FootageExport"
    claims = get_json(cluster, "pvc", "-n", department, "-l", "camfleet.io/export=theft").get("items", [])
    assert len(claims) == 1, "one export volume per camera"
    assert claims[0]["spec"]["storageClassName"] == ENCRYPTED
    status = get_json(cluster, "footageexport", "theft", "-n", department)["status"]
    assert sorted(status["approvedBy"]) == ["alice", "bob"]
    approved = condition({"status": status}, "Approved")
    assert approved is not None
    assert approved["status"] == "True"
    running = wait_for(lambda: completed(cluster, department, "theft"), what="Completed reported")
    assert running["reason"] == "Running"

    # Once started, the export is reported by its Job: the camera's deletion does not turn it into CameraNotFound.
    cluster.kubectl("delete", "camera", "lobby", "-n", department, "--timeout=60s")
    assert as_user(cluster, "dave", department, approval(department, "theft", "dave-yes")).returncode == 0
    wait_for(
        lambda: "dave" in get_json(cluster, "footageexport", "theft", "-n", department)["status"]["approvedBy"],
        what="the export judged again after the camera went",
    )
    after = completed(cluster, department, "theft")
    assert after is not None
    assert after["reason"] == "Running"


def test_an_unmasked_export_waits_for_the_classification_authority_and_is_audited(
    cluster: LocalCluster, operator: OperatorProcess, department: str, storage_classes: None
) -> None:
    configure_authorities(cluster)
    assert as_user(cluster, "carol", department, export(department, "plain", mask_privacy=False)).returncode == 0
    for person in ("alice", "bob"):
        assert as_user(cluster, person, department, approval(department, "plain", f"{person}-yes")).returncode == 0
    waiting = wait_for(
        lambda: (
            (c := condition(get_json(cluster, "footageexport", "plain", "-n", department), "Approved"))
            and c["reason"] == "AwaitingClassificationAuthority"
            and c
        ),
        what="the export to wait for the classification authority",
    )
    assert waiting["status"] == "Unknown"
    assert "maskPrivacy: false" in waiting["message"]
    assert "classification authority" in waiting["message"]
    assert job(cluster, department, "plain") == {}, "two approvals alone do not release unmasked footage"
    held = wait_for(
        lambda: [r for r in audit_records(operator.log_path, "ExportAwaitingClassificationAuthority")
                 if r["object"] == f"FootageExport {department}/plain"],
        what="the wait audited",
    )  # fmt: skip
    assert held[0]["maskPrivacy"] is False
    assert held[0]["approvedBy"] == ["alice", "bob"]

    authorization = approval(department, "plain", "classifier-yes")
    assert create_as(cluster, CLASSIFIER, [CLASSIFICATION_GROUP], authorization).returncode == 0
    created = wait_for(lambda: job(cluster, department, "plain"), what="the unmasked export Job")
    args = created["spec"]["template"]["spec"]["containers"][0]["args"]
    assert "--mask-privacy" not in args
    assert "--privacy-mask" not in args
    approved = condition(get_json(cluster, "footageexport", "plain", "-n", department), "Approved")
    assert approved is not None
    assert approved["status"] == "True"
    assert f"classification authority's approval by {CLASSIFIER}" in approved["message"]
    records = wait_for(
        lambda: [r for r in audit_records(operator.log_path, "ExportApproved")
                 if r["object"] == f"FootageExport {department}/plain"],
        what="the unmasked export's approval audited",
    )  # fmt: skip
    assert records[0]["maskPrivacy"] is False
    assert CLASSIFIER in records[0]["reason"]


def test_an_export_onto_an_unencrypted_storage_class_is_refused(
    cluster: LocalCluster, operator: OperatorProcess, department: str, storage_classes: None
) -> None:
    manifest = export(department, "unsafe", mask_privacy=True, storage_class=PLAIN)
    assert as_user(cluster, "carol", department, manifest).returncode == 0
    for person in ("alice", "bob"):
        assert as_user(cluster, person, department, approval(department, "unsafe", f"{person}-yes")).returncode == 0
    refused = wait_for(
        lambda: (
            (c := completed(cluster, department, "unsafe"))
            and c["reason"] == "StorageNotEncrypted"
            and (get_json(cluster, "footageexport", "unsafe", "-n", department)["status"].get("approvedBy") or [])
            == ["alice", "bob"]
            and c
        ),
        what="StorageNotEncrypted once approved",
    )
    assert refused["status"] == "False"
    assert PLAIN in refused["message"]
    assert "R17" in refused["message"]
    ready = condition(get_json(cluster, "footageexport", "unsafe", "-n", department), "Ready")
    assert ready is not None
    assert (ready["status"], ready["reason"]) == ("False", "StorageNotEncrypted")
    warning = wait_for(
        lambda: [e for e in events_for(cluster, department, "unsafe") if e["reason"] == "StorageNotEncrypted"],
        what="a StorageNotEncrypted Event",
    )
    assert warning[0]["type"] == "Warning"
    assert audited(operator, "ExportStorageNotEncrypted", f"FootageExport {department}/unsafe"), (
        "the refusal is audited"
    )
    assert job(cluster, department, "unsafe") == {}
    claims = get_json(cluster, "pvc", "-n", department, "-l", "camfleet.io/export=unsafe").get("items", [])
    assert claims == [], "nothing is written to an unencrypted volume"
