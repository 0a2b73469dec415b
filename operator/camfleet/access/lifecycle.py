"""The SharingGrant lifecycle as a pure decision (R10, R11, R12, R15).

- emergency (R12): approved at once, active from its start until its hard expiry (at most 72 hours);
- live view of Unconditional data: approved at once (R10; the API needs no application for it either);
- anything else, i.e. Conditional data or recordings or control (R11, R15): pending until two distinct
  people in the camera owner's department approve, due 3 working days after the request;
- NotShared data without an emergency, or any counted denial: denied;
- past its end (or hard expiry): expired.

Approvals bind (R15): only approvals whose verified stamp names this grant's uid, generation and content digest
count (`access.approvals`). A change of content after an approval voids it: the grant is Pending again with
`voided` set, which the status reports as `ApprovalsVoided`.

Levels bind (R13): the grant gives at most what the grantee's level lets it receive (`tier_table.narrow_to_level`);
`permissions` is what is left, `narrowed` says what was dropped and why. A grant left with nothing is denied.

The grant's own `shareClass` and permissions decide how many approvals it needs, not the cameras its
selector happens to match today: the requirement must not change under the approvers' feet when labels
change. Selected cameras more protected than the grant's share class are only left out.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from camfleet.access.approvals import ApprovalFacts, ApprovalTally, tally_approvals
from camfleet.access.city_time import DEFAULT_CALENDAR, CityCalendar, require_aware, working_days_after
from camfleet.access.grants import SHARE_CLASS_PROTECTION, grant_binding, hard_expiry
from camfleet.access.tier_table import Narrowing, Permissions, narrow_to_level
from camfleet.api.camera import ShareClass
from camfleet.api.sharing_grant import Permission, SharingGrant, SharingGrantSpec

APPROVALS_NEEDED = 2
"""R15: two staff."""
ANSWER_WITHIN_WORKING_DAYS = 3
"""R11: ZY-2024 art. 18."""


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


def approvals_required(spec: SharingGrantSpec) -> int:
    if spec.emergency is not None:
        return 0
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
) -> GrantLifecycle:
    """The grant's phase at `now`.

    `camera_share_classes`: share class of each camera the grant's selection covers, by name.
    `requested_at`: when the grant was requested; its creation time unless given.
    `level`: the grantee department's best level in force at `now` (None: it holds none).
    """
    require_aware(now)
    spec, grantee, name = grant.spec, grant.metadata.namespace, grant.metadata.name
    requested = requested_at or grant.metadata.creation_timestamp
    if not grantee or not name or requested is None:
        raise ValueError("a grant needs metadata.namespace, metadata.name and its request time to be decided")

    required = approvals_required(spec)
    tally = tally_approvals(grantee, name, spec.cameras.namespace, approvals, grant_binding(grant))
    narrowing = narrow_to_level(frozenset(spec.permissions), level)
    expires = hard_expiry(spec)
    answer_due = approval_due(requested, calendar)
    due = answer_due if required else None
    notes = [*_left_out(spec, camera_share_classes), *([narrowing.because] if narrowing.dropped else [])]
    notes += tally.not_counted

    def outcome(phase: GrantPhase, why: str, next_change: datetime | None, overdue: bool = False) -> GrantLifecycle:
        return GrantLifecycle(
            phase, (why, *notes), required, tally.approved_by, due, overdue, expires, next_change,
            narrowing.kept, narrowing.because, tally.voided,
        )  # fmt: skip

    denial = _denial(spec, camera_share_classes, tally, narrowing)
    if denial is not None:
        return outcome(GrantPhase.DENIED, denial, None)
    approval = _approval(spec, required, tally, expires)
    if now >= expires:
        never = "" if approval is not None else " before it was approved"
        return outcome(GrantPhase.EXPIRED, f"access ended at {expires.isoformat()}{never}", None)
    if approval is None:
        missing = required - len(tally.approved_by)
        overdue = now >= answer_due
        late = "; the answer is overdue" if overdue else ""
        voided = "approvals voided by a change of the grant's content; " if tally.voided else ""
        why = (
            f"{voided}waiting for {missing} more approval(s) from distinct people of {spec.cameras.namespace} (R15);"
            f" answer due by {answer_due.isoformat()} (R11){late}"
        )
        return outcome(GrantPhase.PENDING, why, expires if overdue else min(answer_due, expires), overdue)
    if now < spec.period.start:
        return outcome(GrantPhase.APPROVED, f"{approval}; starts at {spec.period.start.isoformat()}", spec.period.start)
    return outcome(GrantPhase.ACTIVE, f"{approval}; until {expires.isoformat()}", expires)


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
        capped = " (capped at 72 hours)" if expires < spec.period.end else ""
        return f"emergency access for incident {spec.emergency.incident_reference} is approved at once{capped} (R12)"
    if required == 0:
        return "live view of Unconditional data is shared at once (R10)"
    if len(tally.approved_by) >= required:
        return f"approved by {', '.join(tally.approved_by)}: {required} distinct people (R15)"
    return None


def _left_out(spec: SharingGrantSpec, camera_share_classes: Mapping[str, ShareClass]) -> list[str]:
    return [
        f"camera {name} is {share_class}, more protected than the grant's {spec.share_class}: left out (R10)"
        for name, share_class in sorted(camera_share_classes.items())
        if SHARE_CLASS_PROTECTION[share_class] > SHARE_CLASS_PROTECTION[spec.share_class]
    ]
