"""Issues 7 and 18 on the real control plane: kstatus and the Argo CD health checks judge objects the real operator
wrote as the table in docs/gitops/README.md says.

The objects are read back from the API server exactly as Flux and Argo CD would see them; each is checked against
its documented row (tests/unit/test_health_table.py `check`): its Ready, Reconciling and Stalled conditions, what
kstatus says (the real cli-utils library, tools/kstatus) and what the Lua script of docs/gitops/argocd-health/
says in a Lua 5.1 interpreter.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from camfleet.devcluster.cluster import LocalCluster
from camfleet.devcluster.example_fleet import LOCAL_STORAGE_CLASS, encrypted_storage_class, load_manifests
from camfleet.devcluster.kstatus_build import ensure_kstatus
from camfleet.devcluster.operator_process import OperatorProcess
from camfleet.devcluster.sim_process import SimProcess
from tests.helpers import authorize_emergency, condition, configure_authorities, get_json, wait_for, wait_ready
from tests.integration.manifests import as_yaml, camera_with_secret, credentials_secret
from tests.unit.test_argocd_lua import argocd_health
from tests.unit.test_health_table import NOT_REPORTED_YET, check, documented_row, kstatus

SPEC_CHANGED = "spec changed, status describes an older generation"


@pytest.fixture(scope="module")
def kstatus_binary() -> Path:
    return ensure_kstatus()


def reads_as(kstatus_binary: Path, kind: str, state: str, obj: dict[str, Any]) -> None:
    """The stored object is in the documented state: conditions, kstatus and Argo CD as the table says."""
    check(documented_row(kind, state), kind, obj, kstatus_binary)


def apply(cluster: LocalCluster, objects: list[dict[str, Any]]) -> None:
    cluster.kubectl("apply", "-f", "-", input=as_yaml(objects))


def merge_patch(cluster: LocalCluster, resource: str, name: str, namespace: str, patch: dict[str, Any]) -> Any:
    """The object as the API server stored it right after the patch: new generation, status not yet updated."""
    done = cluster.kubectl(
        "patch", resource, name, "-n", namespace, "--type=merge", "-p", json.dumps(patch), "-o", "json"
    )
    return json.loads(done.stdout)


def ready_reason(obj: dict[str, Any]) -> str | None:
    found = condition(obj, "Ready")
    return found["reason"] if found else None


def when_ready_says(cluster: LocalCluster, resource: str, name: str, namespace: str, reason: str) -> dict[str, Any]:
    """The stored object, once its Ready condition carries `reason`."""

    last: dict[str, Any] = {}

    def stored() -> dict[str, Any] | None:
        nonlocal last
        last = get_json(cluster, resource, name, "-n", namespace)
        return last if ready_reason(last) == reason else None

    try:
        wait_for(stored, what=f"{resource} {name} with Ready reason {reason}")
    except AssertionError as error:
        raise AssertionError(f"{error}; its conditions: {last.get('status', {}).get('conditions')}") from None
    return last


def test_cameras_and_policies_read_as_documented(
    cluster: LocalCluster,
    operator: OperatorProcess,
    sim: SimProcess,
    sim_camera_ids: Iterator[str],
    namespace: str,
    kstatus_binary: Path,
) -> None:
    good, locked = next(sim_camera_ids), next(sim_camera_ids)
    secret, camera = camera_with_secret(namespace, "good", sim, good)
    apply(cluster, [secret])
    # What `kubectl create` returns is the object before the operator saw it: no status at all. kstatus cannot
    # tell that from an object that needs none (Current, documented); Argo CD's script says Progressing.
    created = json.loads(cluster.kubectl("create", "-f", "-", "-o", "json", input=as_yaml([camera])).stdout)
    reads_as(kstatus_binary, "Camera", NOT_REPORTED_YET, created)

    wait_ready(cluster, namespace, "good")
    working = "working: reachable, signed in, clock in sync, configured, recording when a policy selects it"
    reads_as(kstatus_binary, "Camera", working, get_json(cluster, "camera", "good", "-n", namespace))

    # A spec change: the stored object's generation is ahead of its status until the operator catches up.
    changed = merge_patch(cluster, "camera", "good", namespace, {"spec": {"device": {"videoEncoder": {"fps": 15}}}})
    assert changed["metadata"]["generation"] > changed["status"]["observedGeneration"]
    reads_as(kstatus_binary, "Camera", SPEC_CHANGED, changed)
    assert f"generation {changed['metadata']['generation']}" in argocd_health("Camera", changed).message

    def caught_up() -> dict[str, Any] | None:
        camera = get_json(cluster, "camera", "good", "-n", namespace)
        return camera if [r["status"] for r in kstatus(kstatus_binary, [camera])] == ["Current"] else None

    reads_as(kstatus_binary, "Camera", working, wait_for(caught_up, what="the changed camera Current again"))

    # A wrong password, a policy that records that camera onto a storage class that does not exist, and a
    # policy whose selector matches no camera.
    objects = camera_with_secret(namespace, "locked", sim, locked)
    objects[0] = credentials_secret(namespace, "locked-onvif", "Wr0ng-Passw0rd")
    objects[1]["metadata"]["labels"] = {"recorded": "yes"}
    policies = [
        {
            "apiVersion": "camfleet.io/v1alpha1",
            "kind": "RecordingPolicy",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {
                "cameraSelector": {"matchLabels": {"recorded": selected}},
                "retentionDays": 30,
                "storage": {"storageClassName": "camfleet-test-absent"},
            },
        }
        for name, selected in (("nowhere", "yes"), ("nothing", "never"))
    ]
    apply(cluster, [*objects, *policies])
    locked_camera = when_ready_says(cluster, "camera", "locked", namespace, "AuthFailed")
    reads_as(kstatus_binary, "Camera", "`AuthFailed`: wrong username or password", locked_camera)
    assert argocd_health("Camera", locked_camera).message.startswith("AuthFailed: ")

    stored_policy = when_ready_says(cluster, "recordingpolicy", "nowhere", namespace, "StorageClassNotFound")
    reads_as(
        kstatus_binary,
        "RecordingPolicy",
        "a camera's storage class does not exist: `StorageClassNotFound`",
        stored_policy,
    )
    assert argocd_health("RecordingPolicy", stored_policy).message == (
        "StorageClassNotFound: 1 of 1 not recording; camera locked: storage class camfleet-test-absent does not exist"
    )
    empty = when_ready_says(cluster, "recordingpolicy", "nothing", namespace, "NoCameraSelected")
    reads_as(kstatus_binary, "RecordingPolicy", "`NoCameraSelected`: records no camera", empty)
    longer = merge_patch(cluster, "recordingpolicy", "nowhere", namespace, {"spec": {"retentionDays": 45}})
    reads_as(kstatus_binary, "RecordingPolicy", SPEC_CHANGED, longer)


def grant(
    namespace: str, name: str, start: datetime, end: datetime, cameras: dict[str, Any] | None = None, **spec: Any
) -> dict[str, Any]:
    """A grant on the camera `vault` of its own namespace, unless `cameras` says otherwise."""
    return {
        "apiVersion": "camfleet.io/v1alpha1",
        "kind": "SharingGrant",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "cameras": cameras or {"namespace": namespace, "names": ["vault"]},
            "permissions": ["LiveView"],
            "period": {"start": start.isoformat(), "end": end.isoformat()},
            "purpose": "health check test",
            **spec,
        },
    }


APPLICATION = {
    "applicantDepartment": "Transport",
    "contact": "Wang Lei, +86 532 8000 1234",
    "reason": "study",
    "dataType": "live video",
    "dataContent": "junction",
    "scopeOfUse": "planners",
    "securityMeasures": "no copies",
}


def test_grants_and_approvals_read_as_documented(
    cluster: LocalCluster,
    operator: OperatorProcess,
    sim: SimProcess,
    sim_camera_ids: Iterator[str],
    namespace: str,
    kstatus_binary: Path,
) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    emergency: dict[str, Any] = {"shareClass": "NotShared", "emergency": {"incidentReference": "EMC-1"}}
    configure_authorities(cluster, namespace)  # the department may request emergency access
    apply(cluster, camera_with_secret(namespace, "vault", sim, next(sim_camera_ids), shareClass="NotShared"))
    apply(cluster, camera_with_secret(namespace, "open", sim, next(sim_camera_ids)))  # Conditional
    nothing = {"namespace": namespace, "selector": {"matchLabels": {"site": "nowhere"}}}
    apply(
        cluster,
        [
            grant(namespace, "active", now - timedelta(hours=1), now + timedelta(hours=2), **emergency),
            grant(namespace, "expired", now - timedelta(hours=3), now - timedelta(hours=1), **emergency),
            # Conditional data of a Conditional camera: two approvals to wait for.
            grant(
                namespace,
                "pending",
                now,
                now + timedelta(days=5),
                cameras={"namespace": namespace, "names": ["open"]},
                application=APPLICATION,
            ),
            # Conditional data whose only camera is NotShared: denied (R10).
            grant(namespace, "denied", now, now + timedelta(days=5), application=APPLICATION),
            # A selector that matches no camera: nothing to share, whatever approvers say.
            grant(namespace, "nothing", now, now + timedelta(days=5), cameras=nothing, application=APPLICATION),
        ],
    )
    # The emergency authority authorizes the active one (R12); the expired one never needed it to end.
    assert authorize_emergency(cluster, namespace, namespace, "active").returncode == 0
    expected = {
        "active": ("Active", "`Active`: access given"),
        "expired": ("Expired", "`Expired`: access ended on time (R12)"),
        "pending": ("AwaitingApproval", "`AwaitingApproval`: `Approved` Unknown `Pending`"),
        "denied": ("Denied", "`Denied`"),
        "nothing": ("NoCameraSelected", "`NoCameraSelected`: the selector matches no camera"),
    }
    for name, (reason, state) in expected.items():
        stored = when_ready_says(cluster, "sharinggrant", name, namespace, reason)
        reads_as(kstatus_binary, "SharingGrant", state, stored)

    # The authorization itself is a GrantApproval the operator recorded; the authorities object is enforced.
    def recorded() -> dict[str, Any] | None:
        approval = get_json(cluster, "grantapproval", "active-authorization", "-n", namespace)
        return approval if ready_reason(approval) == "Recorded" else None

    approval = wait_for(recorded, what="the authorization recorded")
    reads_as(kstatus_binary, "GrantApproval", "`Recorded`: approver identity recorded, the decision counts", approval)
    authorities = get_json(cluster, "camfleetauthorities", "camfleet")
    reads_as(kstatus_binary, "CamfleetAuthorities", "`Enforced`: the configuration is loaded", authorities)


EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
CHECKED = {
    "Camera": "cameras",
    "RecordingPolicy": "recordingpolicies",
    "SharingGrant": "sharinggrants",
    "AccessTier": "accesstiers",
    "FootageExport": "footageexports",
}
FLUX_SETTLES_WITHIN_SECONDS = 90


def examples_from_git(namespace: str) -> tuple[list[dict[str, Any]], list[str]]:
    """examples/ as a team keeps it in Git, moved into this test's own departments: `{namespace}-transport`, ...

    Left out: the authorities (one cluster-wide object; the test's are configured instead) and the approvals,
    which are people's acts, not Git's. Returns the objects and the emergency departments.
    """
    manifests = load_manifests(EXAMPLES)
    departments = {doc["metadata"]["name"] for doc in manifests if doc["kind"] == "Namespace"}

    def moved(department: str) -> str:
        return f"{namespace}-{department}" if department in departments else department

    objects = []
    emergency: list[str] = []
    for doc in manifests:
        metadata, spec = doc["metadata"], doc.get("spec") or {}
        if doc["kind"] == "CamfleetAuthorities":
            emergency = [moved(department) for department in spec.get("emergencyDepartments", [])]
            continue
        if doc["kind"] == "GrantApproval":
            continue
        if doc["kind"] == "Namespace":
            metadata["name"] = moved(metadata["name"])
        if "namespace" in metadata:
            metadata["namespace"] = moved(metadata["namespace"])
        if doc["kind"] == "SharingGrant":
            spec["cameras"]["namespace"] = moved(spec["cameras"]["namespace"])
        if doc["kind"] == "AccessTier":
            metadata["name"] = f"{metadata['name']}-{namespace}"
            for subject in spec.get("subjects", []):
                subject["department"] = moved(subject["department"])
            for selection in spec.get("authorizedCameras", []):
                selection["namespace"] = moved(selection["namespace"])
        objects.append(doc)
    return objects, emergency


def test_the_examples_applied_from_git_settle_or_fail_clearly_under_flux(
    cluster: LocalCluster, operator: OperatorProcess, namespace: str, kstatus_binary: Path
) -> None:
    """Issue 18's acceptance: under kstatus (Flux `wait`) every object ends Current or Failed, none InProgress.

    No simulator serves the examples' endpoints here, so the cameras fail (clearly), and so do the policies
    recording them; grants and exports wait for people (Current); tiers are Current.
    """
    objects, emergency = examples_from_git(namespace)
    configure_authorities(cluster, *emergency)
    # The team's cluster has the encrypted class the examples name (exports refuse any other, R17).
    if cluster.kubectl("get", "storageclass", LOCAL_STORAGE_CLASS, check=False).returncode != 0:
        apply(cluster, [encrypted_storage_class(LOCAL_STORAGE_CLASS)])
    departments = [doc["metadata"]["name"] for doc in objects if doc["kind"] == "Namespace"]
    apply(cluster, objects)
    tiers = {doc["metadata"]["name"] for doc in objects if doc["kind"] == "AccessTier"}
    expected = sum(1 for doc in objects if doc["kind"] in CHECKED)
    try:
        last: dict[tuple[str, str, str], str] = {}

        def settled() -> dict[tuple[str, str, str], str] | None:
            items = [
                item
                for resource in CHECKED.values()
                for item in get_json(cluster, resource, "-A")["items"]
                if item["metadata"].get("namespace") in departments or item["metadata"]["name"] in tiers
            ]
            results = kstatus(kstatus_binary, items)
            last.clear()
            last.update(
                {(result["kind"], result.get("namespace", ""), result["name"]): result["status"] for result in results}
            )
            done = len(items) == expected and set(last.values()) <= {"Current", "Failed"}
            return dict(last) if done else None

        try:
            verdicts = wait_for(settled, timeout=FLUX_SETTLES_WITHIN_SECONDS, interval=2, what="every example settled")
        except AssertionError:
            raise AssertionError(f"still in progress: {[k for k, v in last.items() if v != 'Current']}") from None
    finally:
        cluster.kubectl("delete", "accesstier", *tiers, "--wait=false", check=False)
        cluster.kubectl("delete", "namespace", *departments, "--wait=false", check=False)
    by_kind: dict[str, set[str]] = {}
    for (kind, _, _), verdict in verdicts.items():
        by_kind.setdefault(kind, set()).add(verdict)
    print(f"\nexamples under kstatus: {dict(sorted((k, sorted(v)) for k, v in by_kind.items()))}")
    # What needs people or time is Current; what cannot work here says so.
    assert by_kind["SharingGrant"] == {"Current"}
    assert by_kind["FootageExport"] == {"Current"}
    assert by_kind["AccessTier"] == {"Current"}
