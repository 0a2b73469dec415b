"""Extraction by level (R13) on the real control plane and the real operator: a level-2 department exports another
department's camera only after the owner's two approvals, given in the owner's namespace, and its copy Job then runs
beside the footage in the owner's namespace; level 2 is refused a restricted zone and level 3 is refused outright
(each with a Stalled condition naming the reason and a Warning Event); the API server refuses an extraction without
a document reference; and the document reference is in the audit trail.

The copy lands in the requester's namespace: once the Job has succeeded the operator hands its volume over (the
real PV binder of kube-controller-manager binds the requester's claim), and withdrawing an unfinished extraction
clears the owner's namespace of its Job and staging claim. kwok has no storage provisioner, so the tests create the
PersistentVolumes a provisioner would (as tests/integration/test_recording.py does); the Job's pod is completed
by kwok's pod stages (the kubelet's part) and the Job by the real Job controller."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import yaml

from camfleet.devcluster.chart import Chart
from camfleet.devcluster.cluster import LocalCluster
from camfleet.devcluster.operator_process import OperatorProcess
from tests.helpers import DEPARTMENT_GROUP, as_user, audit_records, audited, condition, events_for, get_json, wait_for
from tests.integration.conftest import REPO
from tests.integration.test_exports import department_staff

ENCRYPTED = "camfleet-test-extraction-encrypted"
DOCUMENT = "QD-PSB-EXTRACT-2026-118"


def _camera(namespace: str, name: str, security_level: str) -> dict[str, Any]:
    return {
        "apiVersion": "camfleet.io/v1alpha1",
        "kind": "Camera",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "endpoint": f"http://127.0.0.1:9/cam/{name}/onvif/device_service",
            "credentialsSecretRef": {"name": f"{name}-onvif"},
            "site": "Harbour",
            "location": {"category": "transitStation", "description": name},
            "purpose": "public safety",
            "legalBasis": "city classification decision CLS-2030-01",
            "securityLevel": security_level,
        },
    }


def _tier(name: str, level: int, department: str) -> dict[str, Any]:
    now = datetime.now(UTC).replace(microsecond=0)
    window = {
        "absolute": {"start": (now - timedelta(hours=1)).isoformat(), "end": (now + timedelta(hours=2)).isoformat()}
    }
    return {
        "apiVersion": "camfleet.io/v1alpha1",
        "kind": "AccessTier",
        "metadata": {"name": name},
        "spec": {"level": level, "subjects": [{"department": department, "windows": [window]}]},
    }


@pytest.fixture
def departments(cluster: LocalCluster) -> Iterator[tuple[str, str, str]]:
    """(owner, level-2 department, level-3 department); the owner has a standard and a restricted-zone camera."""
    suffix = uuid.uuid4().hex[:6]
    owner, second, third = f"harbour-{suffix}", f"cid-{suffix}", f"traffic-{suffix}"
    objects = [*department_staff(owner), *department_staff(second), *department_staff(third)]
    objects += [_camera(owner, "quay", "Standard"), _camera(owner, "armoury", "Restricted")]
    objects += [_tier(f"level-2-{suffix}", 2, second), _tier(f"level-3-{suffix}", 3, third)]
    objects.append(
        {
            "apiVersion": "storage.k8s.io/v1",
            "kind": "StorageClass",
            "metadata": {"name": ENCRYPTED, "annotations": {"camfleet.io/encrypted": "true"}},
            "provisioner": "camfleet.test/static",
            "volumeBindingMode": "Immediate",
        }
    )
    cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump_all(objects))
    yield owner, second, third
    cluster.kubectl("delete", "accesstier", f"level-2-{suffix}", f"level-3-{suffix}", "--ignore-not-found")
    cluster.kubectl("delete", "namespace", owner, second, third, "--wait=false", check=False)


def extraction(namespace: str, name: str, owner: str, camera: str, document: str | None = DOCUMENT) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "sourceNamespace": owner,
        "cameras": [camera],
        "ranges": [{"start": "2026-11-20T10:00:00+08:00", "end": "2026-11-20T10:30:00+08:00"}],
        "purpose": "Smuggling investigation at the quay",
        "caseReference": "CID-2026-1120-07",
        "storageClassName": ENCRYPTED,
    }
    if document is not None:
        spec["documentReference"] = document
    return {"apiVersion": "camfleet.io/v1alpha1", "kind": "FootageExport",
            "metadata": {"name": name, "namespace": namespace}, "spec": spec}  # fmt: skip


def owner_approval(owner: str, requester: str, target: str, name: str) -> dict[str, Any]:
    return {
        "apiVersion": "camfleet.io/v1alpha1",
        "kind": "GrantApproval",
        "metadata": {"name": name, "namespace": owner},
        "spec": {"target": {"kind": "FootageExport", "namespace": requester, "name": target}, "verdict": "Approve"},
    }


def jobs(cluster: LocalCluster, namespace: str, export: str) -> list[dict[str, Any]]:
    found = get_json(cluster, "jobs", "-n", namespace, "-l", f"camfleet.io/export={export}").get("items", [])
    return list(found)


def completed(cluster: LocalCluster, namespace: str, name: str) -> dict[str, Any] | None:
    return condition(get_json(cluster, "footageexport", name, "-n", namespace), "Completed")


def test_level_2_extracts_another_departments_camera_after_the_owners_two_approvals(
    cluster: LocalCluster, operator: OperatorProcess, departments: tuple[str, str, str]
) -> None:
    owner, second, _ = departments
    without = as_user(cluster, "carol", second, extraction(second, "no-document", owner, "quay", document=None))
    assert without.returncode != 0, "the API server refuses an extraction without a document reference"
    assert "documentReference" in without.stderr
    assert "R13" in without.stderr

    assert as_user(cluster, "carol", second, extraction(second, "quay-case", owner, "quay")).returncode == 0
    waiting = wait_for(
        lambda: (c := condition(get_json(cluster, "footageexport", "quay-case", "-n", second), "Ready"))
        and c["reason"] == "AwaitingApproval" and c,
        what="the extraction waiting for approvals",
    )  # fmt: skip
    assert waiting["status"] == "True"
    # An approval given in the requester's own namespace is not the owner's: it never counts.
    inside = {**owner_approval(owner, second, "quay-case", "dave-yes"), "metadata": {"name": "dave-yes",
              "namespace": second}}  # fmt: skip
    inside["spec"]["target"].pop("namespace")
    assert as_user(cluster, "dave", second, inside).returncode == 0
    assert as_user(cluster, "alice", owner, owner_approval(owner, second, "quay-case", "alice-yes")).returncode == 0
    first = wait_for(
        lambda: (get_json(cluster, "footageexport", "quay-case", "-n", second).get("status") or {}).get("approvedBy"),
        what="the owner's first approval counted",
    )
    assert first == ["alice"], "only approvals from the owner's namespace count"
    assert jobs(cluster, owner, "quay-case") == [], "one owner approval is not enough"
    approved = condition(get_json(cluster, "footageexport", "quay-case", "-n", second), "Approved")
    assert approved is not None
    assert "only the camera owner's department" in approved["message"]

    assert as_user(cluster, "bob", owner, owner_approval(owner, second, "quay-case", "bob-yes")).returncode == 0
    created = wait_for(lambda: jobs(cluster, owner, "quay-case"), what="the copy Job in the owner's namespace")
    job = created[0]
    assert job["metadata"]["labels"]["camfleet.io/export-namespace"] == second
    volumes = {v["name"]: v for v in job["spec"]["template"]["spec"]["volumes"]}
    assert volumes["recordings"]["persistentVolumeClaim"]["readOnly"] is True, "the owner's footage is read-only"
    assert jobs(cluster, second, "quay-case") == [], "no Job in the requester's namespace: the footage is not there"
    status = wait_for(
        lambda: (s := get_json(cluster, "footageexport", "quay-case", "-n", second).get("status") or {})
        .get("volumeNamespace") and s,
        what="the copy reported into the requester's export",
    )  # fmt: skip
    assert status["volumeNamespace"] == owner
    assert sorted(status["approvedBy"]) == ["alice", "bob"]
    running = wait_for(lambda: completed(cluster, second, "quay-case"), what="Completed reported")
    assert running["reason"] in ("Running", "Completed")

    records = wait_for(
        lambda: [r for r in audit_records(operator.log_path, "ExportApproved")
                 if r["object"] == f"FootageExport {second}/quay-case"],
        what="the approval audited",
    )  # fmt: skip
    assert records[0]["documentReference"] == DOCUMENT
    assert records[0]["sourceNamespace"] == owner
    assert records[0]["requesterLevel"] == 2
    pending = audited(operator, "ExportPending", f"FootageExport {second}/quay-case")
    assert pending[0]["documentReference"] == DOCUMENT


def test_level_2_is_refused_a_restricted_zone_and_level_3_is_refused(
    cluster: LocalCluster, operator: OperatorProcess, departments: tuple[str, str, str]
) -> None:
    owner, second, third = departments
    assert as_user(cluster, "carol", second, extraction(second, "armoury-case", owner, "armoury")).returncode == 0
    assert as_user(cluster, "erin", third, extraction(third, "quay-case", owner, "quay")).returncode == 0
    for person in ("alice", "bob"):
        for requester, name in ((second, "armoury-case"), (third, "quay-case")):
            manifest = owner_approval(owner, requester, name, f"{person}-{requester}")
            assert as_user(cluster, person, owner, manifest).returncode == 0
    for requester, name, reason in ((second, "armoury-case", "RestrictedZone"), (third, "quay-case",
                                                                                "NoExtractionLevel")):  # fmt: skip
        refused = wait_for(
            lambda r=requester, n=name, why=reason: (
                (c := completed(cluster, r, n))
                and c["reason"] == why
                and len(get_json(cluster, "footageexport", n, "-n", r)["status"].get("approvedBy") or []) == 2
                and c
            ),
            what=f"{reason} for {requester}/{name} with both approvals counted",
        )
        assert refused["status"] == "False"
        assert "R13" in refused["message"]
        stalled = condition(get_json(cluster, "footageexport", name, "-n", requester), "Stalled")
        assert stalled is not None
        assert (stalled["status"], stalled["reason"]) == ("True", reason)
        warning = wait_for(
            lambda r=requester, n=name, why=reason: [e for e in events_for(cluster, r, n) if e["reason"] == why],
            what=f"a {reason} Event",
        )
        assert warning[0]["type"] == "Warning"
        records = audited(operator, f"Export{reason}", f"FootageExport {requester}/{name}")
        assert records[0]["documentReference"] == DOCUMENT
        assert jobs(cluster, owner, name) == [], "a refused extraction never runs"
    level_3 = completed(cluster, third, "quay-case")
    assert level_3 is not None
    assert "holds level 3" in level_3["message"]


def test_a_level_held_only_in_a_later_window_is_refused_until_the_window_opens(
    cluster: LocalCluster, operator: OperatorProcess, departments: tuple[str, str, str]
) -> None:
    owner, _, third = departments
    opens = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=20)
    window = {"absolute": {"start": opens.isoformat(), "end": (opens + timedelta(hours=1)).isoformat()}}
    later = {
        "apiVersion": "camfleet.io/v1alpha1",
        "kind": "AccessTier",
        "metadata": {"name": f"later-level-2-{third}"},
        "spec": {"level": 2, "subjects": [{"department": third, "windows": [window]}]},
    }
    cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump(later))
    try:
        assert as_user(cluster, "erin", third, extraction(third, "early", owner, "quay")).returncode == 0
        refused = wait_for(
            lambda: (c := completed(cluster, third, "early")) and c["reason"] == "OutsideTierWindow" and c,
            what="OutsideTierWindow before the window opens",
        )
        assert "R14" in refused["message"]
        assert datetime.now(UTC) < opens, "refused while the window was still closed"
        opened = wait_for(
            lambda: (c := condition(get_json(cluster, "footageexport", "early", "-n", third), "Ready"))
            and c["reason"] == "AwaitingApproval" and c,
            what="the extraction admitted once the window opened",
            timeout=60,
        )  # fmt: skip
        assert opened["status"] == "True"
        assert datetime.now(UTC) >= opens
    finally:
        cluster.kubectl("delete", "accesstier", f"later-level-2-{third}", "--ignore-not-found")


def provisioned_volume(name: str, namespace: str, claim: str, reclaim: str) -> dict[str, Any]:
    """The PersistentVolume a provisioner would make for `namespace/claim` (kwok has none): pre-bound to it."""
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolume",
        "metadata": {"name": name},
        "spec": {
            "capacity": {"storage": "20Gi"},
            "accessModes": ["ReadWriteOnce"],
            "storageClassName": ENCRYPTED,
            "persistentVolumeReclaimPolicy": reclaim,
            "hostPath": {"path": f"/var/lib/camfleet-test/{name}"},
            "claimRef": {"namespace": namespace, "name": claim},
        },
    }


@pytest.fixture
def made_volumes(cluster: LocalCluster) -> Iterator[list[str]]:
    """PersistentVolumes a test made (cluster-scoped: its namespaces' deletion leaves them), deleted after it."""
    made: list[str] = []
    yield made
    if made:
        cluster.kubectl("delete", "pv", *made, "--ignore-not-found", "--wait=false", check=False)


def retention_volume(cluster: LocalCluster, owner: str) -> dict[str, Any]:
    """The owner's retention volume of the quay camera, Bound (the copy Job mounts it read-only)."""
    claim = {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": "quay-recordings", "namespace": owner},
        "spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": ENCRYPTED,
                 "resources": {"requests": {"storage": "10Gi"}}},
    }  # fmt: skip
    volume = provisioned_volume(f"retention-{owner}", owner, "quay-recordings", "Retain")
    cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump_all([volume, claim]))
    return wait_for(
        lambda: (c := get_json(cluster, "pvc", "quay-recordings", "-n", owner)).get("status", {}).get("phase")
        == "Bound" and c,
        what="the retention volume Bound",
    )  # fmt: skip


def approve(cluster: LocalCluster, owner: str, requester: str, export: str) -> None:
    for person in ("alice", "bob"):
        manifest = owner_approval(owner, requester, export, f"{person}-{export}")
        assert as_user(cluster, person, owner, manifest).returncode == 0


def department_viewers(cluster: LocalCluster, namespace: str) -> None:
    """The chart's department roles, its viewer role bound to the department's group in its namespace."""
    chart = Chart(directory=REPO / "charts" / "camfleet")
    rendered = chart.run(
        "template", "camfleet", str(chart.directory), "--namespace", "camfleet-system",
        "-s", "templates/user-roles.yaml", "--set", f"departments[0].namespace={namespace}",
        "--set", f"departments[0].viewerGroups={{{DEPARTMENT_GROUP}{namespace}}}",
    )  # fmt: skip
    objects = [doc for doc in yaml.safe_load_all(rendered) if doc]
    cluster.kubectl("apply", "--server-side", "--force-conflicts", "--field-manager=helm-extraction-test", "-f", "-",
                    input=yaml.safe_dump_all(objects))  # fmt: skip


def test_the_copy_lands_in_the_requesters_namespace_and_outlives_the_request(
    cluster: LocalCluster, operator: OperatorProcess, departments: tuple[str, str, str], made_volumes: list[str]
) -> None:
    owner, second, _ = departments
    staging, landed, volume = f"{second}-quay-landing-export", "quay-landing-export", f"export-{second}"
    made_volumes += [f"retention-{owner}", volume]
    retention = retention_volume(cluster, owner)
    # Provisioned as a cloud provisioner does: reclaim policy Delete, which the handover must change to Retain.
    cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump(provisioned_volume(volume, owner, staging, "Delete")))
    assert as_user(cluster, "carol", second, extraction(second, "quay-landing", owner, "quay")).returncode == 0
    approve(cluster, owner, second, "quay-landing")

    done = wait_for(
        lambda: (c := completed(cluster, second, "quay-landing")) and c["reason"] == "VolumeHandedOver" and c,
        what="the copy handed over to the requester's namespace", timeout=120,
    )  # fmt: skip
    assert done["status"] == "True"
    assert f"{second}/{landed}" in done["message"]
    claim = get_json(cluster, "pvc", landed, "-n", second)
    assert claim["status"]["phase"] == "Bound", "bound by the real PV binder"
    assert claim["spec"]["volumeName"] == volume, "the same volume: nothing was copied again"
    assert "ownerReferences" not in claim["metadata"]
    labels = claim["metadata"]["labels"]
    assert (labels["camfleet.io/export"], labels["camfleet.io/source-namespace"]) == ("quay-landing", owner)
    pv = get_json(cluster, "pv", volume)
    assert pv["spec"]["persistentVolumeReclaimPolicy"] == "Retain"
    assert (pv["spec"]["claimRef"]["namespace"], pv["spec"]["claimRef"]["name"]) == (second, landed)
    assert pv["spec"]["claimRef"]["uid"] == claim["metadata"]["uid"]
    wait_for(lambda: not get_json(cluster, "pvc", staging, "-n", owner), what="the staging claim gone")
    wait_for(lambda: not jobs(cluster, owner, "quay-landing"), what="the owner-side Job gone")
    status = get_json(cluster, "footageexport", "quay-landing", "-n", second)["status"]
    assert (status["persistentVolumeClaim"], status["volumeNamespace"]) == (landed, second)
    assert status["completedTime"]
    handed = wait_for(
        lambda: [e for e in events_for(cluster, second, "quay-landing") if e["reason"] == "VolumeHandedOver"],
        what="a VolumeHandedOver Event",
    )
    assert handed[0]["type"] == "Normal"
    records = audited(operator, "ExportVolumeHandedOver", f"FootageExport {second}/quay-landing")
    assert records[0]["documentReference"] == DOCUMENT

    # The requester's staff find the copy in their own namespace, through the chart's department viewer role.
    department_viewers(cluster, second)
    carol = ["--as=carol", f"--as-group={DEPARTMENT_GROUP}{second}", "--as-group=system:authenticated"]
    seen = cluster.kubectl("get", "pvc", landed, "-n", second, "-o", "jsonpath={.spec.volumeName}", *carol, check=False)
    assert (seen.returncode, seen.stdout) == (0, volume), seen.stderr

    # The request goes; the evidence stays.
    cluster.kubectl("delete", "footageexport", "quay-landing", "-n", second, "--timeout=60s")
    kept = get_json(cluster, "pvc", landed, "-n", second)
    assert (kept["status"]["phase"], kept["spec"]["volumeName"]) == ("Bound", volume)
    assert get_json(cluster, "pvc", "quay-recordings", "-n", owner)["metadata"]["uid"] == retention["metadata"]["uid"]


def test_withdrawing_an_unfinished_extraction_clears_the_owners_namespace(
    cluster: LocalCluster, operator: OperatorProcess, departments: tuple[str, str, str], made_volumes: list[str]
) -> None:
    owner, second, _ = departments
    made_volumes.append(f"retention-{owner}")
    retention = retention_volume(cluster, owner)
    staging = f"{second}-quay-withdrawn-export"
    # No volume for the staging claim: it stays Pending, so the copy's pod is never scheduled and never finishes.
    assert as_user(cluster, "carol", second, extraction(second, "quay-withdrawn", owner, "quay")).returncode == 0
    approve(cluster, owner, second, "quay-withdrawn")
    wait_for(lambda: jobs(cluster, owner, "quay-withdrawn"), what="the copy Job in the owner's namespace")
    assert get_json(cluster, "pvc", staging, "-n", owner)["status"]["phase"] == "Pending"
    export = get_json(cluster, "footageexport", "quay-withdrawn", "-n", second)
    assert "camfleet.io/finalizer" in export["metadata"].get("finalizers", []), "held until the owner side is cleared"

    cluster.kubectl("delete", "footageexport", "quay-withdrawn", "-n", second, "--timeout=60s")
    assert not get_json(cluster, "footageexport", "quay-withdrawn", "-n", second)
    assert not jobs(cluster, owner, "quay-withdrawn"), "the owner-side Job is deleted"
    wait_for(lambda: not get_json(cluster, "pvc", staging, "-n", owner), what="the staging claim deleted")
    assert not get_json(cluster, "pvc", "quay-withdrawn-export", "-n", second), "nothing was handed over"
    kept = get_json(cluster, "pvc", "quay-recordings", "-n", owner)
    assert (kept["metadata"]["uid"], kept["status"]["phase"]) == (retention["metadata"]["uid"], "Bound")
    assert not kept["metadata"].get("deletionTimestamp"), "the owner's recordings are untouched"


def test_a_claim_that_is_not_camfleets_stops_the_handover_until_it_goes_and_nothing_is_lost(
    cluster: LocalCluster, operator: OperatorProcess, departments: tuple[str, str, str], made_volumes: list[str]
) -> None:
    owner, second, _ = departments
    staging, landed, volume = f"{second}-quay-squat-export", "quay-squat-export", f"export-{second}"
    made_volumes += [f"retention-{owner}", volume]
    retention_volume(cluster, owner)
    cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump(provisioned_volume(volume, owner, staging, "Delete")))
    # Someone's own claim under the name the copy would land as: never bound to the evidence, never deleted.
    squatter = {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": landed, "namespace": second},
                "spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": ENCRYPTED,
                         "resources": {"requests": {"storage": "1Gi"}}}}  # fmt: skip
    cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump(squatter))
    assert as_user(cluster, "carol", second, extraction(second, "quay-squat", owner, "quay")).returncode == 0
    approve(cluster, owner, second, "quay-squat")

    failed = wait_for(
        lambda: (c := completed(cluster, second, "quay-squat")) and c["reason"] == "HandoverFailed" and c,
        what="HandoverFailed while the claim is not camfleet's", timeout=120,
    )  # fmt: skip
    assert "not camfleet's" in failed["message"]
    stalled = condition(get_json(cluster, "footageexport", "quay-squat", "-n", second), "Stalled")
    assert stalled is not None
    assert (stalled["status"], stalled["reason"]) == ("True", "HandoverFailed")
    warning = wait_for(
        lambda: [e for e in events_for(cluster, second, "quay-squat") if e["reason"] == "HandoverFailed"],
        what="a HandoverFailed Event",
    )
    assert warning[0]["type"] == "Warning"
    pv = get_json(cluster, "pv", volume)
    assert pv["spec"]["claimRef"]["name"] == staging, "the copy stays bound to the staging claim"
    assert pv["spec"]["persistentVolumeReclaimPolicy"] == "Retain", "and is kept whatever happens to that claim"
    assert get_json(cluster, "pvc", staging, "-n", owner)["status"]["phase"] == "Bound"
    assert "volumeName" not in get_json(cluster, "pvc", landed, "-n", second)["spec"], "the squatter is not touched"

    # Its owner removes the claim: the retry (with backoff) hands the copy over.
    cluster.kubectl("delete", "pvc", landed, "-n", second, "--timeout=60s")
    done = wait_for(
        lambda: (c := completed(cluster, second, "quay-squat")) and c["reason"] == "VolumeHandedOver" and c,
        what="the handover finished after the claim went", timeout=120,
    )  # fmt: skip
    assert done["status"] == "True"
    assert get_json(cluster, "pvc", landed, "-n", second)["spec"]["volumeName"] == volume
