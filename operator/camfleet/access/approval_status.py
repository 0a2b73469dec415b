"""A GrantApproval's status: the approver identity the webhook stamped, recorded once (R15, R16).

An approval without a stamped identity (made while the webhook was not serving) is reported and never counted.
"""

from __future__ import annotations

from datetime import datetime

from camfleet.api.grant_approval import Approver, GrantApprovalCondition, GrantApprovalStatus
from camfleet.conditions import DesiredCondition, merge_conditions, whole_seconds

READY = GrantApprovalCondition.READY


def approval_status(
    current: GrantApprovalStatus | None, generation: int, identity: tuple[str, list[str]] | None, now: datetime
) -> GrantApprovalStatus:
    """`identity` is the (username, groups) stamped on the create request, None when none was."""
    current = current or GrantApprovalStatus()
    if identity is None:
        ready = DesiredCondition(
            READY, "False", "IdentityNotRecorded", "created while the admission webhook was not serving; not counted"
        )
        return GrantApprovalStatus(
            observed_generation=generation,
            approver=current.approver,
            recorded_time=current.recorded_time,
            conditions=merge_conditions(current.conditions, [ready], generation, now),
        )
    # Recorded once, from the create request's stamp, and never rewritten afterwards.
    approver = current.approver or Approver(username=identity[0], groups=identity[1])
    ready = DesiredCondition(READY, "True", "Recorded", f"decision by {approver.username} recorded in the audit trail")
    return GrantApprovalStatus(
        observed_generation=generation,
        approver=approver,
        recorded_time=current.recorded_time or whole_seconds(now),
        conditions=merge_conditions(current.conditions, [ready], generation, now),
    )
