"""A GrantApproval's status: the approver identity from the webhook's verified stamp, and when it was recorded
(R15, R16).

`status.approver` is always what the verified stamp says, never what status already held: a preset approver (a
status write by someone who may write status) is overwritten, and an approval without a valid stamp (made while
the webhook was not called, or with a typed or copied stamp) is reported as never counting, with the reason.
"""

from __future__ import annotations

from datetime import datetime

from camfleet.api.grant_approval import Approver, GrantApprovalCondition, GrantApprovalStatus
from camfleet.condition_merge import DesiredCondition, Progress, merge_conditions, progress_conditions, whole_seconds

C = GrantApprovalCondition
READY = C.READY
SETTLED = progress_conditions(C.RECONCILING, C.STALLED, Progress())
NOT_STAMPED = "created while the admission webhook was not serving"


def approval_status(
    current: GrantApprovalStatus | None,
    generation: int,
    identity: tuple[str, list[str]] | None,
    now: datetime,
    problem: str | None = None,
) -> GrantApprovalStatus:
    """`identity` is the (username, groups) of the verified stamp, None when there is none (`problem`: why)."""
    current = current or GrantApprovalStatus()
    if identity is None:
        message = f"{problem or NOT_STAMPED}; not counted"
        ready = DesiredCondition(READY, "False", "IdentityNotRecorded", message)
        # Stalled: the approval will never count; only a new approval (made with the webhook serving) helps.
        stalled = progress_conditions(C.RECONCILING, C.STALLED, Progress(stuck=("IdentityNotRecorded", message)))
        return GrantApprovalStatus(
            observed_generation=generation,
            conditions=merge_conditions(current.conditions, [ready, *stalled], generation, now),
        )
    approver = Approver(username=identity[0], groups=identity[1])
    # The stamp is sealed and cannot change: recorded once; a different approver in status was not ours.
    recorded = current.recorded_time if current.approver == approver else None
    ready = DesiredCondition(READY, "True", "Recorded", f"decision by {approver.username} recorded in the audit trail")
    return GrantApprovalStatus(
        observed_generation=generation,
        approver=approver,
        recorded_time=recorded or whole_seconds(now),
        conditions=merge_conditions(current.conditions, [ready, *SETTLED], generation, now),
    )
