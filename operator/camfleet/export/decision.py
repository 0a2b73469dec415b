"""Whether a FootageExport may run (R15): two approvals by two distinct people, none of them the requester;
any counted denial stops it. Pure."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

APPROVALS_NEEDED = 2


class ExportPhase(StrEnum):
    PENDING = "Pending"
    DENIED = "Denied"
    MASKING_UNAVAILABLE = "MaskingUnavailable"
    APPROVED = "Approved"


@dataclass(frozen=True)
class ExportApproval:
    name: str
    approver: str | None  # None: identity not recorded by the webhook, so it cannot count
    approve: bool
    reason: str | None = None


ApprovalOrNone = ExportApproval | None


@dataclass(frozen=True)
class ExportDecision:
    phase: ExportPhase
    approved_by: tuple[str, ...]
    message: str


def tally_export_approvals(
    requester: str | None, approvals: Iterable[ApprovalOrNone]
) -> tuple[dict[str, ExportApproval], list[str]]:
    """The approvals that count, one per person, and why the others do not."""
    counted: dict[str, ExportApproval] = {}
    ignored: list[str] = []
    for approval in sorted((a for a in approvals if a is not None), key=lambda a: a.name):
        if approval.approver is None:
            ignored.append(f"{approval.name}: approver identity not recorded")
        elif requester is not None and approval.approver == requester:
            ignored.append(f"{approval.name}: {approval.approver} requested the export and cannot approve it")
        else:
            counted[approval.approver] = approval  # each person counts once
    return counted, ignored


def export_decision(requester: str | None, mask_privacy: bool, approvals: Iterable[ApprovalOrNone]) -> ExportDecision:
    counted, ignored = tally_export_approvals(requester, approvals)
    approvers = tuple(sorted(who for who, a in counted.items() if a.approve))
    note = f" (not counted: {'; '.join(ignored)})" if ignored else ""
    denials = [a for a in counted.values() if not a.approve]
    if denials:
        first = denials[0]
        why = f": {first.reason}" if first.reason else ""
        return ExportDecision(ExportPhase.DENIED, approvers, f"denied by {first.approver}{why}{note}")
    if len(approvers) < APPROVALS_NEEDED:
        missing = APPROVALS_NEEDED - len(approvers)
        return ExportDecision(
            ExportPhase.PENDING,
            approvers,
            f"waiting for {missing} more approval(s) from distinct people other than the requester (R15){note}",
        )
    if mask_privacy:
        return ExportDecision(
            ExportPhase.MASKING_UNAVAILABLE,
            approvers,
            "approved, but exports copy original segments and cannot mask privacy areas yet; "
            "set spec.maskPrivacy: false to export the original footage (R17)",
        )
    return ExportDecision(ExportPhase.APPROVED, approvers, f"approved by {', '.join(approvers)} (R15){note}")
