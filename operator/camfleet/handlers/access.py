"""Access handlers: grants, approvals, exports and tiers into their controllers; the admission webhooks (R15).

What one object cannot judge is judged here, at admission, with a message naming the rule: who approves
or requests (stamped from the authenticated request on create, never from a typed field, and never
changed afterwards), whether the approver is a person (a service account, e.g. a GitOps controller applying
approvals from Git, is refused), whether the approver is of the grantee department, and whether they repeat
a decision they already made on the same grant (a decision with the other verdict supersedes the older one).

Approvals are records (R16): one cannot be deleted while the grant or export it decides on exists, except by
the operator, or with its whole namespace; every deletion admitted or refused is an audit record naming who.

The stamps are sealed (`access.identity`): the approver's user and groups, the approval's namespace, name and
verdict, and the approved object as read from the API server at that moment (uid, generation, content
digest), under the operator's stamp key. The controllers count only what a valid seal covers, so a typed
annotation (the webhook not called) or a preset `status.approver` never counts, and an approval never counts
for another object or for content changed since.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import kopf
from lightkube.core.exceptions import ApiError
from lightkube.resources.core_v1 import Namespace

from camfleet.access.approvals import (
    PastDecision,
    RemovalContext,
    departments_of,
    gitops_refusal,
    judge_removal,
    repeat_refusal,
)
from camfleet.access.grants import changed_fields, grant_binding
from camfleet.access.identity import (
    APPROVAL_STAMP_ANNOTATION,
    APPROVER_ANNOTATION,
    CHANGED_BY_ANNOTATION,
    REQUEST_STAMP_ANNOTATION,
    REQUESTER_ANNOTATION,
    Binding,
    StampError,
    encode_identity,
    read_stamp,
    seal,
    stamp_payload,
)
from camfleet.api import GROUP, VERSION
from camfleet.api.access_tier import AccessTier
from camfleet.api.footage_export import FootageExport
from camfleet.api.sharing_grant import SharingGrant, SharingGrantSpec
from camfleet.export.run_approval import export_binding
from camfleet.kube.apply import get_or_none
from camfleet.kube.identity import may_write_policy_status
from camfleet.kube.resources import RESOURCES
from camfleet.kube.store import key_of
from camfleet.observability.audit import audit
from camfleet.operator_context import OperatorContext


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
    memo.tier_credentials.tier_changed(tier, name)
    memo.tiers.tier_changed(event["object"], deleted)
    memo.grants.tier_changed(event["object"], deleted)
    memo.exports.tier_changed(event["object"], deleted)


@kopf.on.event(GROUP, VERSION, "grantapprovals")
async def approval_event(event: kopf.RawEvent, memo: OperatorContext, **_: Any) -> None:
    deleted = event["type"] == "DELETED"
    if deleted:
        memo.approval_store.remove(key_of(event["object"]))
    else:
        memo.approval_store.put(event["object"])
    memo.grants.approval_changed(event["object"])
    memo.exports.approval_changed(event["object"])
    if deleted:
        memo.grants.approval_removed(event["object"])
        memo.approvals.removed(event["object"])
    else:
        await memo.approvals.record(event["object"])


@kopf.on.event(GROUP, VERSION, "footageexports")
async def export_event(event: kopf.RawEvent, memo: OperatorContext, **_: Any) -> None:
    memo.exports.export_changed(event["object"], deleted=event["type"] == "DELETED")


WITHDRAW_RETRY_SECONDS = 15


@kopf.on.delete(GROUP, VERSION, "footageexports", field="spec.sourceNamespace", value=kopf.PRESENT)
async def withdraw_extraction(body: kopf.Body, memo: OperatorContext, **_: Any) -> None:
    """An extraction's Job and staging claim live in the owner's namespace, out of reach of garbage collection
    (no ownerReference across namespaces): its finalizer holds the export until they are gone, or, when the copy
    had succeeded, until it was handed over to the requester's namespace (`ExportController.withdraw`)."""
    pending = await memo.exports.withdraw(dict(body))
    if pending:
        raise kopf.TemporaryError(f"owner-side objects not cleared: {'; '.join(pending)}", delay=WITHDRAW_RETRY_SECONDS)


@kopf.on.event("batch", "v1", "jobs", labels={"app.kubernetes.io/component": "footage-export"})
async def export_job_event(event: kopf.RawEvent, memo: OperatorContext, **_: Any) -> None:
    memo.exports.job_changed(event["object"])


def _now() -> str:
    # Microseconds: a person's newer decision must sort after the older one made in the same second.
    return datetime.now(UTC).isoformat(timespec="microseconds")


def _identity(userinfo: kopf.UserInfo) -> tuple[str, list[str]]:
    return str(userinfo.get("username", "")), [str(g) for g in userinfo.get("groups") or []]


def _annotate(patch: kopf.Patch, values: Mapping[str, str]) -> None:
    patch.setdefault("metadata", {}).setdefault("annotations", {}).update(values)


def _name_for(body: kopf.Body, patch: kopf.Patch) -> str:
    """The object's name. One asked with generateName has none yet: give it one now, so the seal can name it."""
    name = str(body.get("metadata", {}).get("name") or "")
    if name:
        return name
    generated = str(body.get("metadata", {}).get("generateName") or "approval-") + secrets.token_hex(3)
    patch.setdefault("metadata", {})["name"] = generated
    return generated


async def _target_binding(memo: OperatorContext, kind: str, namespace: str, name: str) -> Binding | None:
    """The approved object as the API server has it now: uid, generation, content digest; None when absent."""
    stored = await _stored(memo, kind, namespace, name)
    if stored is None:
        return None
    if kind == "SharingGrant":
        return grant_binding(SharingGrant.model_validate(stored))
    return export_binding(FootageExport.model_validate(stored))


@kopf.on.mutate(GROUP, VERSION, "grantapprovals", id="stamp-approver", operations=["CREATE"], persistent=True)
async def stamp_approver(
    body: kopf.Body, spec: kopf.Spec, namespace: str | None, patch: kopf.Patch, userinfo: kopf.UserInfo,
    memo: OperatorContext, **_: Any,
) -> None:  # fmt: skip
    """The approver is whoever sent the create request, whatever the manifest said; the seal binds the decision
    to this approval and to the approved object's uid and content as they are now."""
    username, groups = _identity(userinfo)
    name, approval_namespace = _name_for(body, patch), str(namespace or "")
    target = spec.get("target") or {}
    kind = str(target.get("kind") or "SharingGrant")
    target_namespace = str(target.get("namespace") or approval_namespace)
    target_name = str(target.get("name") or "")
    binding = await _target_binding(memo, kind, target_namespace, target_name)
    payload = stamp_payload(
        username, groups, (approval_namespace, name), verdict=str(spec.get("verdict")),
        target=(kind, target_namespace, target_name), binding=binding, time=_now(),
    )  # fmt: skip
    _annotate(
        patch,
        {
            APPROVER_ANNOTATION: encode_identity(username, groups),
            APPROVAL_STAMP_ANNOTATION: seal(memo.stamp_key, payload),
        },
    )


@kopf.on.mutate(GROUP, VERSION, "footageexports", id="stamp-requester", operations=["CREATE"], persistent=True)
def stamp_requester(
    body: kopf.Body, spec: kopf.Spec, namespace: str | None, patch: kopf.Patch, userinfo: kopf.UserInfo,
    memo: OperatorContext, **_: Any,
) -> None:  # fmt: skip
    """The requester (who may not approve their own export) is sealed with the export's name and content."""
    username, groups = _identity(userinfo)
    name = _name_for(body, patch)
    content = export_binding(FootageExport.model_validate({"metadata": {"name": name}, "spec": dict(spec)}), uid="")
    payload = stamp_payload(
        username, groups, (str(namespace or ""), name), target=("FootageExport", str(namespace or ""), name),
        binding=content, time=_now(),
    )  # fmt: skip
    _annotate(
        patch,
        {
            REQUESTER_ANNOTATION: encode_identity(username, groups),
            REQUEST_STAMP_ANNOTATION: seal(memo.stamp_key, payload),
        },
    )


@kopf.on.mutate(GROUP, VERSION, "sharinggrants", id="note-grant-change", operations=["UPDATE"], side_effects=True)
def note_grant_change(patch: kopf.Patch, userinfo: kopf.UserInfo, dryrun: bool, **kwargs: Any) -> None:
    """A change of what a grant shares voids its approvals (the grant controller decides that); here the change
    is attributed: who changed which fields, in the audit trail and on the grant (R16)."""
    old, new = kwargs.get("old"), kwargs.get("new")
    if not old or not new:
        return
    try:
        before = SharingGrantSpec.model_validate(old.get("spec") or {})
        after = SharingGrantSpec.model_validate(new.get("spec") or {})
    except ValueError:
        return  # the API server's schema and CEL answer an invalid grant
    fields = changed_fields(before, after)
    if not fields:
        return
    username, groups = _identity(userinfo)
    _annotate(patch, {CHANGED_BY_ANNOTATION: encode_identity(username, groups)})
    if not dryrun:
        metadata = new.get("metadata", {})
        audit(
            "GrantContentChanged",
            f"SharingGrant {metadata.get('namespace')}/{metadata.get('name')}",
            "changed",
            f"{username} changed {', '.join(fields)}; approvals given before no longer count (R15)",
            actor=username,
            fields=fields,
        )


# The webhooks read the API server, not the controllers' caches: a standby replica, whose watches kopf
# pauses, must answer admission requests exactly as the active one does.


async def _stored(memo: OperatorContext, kind: str, namespace: str, name: str) -> Mapping[str, Any] | None:
    found = await get_or_none(memo.client, RESOURCES[kind], name, namespace)
    if found is None:
        return None
    stored: Mapping[str, Any] = found.to_dict()
    return stored


async def _unchanged_identity(
    memo: OperatorContext,
    kind: str,
    keys: tuple[str, ...],
    annotations: Mapping[str, str],
    namespace: str | None,
    name: str,
) -> None:
    stored = await _stored(memo, kind, namespace or "", name)
    recorded = (stored or {}).get("metadata", {}).get("annotations") or {}
    for key in keys:
        if annotations.get(key) != recorded.get(key):
            raise kopf.AdmissionError(
                f"{key} records who created this object and cannot be changed (rule R16)", code=403
            )


@kopf.on.validate(GROUP, VERSION, "grantapprovals", id="keep-approver", operations=["UPDATE"], persistent=True)
async def keep_approver(
    annotations: kopf.Annotations, namespace: str | None, name: str, memo: OperatorContext, **_: Any
) -> None:
    keys = (APPROVER_ANNOTATION, APPROVAL_STAMP_ANNOTATION)
    await _unchanged_identity(memo, "GrantApproval", keys, annotations, namespace, name)


@kopf.on.validate(GROUP, VERSION, "footageexports", id="keep-requester", operations=["UPDATE"], persistent=True)
async def keep_requester(
    annotations: kopf.Annotations, namespace: str | None, name: str, memo: OperatorContext, **_: Any
) -> None:
    keys = (REQUESTER_ANNOTATION, REQUEST_STAMP_ANNOTATION)
    await _unchanged_identity(memo, "FootageExport", keys, annotations, namespace, name)


@kopf.on.validate(GROUP, VERSION, "grantapprovals", id="check-approver", operations=["CREATE"], persistent=True)
async def check_approver(
    spec: kopf.Spec, namespace: str | None, name: str | None, userinfo: kopf.UserInfo, dryrun: bool,
    memo: OperatorContext, **_: Any,
) -> None:  # fmt: skip
    """Approvals are made by people (not from Git by a service account), of the owner department, once per verdict.

    Never by a service account such as a GitOps controller; in the cameras' owner department, not by the grantee's;
    a person's new decision on a grant supersedes their older one, a repeat of the same verdict is refused."""
    username, groups = _identity(userinfo)
    target = spec.get("target") or {}
    refusal = gitops_refusal(username)
    if refusal is not None:
        if not dryrun:
            refused = f"{target.get('kind')} {target.get('namespace') or namespace}/{target.get('name')}"
            audit("ApprovalRefused", f"GrantApproval {namespace}/{name or ''}", "refused", refusal, actor=username,
                  target=refused)  # fmt: skip
        raise kopf.AdmissionError(refusal, code=403)
    if target.get("kind") != "SharingGrant":
        return  # FootageExport approvals are counted by the export controller (requester excluded)
    grant_namespace, grant_name = str(target.get("namespace") or namespace), str(target.get("name"))
    # A grant that does not exist yet is no reason to refuse: GitOps tools apply in any order, and the
    # lifecycle counts only approvals made in the cameras' owner namespace.
    grant = await _stored(memo, "SharingGrant", grant_namespace, grant_name)
    owner = (grant or {}).get("spec", {}).get("cameras", {}).get("namespace")
    _check_departments(owner, namespace, username, groups, grant_namespace)
    current = grant_binding(SharingGrant.model_validate(grant)) if grant is not None else None
    verdict = str(spec.get("verdict"))
    await _check_repeated_decision(memo, namespace, (grant_namespace, grant_name), current, username, verdict)


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


async def _check_repeated_decision(
    memo: OperatorContext,
    namespace: str | None,
    grant: tuple[str, str],
    current: Binding | None,
    username: str,
    verdict: str,
) -> None:
    """Each person counts once on a grant as it is: two approvals come from two different people (R15). A person
    may change their mind (the newest decision counts; the older one stays as a record, superseded), but the same
    verdict again adds nothing and is refused (`repeat_refusal`)."""
    refusal = repeat_refusal(username, verdict, await _decisions_of(memo, namespace, grant, current, username))
    if refusal is not None:
        raise kopf.AdmissionError(refusal, code=403)


async def _decisions_of(
    memo: OperatorContext, namespace: str | None, grant: tuple[str, str], current: Binding | None, username: str
) -> list[PastDecision]:
    """`username`'s stamped decisions on the grant as it is now. One on content since changed (voided) or on an
    earlier grant of the same name is left out: it does not stop a new one."""
    found = []
    async for item in memo.client.list(RESOURCES["GrantApproval"], namespace=namespace or ""):
        existing = item.to_dict()
        target_of = existing.get("spec", {}).get("target", {})
        if (target_of.get("namespace") or namespace, target_of.get("name")) != grant:
            continue
        try:
            annotations = existing["metadata"].get("annotations") or {}
            stamp = read_stamp([memo.stamp_key], annotations.get(APPROVAL_STAMP_ANNOTATION))
        except StampError:
            continue  # never counts, so it stops nobody
        if stamp.username == username and (current is None or stamp.binding == current):
            metadata = existing["metadata"]
            made = stamp.time or str(metadata.get("creationTimestamp") or "")
            found.append(PastDecision(made, metadata["name"], str(existing.get("spec", {}).get("verdict"))))
    return found


# -- approvals are records (R16) ------------------------------------------------------------------------------

# Who deletes a namespace's objects when the namespace is deleted: kube-controller-manager's namespace controller,
# under its own service account (--use-service-account-credentials, the default of kubeadm and managed clusters)
# or the controller-manager's identity.
NAMESPACE_CONTROLLERS = frozenset(
    {"system:serviceaccount:kube-system:namespace-controller", "system:kube-controller-manager"}
)


async def _is_operator(memo: OperatorContext, username: str, groups: list[str], namespace: str) -> bool:
    """camfleet itself: this replica's identity, or one that may write RecordingPolicy status (another replica)."""
    if username in memo.operator_usernames:
        return True
    return await may_write_policy_status(memo.client, username, tuple(groups), namespace)


async def _being_deleted(memo: OperatorContext, kind: str, namespace: str, name: str) -> bool | None:
    """None when the object is gone; True when it is being deleted; False when it lives."""
    stored = await _stored(memo, kind, namespace, name)
    if stored is None:
        return None
    return bool(stored.get("metadata", {}).get("deletionTimestamp"))


async def _namespace_ending(memo: OperatorContext, namespace: str, username: str) -> bool:
    """Whether the approval's namespace is being deleted (or gone). When the operator may not read namespaces (the
    chart's cluster-wide role does not need to), the request of Kubernetes' namespace controller says so."""
    try:
        found = await get_or_none(memo.client, Namespace, namespace)
    except ApiError:
        return username in NAMESPACE_CONTROLLERS
    return found is None or bool(found.metadata and found.metadata.deletionTimestamp)


@kopf.on.validate(GROUP, VERSION, "grantapprovals", id="keep-approval-records", operations=["DELETE"], persistent=True)
async def keep_approval_records(
    userinfo: kopf.UserInfo, dryrun: bool, namespace: str | None, name: str | None, memo: OperatorContext,
    **kwargs: Any,
) -> None:  # fmt: skip
    """Approvals are records: none is deleted while its grant or export lives, except by the operator (R16)."""
    old = kwargs.get("old") or {}
    username, groups = _identity(userinfo)
    kind, target_namespace, target_name = _target_of(old, str(namespace or ""))
    target_state = await _being_deleted(memo, kind, target_namespace, target_name)
    context = RemovalContext(
        approval=f"{namespace}/{name}",
        target=f"{kind} {target_namespace}/{target_name}",
        verdict=str((old.get("spec") or {}).get("verdict") or ""),
        approver=_recorded_approver(old),
        target_lives=target_state is False,
        namespace_ending=await _namespace_ending(memo, str(namespace or ""), username),
        by_operator=await _is_operator(memo, username, groups, str(namespace or "")),
    )
    refusal = judge_removal(context)
    if not dryrun:
        audit(
            "ApprovalDeleted", f"GrantApproval {namespace}/{name}", "refused" if refusal else "admitted",
            refusal or context.why_admitted(), actor=username, groups=groups, target=context.target,
            verdict=context.verdict, approver=context.approver,
        )  # fmt: skip
    if refusal is not None:
        raise kopf.AdmissionError(refusal, code=403)


def _target_of(body: Mapping[str, Any], namespace: str) -> tuple[str, str, str]:
    target = (body.get("spec") or {}).get("target") or {}
    return str(target.get("kind") or "SharingGrant"), str(target.get("namespace") or namespace), str(target.get("name"))


def _recorded_approver(body: Mapping[str, Any]) -> str:
    approver = ((body.get("status") or {}).get("approver") or {}).get("username")
    return str(approver or "an unrecorded approver")
