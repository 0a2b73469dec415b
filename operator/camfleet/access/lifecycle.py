"""The SharingGrant lifecycle as a pure decision (R10, R11, R12, R15).

- emergency (R12): pending (AwaitingAuthorization) until one member of the emergency authority (CamfleetAuthorities)
  approves it, in the cameras' owner namespace; then active from its start until its hard expiry (at most 72
  hours). Only the emergency authority's decisions count on an emergency grant;
- live view of Unconditional data: approved at once (R10; the API needs no application for it either);
- anything else, i.e. Conditional data or recordings or control (R11, R15): pending until two distinct
  people in the camera owner's department approve, due 3 working days after the request;
- NotShared data without an emergency, or any counted denial: denied;
- past its end (or hard expiry): expired.

Approvals bind (R15): only approvals whose verified stamp names this grant's uid, generation and content digest
count (`access.approvals`), an emergency authority's authorization (R12) as much as any. A change of content after an
approval voids it: the grant is Pending again with `voided` set, which the status reports as `ApprovalsVoided`.

Levels bind (R13): the grant gives at most what the grantee's level lets it receive (`tier_table.narrow_to_level`);
`permissions` is what is left, `narrowed` says what was dropped and why. A grant left with nothing is denied. This
holds for emergency grants too.

The grant's own `shareClass` and permissions decide how many approvals it needs, not the cameras its
selector happens to match today: the requirement must not change under the approvers' feet when labels
change. Selected cameras more protected than the grant's share class are only left out.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from camfleet.access.approvals import ApprovalFacts, ApprovalTally, Supersession, tally_approvals
from camfleet.access.city_time import DEFAULT_CALENDAR, CityCalendar, require_aware, working_days_after
from camfleet.access.grants import SHARE_CLASS_PROTECTION, grant_binding, hard_expiry
from camfleet.access.tier_table import Narrowing, Permissions, narrow_to_level
from camfleet.api.authorities import AuthorityMembers
from camfleet.api.camera import ShareClass
from camfleet.api.sharing_grant import Permission, SharingGrant, SharingGrantSpec

APPROVALS_NEEDED = 2
"""R15: two staff."""
ANSWER_WITHIN_WORKING_DAYS = 3
"""R11: ZY-2024 art. 18."""
AUTHORIZATIONS_NEEDED = 1
"""R12: one member of the emergency authority authorizes an emergency grant."""
AWAITING_APPROVAL = "AwaitingApproval"
AWAITING_AUTHORIZATION = "AwaitingAuthorization"


class GrantPhase(StrEnum):
    PENDING = "Pending"
    APPROVED = "Approved"
    """Approved, and its period has not started yet."""
    ACTIVE = "Active"
    DENIED = "Denied"
    EXPIRED = "Expired"


@dataclass(frozen=True)
class GrantLifecycle:
    phase: GrantPhase
    reasons: tuple[str, ...]
    approvals_required: int
    approved_by: tuple[str, ...]
    approval_due: datetime | None
    """End of the third working day after the request, for grants that need approvals."""
    overdue: bool
    """Still pending after `approval_due`."""
    expires_at: datetime
    next_change: datetime | None
    """When the phase (or the overdue flag) next changes by the clock alone; None when only new input changes it."""
    permissions: Permissions = frozenset()
    """What the grant gives once the grantee's level is applied (R13)."""
    narrowed: str = ""
    """What the level dropped from the asked permissions and why; empty when nothing was."""
    voided: tuple[str, ...] = ()
    """Approvals of this grant voided by a change of its content since they were given."""
    pending_reason: str = AWAITING_APPROVAL
    """What a pending grant waits for: approvals (R15), or an emergency authority's authorization (R12)."""
    superseded: tuple[Supersession, ...] = ()
    """Decisions people replaced with newer ones (recorded in the grant's history)."""


def approvals_required(spec: SharingGrantSpec) -> int:
    if spec.emergency is not None:
        return AUTHORIZATIONS_NEEDED
    if spec.share_class == ShareClass.UNCONDITIONAL and set(spec.permissions) <= {Permission.LIVE_VIEW}:
        return 0
    return APPROVALS_NEEDED


def approval_due(requested_at: datetime, calendar: CityCalendar = DEFAULT_CALENDAR) -> datetime:
    """The end (local midnight) of the third working day after the day of the request."""
    last_day = working_days_after(calendar.local_date(requested_at), ANSWER_WITHIN_WORKING_DAYS, calendar)
    return calendar.start_of_day(last_day + timedelta(days=1))


def grant_phase(
    grant: SharingGrant,
    camera_share_classes: Mapping[str, ShareClass],
    approvals: Iterable[ApprovalFacts],
    now: datetime,
    calendar: CityCalendar = DEFAULT_CALENDAR,
    *,
    requested_at: datetime | None = None,
    level: int | None = None,
    emergency_authority: AuthorityMembers | None = None,
) -> GrantLifecycle:
    """The grant's phase at `now`.

    `camera_share_classes`: share class of each camera the grant's selection covers, by name.
    `requested_at`: when the grant was requested; its creation time unless given.
    `level`: the grantee department's best level in force at `now` (None: it holds none).
    `emergency_authority`: who may authorize emergency grants (None: nobody is configured, none is authorized).
    """
    require_aware(now)
    spec, grantee, name = grant.spec, grant.metadata.namespace, grant.metadata.name
    requested = requested_at or grant.metadata.creation_timestamp
    if not grantee or not name or requested is None:
        raise ValueError("a grant needs metadata.namespace, metadata.name and its request time to be decided")

    required = approvals_required(spec)
    tally = _tally(grant, grantee, name, approvals, emergency_authority)
    narrowing = narrow_to_level(frozenset(spec.permissions), level)
    expires = hard_expiry(spec)
    answer_due = approval_due(requested, calendar)
    due = answer_due if required and spec.emergency is None else None
    notes = [*_left_out(spec, camera_share_classes), *([narrowing.because] if narrowing.dropped else [])]
    notes += tally.not_counted
    waits_for = AWAITING_AUTHORIZATION if spec.emergency is not None else AWAITING_APPROVAL

    def outcome(phase: GrantPhase, why: str, next_change: datetime | None, overdue: bool = False) -> GrantLifecycle:
        return GrantLifecycle(
            phase, (why, *notes), required, tally.approved_by, due, overdue, expires, next_change,
            narrowing.kept, narrowing.because, tally.voided, waits_for, tally.superseded,
        )  # fmt: skip

    denial = _denial(spec, camera_share_classes, tally, narrowing)
    if denial is not None:
        return outcome(GrantPhase.DENIED, denial, None)
    approval = _approval(spec, required, tally, expires)
    if now >= expires:
        never = "" if approval is not None else " before it was approved"
        return outcome(GrantPhase.EXPIRED, f"access ended at {expires.isoformat()}{never}", None)
    if approval is None:
        why, next_change, overdue = _waiting(spec, required - len(tally.approved_by), answer_due, expires, now,
                                             emergency_authority)  # fmt: skip
        voided = "approvals voided by a change of the grant's content; " if tally.voided else ""
        return outcome(GrantPhase.PENDING, f"{voided}{why}", next_change, overdue)
    if now < spec.period.start:
        return outcome(GrantPhase.APPROVED, f"{approval}; starts at {spec.period.start.isoformat()}", spec.period.start)
    return outcome(GrantPhase.ACTIVE, f"{approval}; until {expires.isoformat()}", expires)


def _tally(
    grant: SharingGrant,
    grantee: str,
    name: str,
    approvals: Iterable[ApprovalFacts],
    emergency_authority: AuthorityMembers | None,
) -> ApprovalTally:
    """The decisions that count: bound to the grant as it is (R15), and on an emergency grant only those of the
    emergency authority (R12)."""
    approvals = tuple(approvals)
    tally = tally_approvals(grantee, name, grant.spec.cameras.namespace, approvals, grant_binding(grant))
    if grant.spec.emergency is not None:
        tally = authority_tally(tally, approvals, emergency_authority)
    return tally


def _waiting(
    spec: SharingGrantSpec,
    missing: int,
    answer_due: datetime,
    expires: datetime,
    now: datetime,
    emergency_authority: AuthorityMembers | None,
) -> tuple[str, datetime, bool]:
    """Why a pending grant waits, when that next changes by the clock, and whether the answer is overdue."""
    if spec.emergency is not None:
        why = (
            f"emergency access for incident {spec.emergency.incident_reference} waits for the special authorization"
            f" of the emergency authority ({_members(emergency_authority)}): an Approve GrantApproval in"
            f" {spec.cameras.namespace} (R12)"
        )
        return why, expires, False
    overdue = now >= answer_due
    late = "; the answer is overdue" if overdue else ""
    why = (
        f"waiting for {missing} more approval(s) from distinct people of {spec.cameras.namespace} (R15);"
        f" answer due by {answer_due.isoformat()} (R11){late}"
    )
    return why, expires if overdue else min(answer_due, expires), overdue


def _denial(
    spec: SharingGrantSpec, camera_share_classes: Mapping[str, ShareClass], tally: ApprovalTally, narrowing: Narrowing
) -> str | None:
    if not narrowing.kept:
        return f"nothing left to give: {narrowing.because}"
    if spec.emergency is None:
        if spec.share_class == ShareClass.NOT_SHARED:
            return "NotShared data is shared only through an emergency grant (R10)"
        classes = set(camera_share_classes.values())
        if classes == {ShareClass.NOT_SHARED}:
            return "every selected camera is NotShared, which is shared only through an emergency grant (R10)"
    if tally.denials:
        return "; ".join(
            f"denied by {denial.approver} in {denial.name}: {denial.reason or 'no reason given'}"
            for denial in tally.denials
        )
    return None


def _approval(spec: SharingGrantSpec, required: int, tally: ApprovalTally, expires: datetime) -> str | None:
    """Why the grant is approved, or None while it waits."""
    if spec.emergency is not None:
        if not tally.approved_by:
            return None
        capped = " (capped at 72 hours)" if expires < spec.period.end else ""
        return (
            f"emergency access for incident {spec.emergency.incident_reference} authorized by"
            f" {', '.join(tally.approved_by)} of the emergency authority{capped} (R12)"
        )
    if required == 0:
        return "live view of Unconditional data is shared at once (R10)"
    if len(tally.approved_by) >= required:
        return f"approved by {', '.join(tally.approved_by)}: {required} distinct people (R15)"
    return None


def _members(authority: AuthorityMembers | None) -> str:
    return "not configured" if authority is None else authority.describe()


def authority_tally(
    tally: ApprovalTally, approvals: Iterable[ApprovalFacts], authority: AuthorityMembers | None
) -> ApprovalTally:
    """Of the decisions that count, keep those of members of `authority`; the others are listed as not counted.

    On an emergency grant only the emergency authority decides (R12): the owner department's staff neither
    authorize nor deny it.
    """
    groups: dict[str, frozenset[str]] = {}
    for approval in approvals:
        if approval.approver is not None:
            groups[approval.approver] = groups.get(approval.approver, frozenset()) | approval.approver_groups

    def member(who: str | None) -> bool:
        return authority is not None and who is not None and authority.includes(who, groups.get(who, frozenset()))

    outsiders = sorted({who for who in tally.approved_by if not member(who)})
    outsiders += sorted({d.approver for d in tally.denials if d.approver is not None and not member(d.approver)})
    not_counted = [
        f"{who} is not a member of the emergency authority: only it decides on an emergency grant (R12)"
        for who in outsiders
    ]
    return ApprovalTally(
        tuple(who for who in tally.approved_by if member(who)),
        tuple(d for d in tally.denials if member(d.approver)),
        (*tally.not_counted, *not_counted),
        tally.voided,
        tally.superseded,
    )


def _left_out(spec: SharingGrantSpec, camera_share_classes: Mapping[str, ShareClass]) -> list[str]:
    return [
        f"camera {name} is {share_class}, more protected than the grant's {spec.share_class}: left out (R10)"
        for name, share_class in sorted(camera_share_classes.items())
        if SHARE_CLASS_PROTECTION[share_class] > SHARE_CLASS_PROTECTION[spec.share_class]
    ]
