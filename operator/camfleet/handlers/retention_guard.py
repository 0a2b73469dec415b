"""The admission guard of retention volumes (R3): their retention state is camfleet's, not whoever may patch a claim.

Validating webhook on camfleet's retention volumes only (objectSelector on `camfleet.io/retention-volume`), on
update and delete. It refuses, naming rule R3: an earlier `retain-until`, removing or setting it by anyone but
camfleet, touching camfleet's record of the release, setting or lifting a legal hold by anyone but the
legal-hold authority (camfleet itself sets what the volume's policy says), and deleting a volume inside its
retention or under a legal hold, by anyone, camfleet included. The decisions are pure (recording/holds.py);
every admitted hold change and every refusal is an audit record naming who asked.

The same rule on the other door to a hold: a RecordingPolicy's `spec.legalHold`. camfleet lifts its volumes'
holds when their policy lifts its own, so lifting or changing a policy's hold in force is the legal-hold
authority's alone (setting one is anyone's who may edit the policy: it only keeps recordings).

And on each camera's chain checkpoint ConfigMap `<camera>-chain` (objectSelector on its component label): only
camfleet changes it; it is deleted by camfleet, or by garbage collection with its retention volume.

It reads the API server (the policy), not the controllers' caches: a standby replica answers the same.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import kopf
from lightkube.core.exceptions import ApiError

from camfleet.api import GROUP, VERSION
from camfleet.kube.apply import get_or_none
from camfleet.kube.identity import may_write_policy_status
from camfleet.kube.resources import RESOURCES
from camfleet.observability.audit import audit
from camfleet.operator_context import OperatorContext
from camfleet.recording.holds import (
    LEGAL_HOLD,
    PROTECTED_ANNOTATIONS,
    GuardSettings,
    PolicyHold,
    Requester,
    checkpoint_refusal,
    groups_of,
    hold_change,
    judge_delete,
    judge_update,
    policy_hold,
    policy_hold_change,
    policy_hold_refusal,
)
from camfleet.recording.workloads import (
    CHAIN_CHECKPOINT_COMPONENT,
    COMPONENT_LABEL,
    POLICY_LABEL,
    RETENTION_VOLUME_LABEL,
)


def _meta(body: Mapping[str, Any] | None, key: str) -> dict[str, str]:
    return dict(((body or {}).get("metadata") or {}).get(key) or {})


async def guard_settings(memo: OperatorContext, who: Requester, namespace: str, ask: bool) -> GuardSettings:
    """Whom the guard takes for camfleet: its own identity, or (asked only with `ask`: when what is judged is
    camfleet's alone) a requester that may write RecordingPolicy status, which only camfleet operators may
    (another replica, shard or release)."""
    operators = set(memo.operator_usernames)
    if (
        ask
        and who.username not in operators
        and await may_write_policy_status(memo.client, who.username, who.groups, namespace)
    ):
        operators.add(who.username)
    # The legal-hold authority: the CamfleetAuthorities configuration's members, and the groups given by flag
    # (`--legal-hold-group`, the chart's authorities.legalHoldGroups) for clusters without that configuration.
    configured = memo.authorities.current
    members = configured.spec.legal_hold if configured is not None else None
    return GuardSettings(
        operator_usernames=frozenset(operators),
        legal_hold_groups=frozenset(memo.config.legal_hold_groups) | frozenset(members.groups if members else ()),
        floor_days=memo.config.retention_floor_days,
        legal_hold_users=frozenset(members.users if members else ()),
    )


async def _policy_hold(
    memo: OperatorContext, namespace: str, old: Mapping[str, Any], new: Mapping[str, Any]
) -> PolicyHold:
    """What the volume's (new) policy says about a legal hold, for camfleet's own writes."""
    name = _meta(new, "labels").get(POLICY_LABEL)
    value = None
    if name:
        try:
            found = await get_or_none(memo.client, RESOURCES["RecordingPolicy"], name, namespace)
        except ApiError:
            found = None
        hold = ((found.to_dict() if found is not None else {}).get("spec") or {}).get("legalHold") or {}
        if hold.get("enabled"):
            value = str(hold.get("reference") or "enabled")
    return PolicyHold(same_policy=name == _meta(old, "labels").get(POLICY_LABEL), value=value)


def _refuse(
    why: str, who: Requester, obj: str, action: str, dryrun: bool, kind: str = "PersistentVolumeClaim", **details: Any
) -> None:
    if not dryrun:
        audit(action, f"{kind} {obj}", "refused", why, actor=who.username, groups=list(who.groups), **details)
    raise kopf.AdmissionError(why, code=403)


@kopf.on.validate(
    "", "v1", "persistentvolumeclaims", id="guard-retention", operations=["UPDATE", "DELETE"],
    labels={RETENTION_VOLUME_LABEL: "true"}, persistent=True,
)  # fmt: skip
async def guard_retention(
    userinfo: kopf.UserInfo, dryrun: bool, namespace: str | None, name: str, memo: OperatorContext, **kwargs: Any
) -> None:
    """Retention volumes: no earlier retain-until, no deletion inside retention, legal holds by their authority (R3)."""
    operation, old, new = kwargs.get("operation"), kwargs.get("old"), kwargs.get("new")
    who = Requester(str(userinfo.get("username", "")), groups_of(userinfo.get("groups")))
    volume = f"{namespace}/{name}"
    if operation == "DELETE":
        why = judge_delete(volume, _meta(old, "annotations"), datetime.now(UTC), memo.config.retention_floor_days)
        if why is not None:
            _refuse(why, who, volume, "DeleteRecordings", dryrun)
        return
    before, after = _meta(old, "annotations"), _meta(new, "annotations")
    touched = any(before.get(key) != after.get(key) for key in PROTECTED_ANNOTATIONS)  # camfleet's retention state
    settings = await guard_settings(memo, who, str(namespace), ask=touched)
    policy = await _policy_hold(memo, str(namespace), old or {}, new or {}) if hold_change(before, after) else None
    why = judge_update(volume, before, after, (_meta(old, "labels"), _meta(new, "labels")), who, settings, policy)
    if why is not None:
        _refuse(why, who, volume, "ChangeRetention", dryrun)
    change = hold_change(before, after)
    if change is not None and not dryrun:
        audit(
            change,
            f"PersistentVolumeClaim {volume}",
            "admitted",
            f"legal hold {after.get(LEGAL_HOLD) or before.get(LEGAL_HOLD)} (rule R3)",
            actor=who.username,
            groups=list(who.groups),
            previous=before.get(LEGAL_HOLD),
            current=after.get(LEGAL_HOLD),
        )


@kopf.on.validate(
    GROUP, VERSION, "recordingpolicies", id="guard-policy-hold", operations=["UPDATE", "DELETE"], persistent=True
)
async def guard_policy_hold(
    userinfo: kopf.UserInfo, dryrun: bool, namespace: str | None, name: str, memo: OperatorContext, **kwargs: Any
) -> None:
    """A RecordingPolicy's legal hold in force is lifted, changed or deleted by the legal-hold authority only (R3)."""
    deleting = kwargs.get("operation") == "DELETE"
    old, new = kwargs.get("old") or {}, ({} if deleting else kwargs.get("new") or {})
    before = policy_hold((old.get("spec") or {}).get("legalHold"))
    after = policy_hold((new.get("spec") or {}).get("legalHold"))
    if before == after:
        return
    who = Requester(str(userinfo.get("username", "")), groups_of(userinfo.get("groups")))
    policy = f"{namespace}/{name}"
    settings = await guard_settings(memo, who, str(namespace), ask=False)
    why = policy_hold_refusal(policy, before, after, who, settings, deleting)
    change = str(policy_hold_change(before, after))
    if why is not None:
        _refuse(why, who, policy, change, dryrun, kind="RecordingPolicy", previous=before, current=after)
    if not dryrun:
        audit(change, f"RecordingPolicy {policy}", "admitted", f"legal hold {after or before} (rule R3)",
              actor=who.username, groups=list(who.groups), previous=before, current=after)  # fmt: skip


@kopf.on.validate(
    "", "v1", "configmaps", id="guard-chain-checkpoint", operations=["UPDATE", "DELETE"],
    labels={COMPONENT_LABEL: CHAIN_CHECKPOINT_COMPONENT}, persistent=True,
)  # fmt: skip
async def guard_chain_checkpoint(
    userinfo: kopf.UserInfo, dryrun: bool, namespace: str | None, name: str, memo: OperatorContext, **kwargs: Any
) -> None:
    """A camera's chain checkpoint is camfleet's: nobody else changes or deletes it (R3)."""
    who = Requester(str(userinfo.get("username", "")), groups_of(userinfo.get("groups")))
    settings = await guard_settings(memo, who, str(namespace), ask=True)
    checkpoint = f"{namespace}/{name}"
    why = checkpoint_refusal(checkpoint, str(kwargs.get("operation")), who, settings)
    if why is not None:
        _refuse(why, who, checkpoint, "ChangeChainCheckpoint", dryrun, kind="ConfigMap")
