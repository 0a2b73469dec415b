"""A FootageExport's status, decided without I/O from the approval decision and its export Jobs' states.

Approved: Unknown (Pending, or ApprovalsVoided when approvals given for this export no longer match its content),
True once two distinct people other than the requester approved exactly this export, False when denied.

Ready (with kstatus's Reconciling and Stalled) is True when the export is settled: Completed, or waiting for
people (reason AwaitingApproval; `Approved` Unknown says for whom), so Flux sees it Current rather than in
progress forever. While the copy runs it is False with Reconciling True; when it cannot proceed without a change
(denied, masking unavailable, a failed copy Job) it is False with Stalled True and the same reason.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from camfleet.api.footage_export import FootageExportCondition, FootageExportStatus
from camfleet.condition_merge import DesiredCondition, Progress, merge_conditions, progress_conditions, whole_seconds
from camfleet.export.run_approval import ExportDecision, ExportPhase

Cond = DesiredCondition[FootageExportCondition]
C = FootageExportCondition
AWAITING_APPROVAL = "AwaitingApproval"


def completed_condition(decision: ExportDecision, jobs: Mapping[str, Mapping[str, Any]]) -> Cond:
    """`jobs`: each export Job's name and its `status` as the API server reports it."""
    if decision.phase is not ExportPhase.APPROVED:
        reason = "MaskingUnavailable" if decision.phase is ExportPhase.MASKING_UNAVAILABLE else decision.phase.value
        return Cond(C.COMPLETED, "False", reason, "the export has not run")
    failed = [name for name, status in jobs.items() if status.get("failed") and not status.get("active")]
    done = [name for name, status in jobs.items() if status.get("succeeded")]
    if failed:
        return Cond(C.COMPLETED, "False", "ExportFailed", f"export Job(s) failed: {', '.join(failed)}")
    if jobs and len(done) == len(jobs):
        return Cond(C.COMPLETED, "True", "Completed", f"copied by {', '.join(sorted(done))}")
    return Cond(C.COMPLETED, "False", "Running", f"copying with {len(jobs)} Job(s)")


def export_conditions(decision: ExportDecision, jobs: Mapping[str, Mapping[str, Any]]) -> list[Cond]:
    pending_reason = "ApprovalsVoided" if decision.voided else "Pending"
    approved = {
        ExportPhase.PENDING: Cond(C.APPROVED, "Unknown", pending_reason, decision.message),
        ExportPhase.DENIED: Cond(C.APPROVED, "False", "Denied", decision.message),
    }.get(decision.phase, Cond(C.APPROVED, "True", "Approved", decision.message))
    completed = completed_condition(decision, jobs)
    if decision.phase is ExportPhase.PENDING:
        ready = Cond(C.READY, "True", AWAITING_APPROVAL, approved.message or "waiting for two approvers (R15)")
    else:
        ready = Cond(C.READY, completed.status, completed.reason, completed.message)
    return [approved, completed, ready]


def export_progress(completed: Cond) -> Progress:
    """Reconciling while the copy runs, Stalled for any other way it has not completed but awaiting approvals."""
    if completed.status == "True" or completed.reason in (ExportPhase.PENDING.value,):
        return Progress()
    if completed.reason == "Running":
        return Progress(working=(completed.reason, completed.message))
    return Progress(stuck=(completed.reason, completed.message))


def export_status(
    current: FootageExportStatus | None,
    generation: int,
    decision: ExportDecision,
    jobs: Mapping[str, Mapping[str, Any]],
    claims: Sequence[str],
    now: datetime,
) -> tuple[FootageExportStatus, list[Cond]]:
    """The export's whole new status (equal to `current` when nothing changed) and its conditions.

    `claims`: the export volumes applied in this pass (none before approval: the last one known is kept).
    """
    current = current or FootageExportStatus()
    conditions = export_conditions(decision, jobs)
    completed = conditions[1].status == "True"
    kstatus = progress_conditions(C.RECONCILING, C.STALLED, export_progress(conditions[1]))
    status = FootageExportStatus(
        observed_generation=generation,
        approved_by=list(decision.approved_by),
        conditions=merge_conditions(current.conditions, [*conditions, *kstatus], generation, now),
        persistent_volume_claim=claims[0] if claims else current.persistent_volume_claim,
        manifest_sha256=current.manifest_sha256,
        files=current.files,
        completed_time=current.completed_time or (whole_seconds(now) if completed else None),
    )
    return status, conditions
