"""FootageExport on the real control plane: it runs only after two approvals by two people who did not ask for it
(R15), and one that must mask privacy areas is refused until masking exists (R17)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from camfleet.devcluster.cluster import LocalCluster
from camfleet.devcluster.operator_process import OperatorProcess
from tests.helpers import DEPARTMENT_GROUP, as_user, condition, get_json, wait_for


@pytest.fixture
def department(cluster: LocalCluster) -> Iterator[str]:
    name = f"police-{uuid.uuid4().hex[:6]}"
    group = f"{DEPARTMENT_GROUP}{name}"
    objects: list[dict[str, Any]] = [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}},
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "Role",
            "metadata": {"name": "evidence-staff", "namespace": name},
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
            "metadata": {"name": "evidence-staff", "namespace": name},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "evidence-staff"},
            "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": group}],
        },
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
            },
        },
    ]
    cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump_all(objects))
    yield name
    cluster.kubectl("delete", "namespace", name, "--wait=false", check=False)


def export(namespace: str, name: str, mask_privacy: bool) -> dict[str, Any]:
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


def test_export_runs_after_two_approvals_by_people_other_than_the_requester(
    cluster: LocalCluster, operator: OperatorProcess, department: str
) -> None:
    assert as_user(cluster, "carol", department, export(department, "theft", mask_privacy=False)).returncode == 0
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
    assert container["args"][:2] == ["export", "--source"] or "export" in container["command"] + container["args"]
    mounts = {m["name"]: m for m in container["volumeMounts"]}
    assert any(m.get("readOnly") for m in mounts.values()), "the recordings are mounted read-only"
    assert created["metadata"]["ownerReferences"][0]["kind"] == "FootageExport"
    claims = get_json(cluster, "pvc", "-n", department, "-l", "camfleet.io/export=theft").get("items", [])
    assert len(claims) == 1, "one export volume per camera"
    status = get_json(cluster, "footageexport", "theft", "-n", department)["status"]
    assert sorted(status["approvedBy"]) == ["alice", "bob"]
    approved = condition({"status": status}, "Approved")
    assert approved is not None
    assert approved["status"] == "True"


def test_an_export_that_must_mask_privacy_does_not_run(
    cluster: LocalCluster, operator: OperatorProcess, department: str
) -> None:
    assert as_user(cluster, "carol", department, export(department, "masked", mask_privacy=True)).returncode == 0
    for person in ("alice", "bob"):
        assert as_user(cluster, person, department, approval(department, "masked", f"{person}-yes")).returncode == 0
    refused = wait_for(
        lambda: (
            (c := condition(get_json(cluster, "footageexport", "masked", "-n", department), "Completed"))
            and c["reason"] == "MaskingUnavailable"
            and c
        ),
        what="MaskingUnavailable",
    )
    assert refused["status"] == "False"
    assert job(cluster, department, "masked") == {}
