"""Issue 14 (parts 1, 4, 7) on the real control plane, each attack made as the person who would make it.

Users are real API identities through impersonation with department groups: `alice` and `bob` of the owner
department approve; `carol` of the grantee department edits her department's grant; `mallory` forges. Each
attack gains nothing, and the operator's audit trail (its log, one JSON record per line) names who tried what.
"""

from __future__ import annotations

import base64
import json
import secrets
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import yaml

from camfleet.access.identity import APPROVAL_STAMP_ANNOTATION, APPROVER_ANNOTATION, seal, stamp_payload
from camfleet.devcluster.cluster import LocalCluster
from camfleet.devcluster.operator_process import OperatorProcess
from tests.helpers import DEPARTMENT_GROUP, as_user, audit_records, audited, condition, events_for, get_json, wait_for
from tests.integration.manifests import GRANT_APPLICATION, unreachable_camera
from tests.integration.test_access import access_token, approval, gateway_allows, grant, grant_status
from tests.integration.test_exports import approval as export_approval
from tests.integration.test_exports import (  # noqa: F401 - the fixtures are used below
    department,
    export,
    job,
    storage_classes,
)


@pytest.fixture
def parties(cluster: LocalCluster) -> Iterator[tuple[str, str]]:
    """An owner department (cameras plaza and square, Conditional) whose staff approve, and a grantee department
    whose staff may edit their own grants, as the install docs' department roles allow."""
    suffix = uuid.uuid4().hex[:6]
    owner, grantee = f"owner-{suffix}", f"grantee-{suffix}"

    def role(namespace: str, resources: list[str], verbs: list[str], group: str) -> list[dict[str, Any]]:
        return [
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "Role",
                "metadata": {"name": "staff", "namespace": namespace},
                "rules": [{"apiGroups": ["camfleet.io"], "resources": resources, "verbs": verbs}],
            },
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "RoleBinding",
                "metadata": {"name": "staff", "namespace": namespace},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "staff"},
                "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": group}],
            },
        ]

    objects: list[dict[str, Any]] = [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": owner}},
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": grantee}},
        *role(owner, ["grantapprovals"], ["create", "get"], f"{DEPARTMENT_GROUP}{owner}"),
        *role(grantee, ["sharinggrants"], ["create", "get", "patch", "update", "delete"],
              f"{DEPARTMENT_GROUP}{grantee}"),
        unreachable_camera(owner, "plaza", "Conditional"),
        unreachable_camera(owner, "square", "Conditional"),
    ]  # fmt: skip
    cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump_all(objects))
    yield owner, grantee
    cluster.kubectl("delete", "namespace", owner, grantee, "--wait=false", check=False)


def as_carol(cluster: LocalCluster, grantee: str, *args: str) -> Any:
    return cluster.kubectl(
        *args, "-n", grantee, "--as=carol", f"--as-group={DEPARTMENT_GROUP}{grantee}",
        "--as-group=system:authenticated", check=False,
    )  # fmt: skip


def cond(cluster: LocalCluster, grantee: str, name: str, kind: str) -> dict[str, Any]:
    return condition({"status": grant_status(cluster, grantee, name)}, kind) or {}


def active_with_two_approvals(cluster: LocalCluster, owner: str, grantee: str, name: str, **spec: Any) -> str:
    """carol asks, alice and bob approve: the grant is Active; its token."""
    now = datetime.now(UTC)
    manifest = grant(grantee, owner, name, now - timedelta(minutes=1), now + timedelta(days=7),
                     shareClass="Conditional", application=GRANT_APPLICATION, **spec)  # fmt: skip
    created = as_user(cluster, "carol", grantee, manifest)
    assert created.returncode == 0, created.stderr
    wait_for(lambda: grant_status(cluster, grantee, name).get("approvalDueTime"), what="the grant pending")
    for person in ("alice", "bob"):
        done = as_user(cluster, person, owner, approval(owner, grantee, name, f"{person}-{name}"))
        assert done.returncode == 0, done.stderr
    wait_for(lambda: cond(cluster, grantee, name, "Active").get("status") == "True", what="the grant Active")
    return str(wait_for(lambda: access_token(cluster, grantee, name), what="the access token"))


def assert_voided(
    cluster: LocalCluster, operator: OperatorProcess, owner: str, grantee: str, name: str, token: str
) -> None:
    approved = wait_for(
        lambda: (c := cond(cluster, grantee, name, "Approved")).get("reason") == "ApprovalsVoided" and c,
        what="Approved reason ApprovalsVoided",
    )
    assert approved["status"] == "Unknown"
    assert cond(cluster, grantee, name, "Active")["status"] == "False"
    assert cond(cluster, grantee, name, "Revoked")["reason"] == "ApprovalsVoided"
    assert grant_status(cluster, grantee, name)["approvedBy"] == []
    wait_for(lambda: access_token(cluster, grantee, name) is None, what="the token Secret deleted")
    assert not gateway_allows(operator, token, f"{owner}/plaza"), "the old token is refused at the door"
    voided_events = [e for e in events_for(cluster, grantee, name) if e.get("reason") == "ApprovalsVoided"]
    assert len(voided_events) == 1, voided_events
    records = audited(operator, "ApprovalsVoided", f"SharingGrant {grantee}/{name}")
    assert len(records) == 1, records
    assert records[0]["changedBy"] == "carol"
    assert sorted(records[0]["voided"]) == [f"alice-{name}", f"bob-{name}"]


def test_a_grantee_widening_its_approved_grant_voids_every_approval(
    cluster: LocalCluster, operator: OperatorProcess, parties: tuple[str, str]
) -> None:
    """(a) After two owner approvals, carol widens cameras, permissions and period: Pending, token revoked."""
    owner, grantee = parties
    token = active_with_two_approvals(cluster, owner, grantee, "crossings")
    assert gateway_allows(operator, token, f"{owner}/plaza")
    later = (datetime.now(UTC) + timedelta(days=3650)).isoformat()
    everything = ["LiveView", "Playback", "PTZControl", "Export"]
    widened = {"spec": {"cameras": {"namespace": owner, "names": ["plaza", "square"]},
                        "permissions": everything, "period": {"end": later}}}  # fmt: skip
    patched = as_carol(
        cluster, grantee, "patch", "sharinggrant", "crossings", "--type=merge", "-p", json.dumps(widened)
    )
    assert patched.returncode == 0, patched.stderr
    assert_voided(cluster, operator, owner, grantee, "crossings", token)
    assert not gateway_allows(operator, token, f"{owner}/square")
    changes = audited(operator, "GrantContentChanged", f"SharingGrant {grantee}/crossings")
    assert changes, "the change itself is in the audit trail"
    assert changes[-1]["actor"] == "carol"
    assert set(changes[-1]["fields"]) == {"cameras", "permissions", "period"}
    # The same people may approve the new content (a decision on voided content stops nobody).
    again = as_user(cluster, "alice", owner, approval(owner, grantee, "crossings", "alice-again"))
    assert again.returncode == 0, again.stderr


def test_a_recreated_grant_never_inherits_approvals(
    cluster: LocalCluster, operator: OperatorProcess, parties: tuple[str, str]
) -> None:
    """(b) carol deletes her approved grant and creates it again under the same name: not Active."""
    owner, grantee = parties
    token = active_with_two_approvals(cluster, owner, grantee, "reborn")
    first_uid = get_json(cluster, "sharinggrant", "reborn", "-n", grantee)["metadata"]["uid"]
    deleted = as_carol(cluster, grantee, "delete", "sharinggrant", "reborn", "--wait=true")
    assert deleted.returncode == 0, deleted.stderr
    now = datetime.now(UTC)
    manifest = grant(grantee, owner, "reborn", now - timedelta(minutes=1), now + timedelta(days=7),
                     shareClass="Conditional", application=GRANT_APPLICATION)  # fmt: skip
    assert as_user(cluster, "carol", grantee, manifest).returncode == 0
    pending = wait_for(
        lambda: (
            (s := grant_status(cluster, grantee, "reborn"))
            and any("earlier object of the same name" in (c.get("message") or "") for c in s.get("conditions", []))
            and s
        ),
        what="the recreated grant pending, saying why the old approvals do not count",
    )
    assert get_json(cluster, "sharinggrant", "reborn", "-n", grantee)["metadata"]["uid"] != first_uid
    assert pending["approvedBy"] == []
    assert condition({"status": pending}, "Active")["status"] == "False"  # type: ignore[index]
    assert access_token(cluster, grantee, "reborn") is None
    assert not gateway_allows(operator, token, f"{owner}/plaza")
    records = audited(
        operator, "GrantPending", f"SharingGrant {grantee}/reborn", where=lambda r: first_uid in r["reason"]
    )
    assert records, "the audit record says which approvals were refused"


def test_dropping_the_transcode_profile_after_approval_voids(
    cluster: LocalCluster, operator: OperatorProcess, parties: tuple[str, str]
) -> None:
    """(c) Approved for the masked stream, carol drops transcodeProfile to get the original: voided."""
    owner, grantee = parties
    token = active_with_two_approvals(cluster, owner, grantee, "masked", transcodeProfile="masked")
    removed = as_carol(cluster, grantee, "patch", "sharinggrant", "masked", "--type=json",
                       "-p", '[{"op": "remove", "path": "/spec/transcodeProfile"}]')  # fmt: skip
    assert removed.returncode == 0, removed.stderr
    assert_voided(cluster, operator, owner, grantee, "masked", token)
    changes = audited(operator, "GrantContentChanged", f"SharingGrant {grantee}/masked")
    assert changes[-1]["actor"] == "carol"
    assert changes[-1]["fields"] == ["transcodeProfile"]


def test_export_approvals_bind_to_the_export_and_its_content(
    cluster: LocalCluster,
    operator: OperatorProcess,
    department: str,  # noqa: F811 - the fixture imported above
    storage_classes: None,  # noqa: F811 - the fixture imported above
) -> None:
    """(d) Content cannot change under approvals, and approvals of a deleted export do not count for a new one."""
    ns = department
    assert as_user(cluster, "carol", ns, export(ns, "theft", mask_privacy=True)).returncode == 0
    for person in ("alice", "bob"):
        assert as_user(cluster, person, ns, export_approval(ns, "theft", f"{person}-yes")).returncode == 0
    wait_for(lambda: job(cluster, ns, "theft"), what="the approved export's Job")
    first_uid = get_json(cluster, "footageexport", "theft", "-n", ns)["metadata"]["uid"]

    # Change what is extracted under the same approvals: the API server refuses (the spec is immutable).
    wider = {"spec": {"ranges": [{"start": "2026-11-19T00:00:00+08:00", "end": "2026-11-19T23:59:00+08:00"}]}}
    changed = cluster.kubectl("patch", "footageexport", "theft", "-n", ns, "--type=merge", "-p", json.dumps(wider),
                              check=False)  # fmt: skip
    assert changed.returncode != 0
    assert "cannot be changed" in changed.stderr

    # Delete it and ask again under the same name for another day: the old approvals do not carry over.
    cluster.kubectl("delete", "footageexport", "theft", "-n", ns, "--wait=true")
    again = export(ns, "theft", mask_privacy=True)
    again["spec"]["ranges"] = wider["spec"]["ranges"]
    assert as_user(cluster, "carol", ns, again).returncode == 0
    approved = wait_for(
        lambda: (
            (c := condition(get_json(cluster, "footageexport", "theft", "-n", ns), "Approved"))
            and "earlier export of the same name" in c.get("message", "")
            and c
        ),
        what="the recreated export pending, saying why",
    )
    assert approved["status"] == "Unknown"
    status = get_json(cluster, "footageexport", "theft", "-n", ns)
    assert status["metadata"]["uid"] != first_uid
    assert status["status"]["approvedBy"] == []
    owned = [
        j for j in get_json(cluster, "jobs", "-n", ns).get("items", [])
        if any(o["uid"] == status["metadata"]["uid"] for o in j["metadata"].get("ownerReferences", []))
    ]  # fmt: skip
    assert owned == [], "no Job runs for the recreated export"
    assert audited(
        operator,
        "ExportPending",
        f"FootageExport {ns}/theft",
        where=lambda r: "earlier export of the same name" in r["reason"],
    )


WEBHOOK_CONFIG_SETTLES = 3.0
"""The API server picks up webhook configuration changes from a watch: give it a moment either way."""


def _bypass_stamp_webhook(cluster: LocalCluster) -> tuple[int, dict[str, Any]]:
    """Take the approver-stamping webhook out, as failurePolicy Ignore with the webhook down would; return it."""
    config = get_json(cluster, "mutatingwebhookconfiguration", "camfleet.io")
    index = next(i for i, w in enumerate(config["webhooks"]) if w["name"].startswith("stamp-approver"))
    cluster.kubectl("patch", "mutatingwebhookconfiguration", "camfleet.io", "--type=json",
                    "-p", json.dumps([{"op": "remove", "path": f"/webhooks/{index}"}]))  # fmt: skip
    time.sleep(WEBHOOK_CONFIG_SETTLES)
    return index, config["webhooks"][index]


def test_a_typed_stamp_and_a_preset_status_approver_never_count(
    cluster: LocalCluster, operator: OperatorProcess, parties: tuple[str, str]
) -> None:
    """(e) With the webhook bypassed, mallory's approvals carry a typed identity and a stamp shaped exactly like the
    webhook's (sealed with a key she made up); an admin-side status preset names the mayor. None counts."""
    owner, grantee = parties
    now = datetime.now(UTC)
    manifest = grant(grantee, owner, "forged", now, now + timedelta(days=1), shareClass="Conditional",
                     application=GRANT_APPLICATION)  # fmt: skip
    assert as_user(cluster, "carol", grantee, manifest).returncode == 0
    uid = wait_for(lambda: get_json(cluster, "sharinggrant", "forged", "-n", grantee)["metadata"].get("uid"))
    index, webhook = _bypass_stamp_webhook(cluster)
    try:
        for person, name in (("mayor", "forged-mayor"), ("deputy", "forged-deputy")):
            forged = approval(owner, grantee, "forged", name)
            payload = stamp_payload(person, [f"{DEPARTMENT_GROUP}{owner}"], (owner, name), verdict="Approve",
                                    target=("SharingGrant", grantee, "forged"))  # fmt: skip
            payload["binding"] = {"uid": uid, "generation": 1, "digest": "sha256:" + "0" * 64}
            forged["metadata"]["annotations"] = {
                APPROVER_ANNOTATION: json.dumps({"username": person, "groups": []}),
                APPROVAL_STAMP_ANNOTATION: seal(secrets.token_bytes(32), payload),
            }
            created = as_user(cluster, "mallory", owner, forged)
            assert created.returncode == 0, created.stderr
            stored = get_json(cluster, "grantapproval", name, "-n", owner)["metadata"]["annotations"]
            assert json.loads(stored[APPROVER_ANNOTATION])["username"] == person, "the webhook was really bypassed"
    finally:
        cluster.kubectl("patch", "mutatingwebhookconfiguration", "camfleet.io", "--type=json",
                        "-p", json.dumps([{"op": "add", "path": f"/webhooks/{index}", "value": webhook}]))  # fmt: skip
        time.sleep(WEBHOOK_CONFIG_SETTLES)
    # Whoever may write status presets an approver: the operator never believes it.
    for name in ("forged-mayor", "forged-deputy"):
        cluster.kubectl("patch", "grantapproval", name, "-n", owner, "--subresource=status", "--type=merge",
                        "-p", json.dumps({"status": {"approver": {"username": "mayor", "groups": []}}}))  # fmt: skip
    said = wait_for(
        lambda: (
            (c := cond(cluster, grantee, "forged", "Approved"))
            and "forged-mayor has no valid stamp" in c.get("message", "")
            and "forged-deputy has no valid stamp" in c.get("message", "")
            and c
        ),
        what="the grant saying why the forged approvals do not count",
    )
    assert said["status"] == "Unknown"
    assert grant_status(cluster, grantee, "forged")["approvedBy"] == []

    def approver_cleared() -> bool:
        status = get_json(cluster, "grantapproval", "forged-mayor", "-n", owner).get("status") or {}
        ready = condition({"status": status}, "Ready") or {}
        return status.get("approver") is None and ready.get("reason") == "IdentityNotRecorded"

    wait_for(approver_cleared, what="the preset approver overwritten, the approval marked as never counting")
    assert access_token(cluster, grantee, "forged") is None
    assert not audit_records(operator, "ApprovalRecorded") or all(
        r.get("actor") not in ("mayor", "deputy") for r in audit_records(operator, "ApprovalRecorded")
    )
    pending = audited(operator, "GrantPending", f"SharingGrant {grantee}/forged")
    assert pending, "the grant's decision is audited"


def test_a_level_4_department_is_not_given_control(
    cluster: LocalCluster, operator: OperatorProcess, parties: tuple[str, str]
) -> None:
    """(f) A level-4 department's grant for PTZControl is narrowed to view; its token carries no PTZControl."""
    owner, grantee = parties
    tier = {
        "apiVersion": "camfleet.io/v1alpha1",
        "kind": "AccessTier",
        "metadata": {"name": f"level-4-{grantee}"},
        "spec": {"level": 4, "subjects": [{"department": grantee}]},
    }
    cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump(tier))
    try:
        token = active_with_two_approvals(cluster, owner, grantee, "steer", permissions=["LiveView", "PTZControl"])
        narrowed = wait_for(
            lambda: (c := cond(cluster, grantee, "steer", "Narrowed")).get("status") == "True" and c,
            what="Narrowed True",
        )
        assert narrowed["reason"] == "PermissionsNarrowed"
        assert "PTZControl dropped: the grantee department holds level 4" in narrowed["message"]
        cameras = grant_status(cluster, grantee, "steer")["effectiveCameras"]
        assert cameras == [{"namespace": owner, "name": "plaza", "permissions": ["LiveView"]}]
        claims = json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "=="))
        assert claims["permissions"] == ["LiveView"]
        assert claims["level"] == 4
        events = [e for e in events_for(cluster, grantee, "steer") if e.get("reason") == "PermissionsNarrowed"]
        assert len(events) == 1
        records = audited(operator, "GrantNarrowed", f"SharingGrant {grantee}/steer")
        assert records
        assert records[0]["asked"] == ["LiveView", "PTZControl"]
        assert records[0]["kept"] == ["LiveView"]
    finally:
        cluster.kubectl("delete", "accesstier", f"level-4-{grantee}", "--ignore-not-found")
