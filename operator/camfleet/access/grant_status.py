"""A SharingGrant's status, decided without I/O from the lifecycle's verdict and the cameras it covers.

Conditions (all from `SharingGrantCondition`): Approved, Active, Expired, Revoked, Narrowed, Ready, and
CamerasFound and Reclassified once the controller knows the cameras. History gets one entry per decision.

ApprovalsVoided: the grant's content changed after approvals were given for it; they no longer count (R15).
`Approved` is Unknown with that reason while it waits for new approvals, and a grant that was Active is
`Revoked` with it. PermissionsNarrowed (`Narrowed` True): the grantee's level dropped permissions (R13).
CameraReclassified (`Reclassified` True): the classification authority withdrew covered cameras (R10, R13).
AwaitingAuthorization: an emergency grant waits for the emergency authority's authorization (R12).

Ready (with kstatus's Reconciling and Stalled): Ready is True whenever the grant is settled where its spec, the
clock and the approvers put it: Active, NotStarted (approved, period not begun), Expired, and also while it waits
for people (AwaitingApproval, AwaitingAuthorization: `Approved` is Unknown and says why), so Flux sees it Current,
not in progress forever. It is False only when the grant is Stalled: Denied (a new grant is needed), or the
cameras it names do not exist or its selector matches none (CamerasFound False) before it has ended.

Revoked: access the grant had (it was Active) taken away before its end without a denial or an expiry,
e.g. because its approvals were deleted. It stays True while the grant remains without access, and turns
False when the grant is active again, or ends for good (Denied, Expired: those conditions say why).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from datetime import datetime

from camfleet.access.lifecycle import AWAITING_AUTHORIZATION, GrantLifecycle, GrantPhase
from camfleet.api.common import CameraSelection
from camfleet.api.conditions import Condition
from camfleet.api.sharing_grant import (
    Decision,
    EffectiveCamera,
    HistoryEntry,
    SharingGrantCondition,
    SharingGrantStatus,
)
from camfleet.condition_merge import (
    DesiredCondition,
    Progress,
    condition_of,
    merge_conditions,
    progress_conditions,
    whole_seconds,
)

Cond = DesiredCondition[SharingGrantCondition]
C = SharingGrantCondition
HISTORY_LIMIT = 64
OPERATOR = "camfleet-operator"
HISTORY_DECISION = {
    GrantPhase.PENDING: Decision.REQUESTED,
    GrantPhase.APPROVED: Decision.APPROVED,
    GrantPhase.ACTIVE: Decision.ACTIVATED,
    GrantPhase.DENIED: Decision.DENIED,
    GrantPhase.EXPIRED: Decision.EXPIRED,
}
PHASE_OF_DECISION = {decision: phase for phase, decision in HISTORY_DECISION.items()}
ACTIVE_REASON = {
    GrantPhase.ACTIVE: "Active",
    GrantPhase.APPROVED: "NotStarted",
    GrantPhase.PENDING: "AwaitingApproval",
    GrantPhase.DENIED: "Denied",
    GrantPhase.EXPIRED: "Expired",
}
PHASE_OF_ACTIVE_REASON = {reason: phase for phase, reason in ACTIVE_REASON.items()} | {
    AWAITING_AUTHORIZATION: GrantPhase.PENDING
}
RECLASSIFIED_REASON = "CameraReclassified"
# Phases in which a grant that had access has merely lost it (a revocation), rather than ended.
WITHOUT_ACCESS = frozenset({GrantPhase.PENDING, GrantPhase.APPROVED})
REVOKED_REASON = {GrantPhase.PENDING: "ApprovalsWithdrawn", GrantPhase.APPROVED: "PeriodNotStarted"}
APPROVALS_VOIDED = "ApprovalsVoided"
PENDING_MESSAGE_LIMIT = 4096
PERMISSIONS_NARROWED = "PermissionsNarrowed"


def _pending_reason(lifecycle: GrantLifecycle) -> str:
    if lifecycle.voided:
        return APPROVALS_VOIDED
    if lifecycle.overdue:
        return "ApprovalOverdue"
    return AWAITING_AUTHORIZATION if lifecycle.pending_reason == AWAITING_AUTHORIZATION else "Pending"


def _is_true(conditions: Sequence[Condition], condition_type: SharingGrantCondition) -> bool:
    found = condition_of(conditions, condition_type)
    return found is not None and found.status == "True"


def revoked_condition(lifecycle: GrantLifecycle, current: Sequence[Condition]) -> Cond:
    """True when a grant that was Active (or already revoked) is without access before its end."""
    had_access = _is_true(current, C.ACTIVE) or _is_true(current, C.REVOKED)
    if lifecycle.phase in WITHOUT_ACCESS and had_access:
        why = lifecycle.reasons[0] if lifecycle.reasons else "the grant is no longer active"
        reason = APPROVALS_VOIDED if lifecycle.voided and lifecycle.phase is GrantPhase.PENDING else None
        return Cond(C.REVOKED, "True", reason or REVOKED_REASON[lifecycle.phase], f"access withdrawn: {why}")
    return Cond(C.REVOKED, "False", "NotRevoked", "access has not been withdrawn before the grant's end")


def grant_conditions(lifecycle: GrantLifecycle, current: Sequence[Condition] = ()) -> list[Cond]:
    phase = lifecycle.phase
    why = lifecycle.reasons[0] if lifecycle.reasons else ""
    # A pending grant says why each approval it has does not count ("approval x has no valid stamp ...").
    waiting = "; ".join(lifecycle.reasons)[:PENDING_MESSAGE_LIMIT]
    approved = {
        GrantPhase.PENDING: Cond(C.APPROVED, "Unknown", _pending_reason(lifecycle), waiting),
        GrantPhase.DENIED: Cond(C.APPROVED, "False", "Denied", why),
    }.get(phase, Cond(C.APPROVED, "True", "Approved", why))
    active_reason = lifecycle.pending_reason if phase is GrantPhase.PENDING else ACTIVE_REASON[phase]
    active = Cond(C.ACTIVE, "True" if phase is GrantPhase.ACTIVE else "False", active_reason, why)
    expired = Cond(
        C.EXPIRED,
        "True" if phase is GrantPhase.EXPIRED else "False",
        "Expired" if phase is GrantPhase.EXPIRED else "InForce",
        f"access ends at {lifecycle.expires_at.isoformat()}",
    )
    ready = Cond(C.READY, "False" if phase is GrantPhase.DENIED else "True", active_reason, why)
    return [approved, active, expired, revoked_condition(lifecycle, current), narrowed_condition(lifecycle), ready]


def grant_progress(lifecycle: GrantLifecycle, found: Cond | None) -> Progress:
    """Stalled when only a change can help: denied, or (before its end) cameras that do not exist."""
    if lifecycle.phase is GrantPhase.DENIED:
        return Progress(stuck=("Denied", lifecycle.reasons[0] if lifecycle.reasons else "the grant was denied"))
    if found is not None and found.status == "False" and lifecycle.phase is not GrantPhase.EXPIRED:
        return Progress(stuck=(found.reason, found.message))
    return Progress()


def _settled_ready(conditions: list[Cond], progress: Progress) -> list[Cond]:
    """Ready turns False with the stall's reason: a grant that cannot proceed is not settled, whatever its phase."""
    if progress.stuck is None:
        return conditions
    reason, message = progress.stuck
    return [Cond(C.READY, "False", reason, message) if c.type is C.READY else c for c in conditions]


def narrowed_condition(lifecycle: GrantLifecycle) -> Cond:
    """R13: whether the grantee's level dropped some of the asked permissions, which, and why."""
    if lifecycle.narrowed:
        return Cond(C.NARROWED, "True", PERMISSIONS_NARROWED, lifecycle.narrowed)
    return Cond(C.NARROWED, "False", "AsRequested", "the grantee's level allows every permission asked (R13)")


def cameras_found(selection: CameraSelection, existing: Collection[str], selected: int) -> Cond:
    """Whether what the grant names exists: a typo in a name otherwise leaves an Active grant for nothing."""
    if selection.names is not None:
        missing = sorted(set(selection.names) - set(existing))
        if missing:
            listed = ", ".join(missing[:10]) + (f" and {len(missing) - 10} more" if len(missing) > 10 else "")
            return Cond(
                C.CAMERAS_FOUND, "False", "CameraNotFound", f"no camera {listed} in namespace {selection.namespace}"
            )
    elif selected == 0:
        return Cond(
            C.CAMERAS_FOUND, "False", "NoCameraSelected", f"the selector matches no camera in {selection.namespace}"
        )
    return Cond(C.CAMERAS_FOUND, "True", "Found", f"{selected} camera(s) named or selected")


def reclassified(current: SharingGrantStatus, withheld: Mapping[str, str]) -> tuple[Cond, list[str]]:
    """Cameras the grant covered (or already reported) that are now withheld by their classification (R10, R13).

    `withheld`: covered cameras on which the grant allows nothing, with why. A camera the grant never had (a
    selector that always matched a NotShared camera) is not news; one it had is, until it is shared again.
    """
    before = {camera.name for camera in current.effective_cameras} | set(current.reclassified_cameras)
    names = sorted(name for name in withheld if name in before)
    if not names:
        return Cond(
            C.RECLASSIFIED, "False", "NotReclassified", "no camera of the grant was withdrawn by a reclassification"
        ), []
    listed = "; ".join(f"{name}: {withheld[name]}" for name in names[:10])
    more = f" and {len(names) - 10} more" if len(names) > 10 else ""
    message = f"the classification authority reclassified camera(s) this grant covered, now withheld: {listed}{more}"
    return Cond(C.RECLASSIFIED, "True", RECLASSIFIED_REASON, message[:32768]), names


# Entries that record what happened to an approval, not a decision about the grant's phase.
APPROVAL_RECORDS = frozenset({Decision.SUPERSEDED, Decision.APPROVAL_REMOVED})


def last_phase_decision(history: Sequence[HistoryEntry]) -> Decision | None:
    return next((entry.decision for entry in reversed(history) if entry.decision not in APPROVAL_RECORDS), None)


def approval_records(
    current: Sequence[HistoryEntry], lifecycle: GrantLifecycle, removed: Sequence[tuple[str, str]], now: datetime
) -> list[HistoryEntry]:
    """New history entries for decisions superseded (once each) and approvals removed (`removed`: name, message)."""
    told = {entry.approval for entry in current if entry.decision == Decision.SUPERSEDED}
    entries = [
        HistoryEntry(
            time=whole_seconds(now),
            decision=Decision.SUPERSEDED,
            actor=change.person[:253],
            approval=change.older,
            message=change.describe()[:1024],
        )
        for change in lifecycle.superseded
        if change.older not in told
    ]
    entries += [
        HistoryEntry(time=whole_seconds(now), decision=Decision.APPROVAL_REMOVED, approval=name, message=message[:1024])
        for name, message in removed
    ]
    return entries


def _history(
    current: Sequence[HistoryEntry],
    lifecycle: GrantLifecycle,
    revoked: Cond,
    now: datetime,
    removed: Sequence[tuple[str, str]] = (),
) -> list[HistoryEntry]:
    decision = Decision.REVOKED if revoked.status == "True" else HISTORY_DECISION[lifecycle.phase]
    current = [*current, *approval_records(current, lifecycle, removed, now)]
    if current and last_phase_decision(current) == decision:
        return current[-HISTORY_LIMIT:]
    actor = OPERATOR
    if lifecycle.phase in (GrantPhase.APPROVED, GrantPhase.ACTIVE) and lifecycle.approved_by and decision != "Revoked":
        actor = ", ".join(lifecycle.approved_by)[:253]
    message = lifecycle.reasons[0][:1024] if lifecycle.reasons else None
    entry = HistoryEntry(time=whole_seconds(now), decision=decision, actor=actor, message=message)
    return [*current, entry][-HISTORY_LIMIT:]


def grant_status(
    current: SharingGrantStatus | None,
    generation: int,
    lifecycle: GrantLifecycle,
    cameras: Sequence[EffectiveCamera],
    now: datetime,
    found: Cond | None = None,
    withheld: Mapping[str, str] | None = None,
    removed: Sequence[tuple[str, str]] = (),
) -> tuple[SharingGrantStatus, list[Cond]]:
    """The grant's whole new status (equal to `current` when nothing changed) and the conditions it holds.

    `withheld`: covered cameras the grant allows nothing on (see `reclassified`); None leaves that out.
    `removed`: approvals of the grant deleted since the last status (name, what it was), for the history.
    Reconciling and Stalled (kstatus) are in status only: they restate the returned conditions."""
    current = current or SharingGrantStatus()
    conditions = grant_conditions(lifecycle, current.conditions) + ([found] if found is not None else [])
    withdrawn: list[str] = []
    if withheld is not None:
        reclass, withdrawn = reclassified(current, withheld)
        conditions.append(reclass)
    revoked = next(c for c in conditions if c.type is C.REVOKED)
    progress = grant_progress(lifecycle, found)
    conditions = _settled_ready(conditions, progress)
    kstatus = progress_conditions(C.RECONCILING, C.STALLED, progress)
    status = SharingGrantStatus(
        observed_generation=generation,
        conditions=merge_conditions(current.conditions, [*conditions, *kstatus], generation, now),
        approval_due_time=whole_seconds(lifecycle.approval_due) if lifecycle.approval_due is not None else None,
        approvals_required=lifecycle.approvals_required,
        approved_by=list(lifecycle.approved_by),
        effective_cameras=list(cameras),
        history=_history(current.history, lifecycle, revoked, now, removed),
        reclassified_cameras=withdrawn,
    )
    return status, conditions


def phase_of_status(status: SharingGrantStatus | None) -> GrantPhase | None:
    """The phase a stored status describes (after a restart), from its last decision."""
    if status is None:
        return None
    decision = last_phase_decision(status.history)
    if decision is None:
        return None
    if decision == Decision.REVOKED:
        active = condition_of(status.conditions, C.ACTIVE)
        return PHASE_OF_ACTIVE_REASON.get(active.reason) if active is not None else None
    return PHASE_OF_DECISION.get(decision)
