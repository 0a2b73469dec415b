"""Access handlers: grants, approvals, exports and tiers into their controllers; the admission webhooks (R15).

What one object cannot judge is judged here, at admission, with a message naming the rule: who approves
or requests (stamped from the authenticated request on create, never from a typed field, and never
changed afterwards), whether the approver is of the grantee department, and whether they already decided
on the same grant.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import kopf

from camfleet.access.approvals import departments_of
from camfleet.access.identity import APPROVER_ANNOTATION, REQUESTER_ANNOTATION, decode_identity, encode_identity
from camfleet.api import GROUP, VERSION
from camfleet.api.access_tier import AccessTier
from camfleet.context import OperatorContext
from camfleet.kube.apply import get_or_none
from camfleet.kube.resources import RESOURCES
from camfleet.kube.store import key_of


@kopf.on.event(GROUP, VERSION, "sharinggrants")
async def grant_event(event: kopf.RawEvent, memo: OperatorContext, **_: Any) -> None:
    if event["type"] == "DELETED":
        await memo.grants.grant_deleted(event["object"])
    else:
        memo.grants.grant_changed(event["object"])


@kopf.on.event(GROUP, VERSION, "accesstiers")
async def tier_event(event: kopf.RawEvent, memo: OperatorContext, **_: Any) -> None:
    name = event["object"]["metadata"]["name"]
    deleted = event["type"] == "DELETED"
    tier = None if deleted else AccessTier.model_validate(event["object"])
    memo.credentials.tier_changed(tier, name)
    memo.tiers.tier_changed(event["object"], deleted)


@kopf.on.event(GROUP, VERSION, "grantapprovals")
async def approval_event(event: kopf.RawEvent, memo: OperatorContext, **_: Any) -> None:
    deleted = event["type"] == "DELETED"
    if deleted:
        memo.approval_store.remove(key_of(event["object"]))
    else:
        memo.approval_store.put(event["object"])
    memo.grants.approval_changed(event["object"])
    memo.exports.approval_changed(event["object"])
    if not deleted:
        await memo.approvals.record(event["object"])


@kopf.on.event(GROUP, VERSION, "footageexports")
async def export_event(event: kopf.RawEvent, memo: OperatorContext, **_: Any) -> None:
    memo.exports.export_changed(event["object"], deleted=event["type"] == "DELETED")


@kopf.on.event("batch", "v1", "jobs", labels={"app.kubernetes.io/component": "footage-export"})
async def export_job_event(event: kopf.RawEvent, memo: OperatorContext, **_: Any) -> None:
    memo.exports.job_changed(event["object"])


def _stamp(key: str, patch: kopf.Patch, userinfo: kopf.UserInfo) -> None:
    identity = encode_identity(str(userinfo.get("username", "")), [str(g) for g in userinfo.get("groups") or []])
    patch.setdefault("metadata", {}).setdefault("annotations", {})[key] = identity


@kopf.on.mutate(GROUP, VERSION, "grantapprovals", id="stamp-approver", operations=["CREATE"], persistent=True)
def stamp_approver(patch: kopf.Patch, userinfo: kopf.UserInfo, **_: Any) -> None:
    """The approver is whoever sent the create request, whatever the manifest said."""
    _stamp(APPROVER_ANNOTATION, patch, userinfo)


@kopf.on.mutate(GROUP, VERSION, "footageexports", id="stamp-requester", operations=["CREATE"], persistent=True)
def stamp_requester(patch: kopf.Patch, userinfo: kopf.UserInfo, **_: Any) -> None:
    _stamp(REQUESTER_ANNOTATION, patch, userinfo)


# The webhooks read the API server, not the controllers' caches: a standby replica, whose watches kopf
# pauses, must answer admission requests exactly as the active one does.


async def _stored(memo: OperatorContext, kind: str, namespace: str, name: str) -> Mapping[str, Any] | None:
    found = await get_or_none(memo.client, RESOURCES[kind], name, namespace)
    if found is None:
        return None
    stored: Mapping[str, Any] = found.to_dict()
    return stored


async def _unchanged_identity(
    memo: OperatorContext, kind: str, key: str, annotations: Mapping[str, str], namespace: str | None, name: str
) -> None:
    stored = await _stored(memo, kind, namespace or "", name)
    recorded = ((stored or {}).get("metadata", {}).get("annotations") or {}).get(key)
    if annotations.get(key) != recorded:
        raise kopf.AdmissionError(f"{key} records who created this object and cannot be changed (rule R16)", code=403)


@kopf.on.validate(GROUP, VERSION, "grantapprovals", id="keep-approver", operations=["UPDATE"], persistent=True)
async def keep_approver(
    annotations: kopf.Annotations, namespace: str | None, name: str, memo: OperatorContext, **_: Any
) -> None:
    await _unchanged_identity(memo, "GrantApproval", APPROVER_ANNOTATION, annotations, namespace, name)


@kopf.on.validate(GROUP, VERSION, "footageexports", id="keep-requester", operations=["UPDATE"], persistent=True)
async def keep_requester(
    annotations: kopf.Annotations, namespace: str | None, name: str, memo: OperatorContext, **_: Any
) -> None:
    await _unchanged_identity(memo, "FootageExport", REQUESTER_ANNOTATION, annotations, namespace, name)


@kopf.on.validate(GROUP, VERSION, "grantapprovals", id="check-approver", operations=["CREATE"], persistent=True)
async def check_approver(
    spec: kopf.Spec, namespace: str | None, userinfo: kopf.UserInfo, memo: OperatorContext, **_: Any
) -> None:
    target = spec.get("target") or {}
    if target.get("kind") != "SharingGrant":
        return  # FootageExport approvals are counted by the export controller (requester excluded)
    grant_namespace, grant_name = str(target.get("namespace") or namespace), str(target.get("name"))
    # A grant that does not exist yet is no reason to refuse: GitOps tools apply in any order, and the
    # lifecycle counts only approvals made in the cameras' owner namespace.
    grant = await _stored(memo, "SharingGrant", grant_namespace, grant_name)
    owner = (grant or {}).get("spec", {}).get("cameras", {}).get("namespace")
    username = str(userinfo.get("username", ""))
    groups = [str(g) for g in userinfo.get("groups") or []]
    _check_departments(owner, namespace, username, groups, grant_namespace)
    await _check_first_decision(memo, namespace, grant_namespace, grant_name, username)


def _check_departments(
    owner: str | None, namespace: str | None, username: str, groups: list[str], grant_namespace: str
) -> None:
    """Approvals are given in the cameras' owner department, never by the grantee department (R15)."""
    if owner is not None and namespace != owner:
        raise kopf.AdmissionError(
            f"approvals of this grant are given in {owner}, the cameras' owner department (rule R15)", code=400
        )
    if grant_namespace in departments_of(username, groups):
        raise kopf.AdmissionError(
            f"{username} belongs to {grant_namespace}, the grantee department, which cannot approve its own grant "
            "(rule R15)",
            code=403,
        )


async def _check_first_decision(
    memo: OperatorContext, namespace: str | None, grant_namespace: str, grant_name: str, username: str
) -> None:
    """Each person decides on a grant once: two approvals come from two different people (R15)."""
    async for item in memo.client.list(RESOURCES["GrantApproval"], namespace=namespace or ""):
        existing = item.to_dict()
        target_of = existing.get("spec", {}).get("target", {})
        if (target_of.get("namespace") or namespace, target_of.get("name")) != (grant_namespace, grant_name):
            continue
        identity = decode_identity(existing["metadata"].get("annotations"))
        if identity is not None and identity[0] == username:
            raise kopf.AdmissionError(
                f"{username} already decided on this grant ({existing['metadata']['name']}); the two approvals must "
                "come from two different people (rule R15)",
                code=403,
            )
