"""A FootageExport's status, decided without I/O from the approval decision and its export Jobs' states.

Approved: Unknown (Pending, or ApprovalsVoided when approvals given for this export no longer match its content;
AwaitingClassificationAuthority when an unmasked export has its two approvals but none of the classification
authority), True once two distinct people other than the requester approved exactly this export, False when denied.

Completed (and Ready): False while it may not run (the approval phase as reason), or while the export volume's
storage class is missing or not encrypted (StorageClassNotFound, StorageNotEncrypted: nothing is created, R17)
or, for a masked export, the camera (and so its privacy masks) is not known (CameraNotFound);
Running, ExportFailed, and True Completed once every Job succeeded.

Ready (with kstatus's Reconciling and Stalled) is True when the export is settled: Completed, or waiting for
people (reason AwaitingApproval; `Approved` Unknown says for whom: two approvers, or the classification
authority), so Flux sees it Current rather than in progress forever. While the copy runs it is False with
Reconciling True; when it cannot proceed without a change (denied, storage not encrypted or missing, an unknown
camera for a masked export, a failed copy Job) it is False with Stalled True and the same reason.

An extraction by level (R13) that the requester may not make is blocked the same way, with the reason of
`export.extraction` (NoExtractionLevel, OutsideTierWindow, RestrictedZone, CameraNotShared, CameraNotFound).
An extraction that ran is Completed only once its copy has landed in the requester's namespace
(`export.handover`): HandingOver (Reconciling) while the volume moves, True VolumeHandedOver when every camera's
claim in the requester's namespace is Bound, HandoverFailed (Stalled, retried with backoff) when something is
not as camfleet left it or the API server refuses a step.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from camfleet.api.footage_export import FootageExportCondition, FootageExportStatus
from camfleet.condition_merge import DesiredCondition, Progress, merge_conditions, progress_conditions, whole_seconds
from camfleet.export.handover import HandoverAction, HandoverStep
from camfleet.export.run_approval import ExportDecision, ExportPhase
from camfleet.kube.storage import ENCRYPTION_MARKS, StorageClassFacts

Cond = DesiredCondition[FootageExportCondition]
C = FootageExportCondition
Blocker = tuple[str, str]
"""Why an export may not run whatever its approvals: a reason (STORAGE_CLASS_NOT_FOUND, STORAGE_NOT_ENCRYPTED,
CAMERA_NOT_FOUND) and a message."""

PENDING = "Pending"
APPROVALS_VOIDED = "ApprovalsVoided"
DENIED = "Denied"
APPROVED = "Approved"
RUNNING = "Running"
EXPORT_FAILED = "ExportFailed"
COMPLETED = "Completed"
STORAGE_CLASS_NOT_FOUND = "StorageClassNotFound"
STORAGE_NOT_ENCRYPTED = "StorageNotEncrypted"
CAMERA_NOT_FOUND = "CameraNotFound"
AWAITING_APPROVAL = "AwaitingApproval"
HANDING_OVER = "HandingOver"
"""An extraction's copy succeeded and its volume is being handed over to the requester's namespace."""
VOLUME_HANDED_OVER = "VolumeHandedOver"
"""An extraction's copy is Bound in the requester's namespace; nothing of it is left in the owner's."""
HANDOVER_FAILED = "HandoverFailed"
"""A handover step was refused (by the API server, or because an object is not as camfleet left it); retried."""
WAITING_FOR_PEOPLE = (ExportPhase.PENDING, ExportPhase.AWAITING_CLASSIFICATION)


def export_storage_problem(wanted: str | None, facts: StorageClassFacts | None) -> Blocker | None:
    """Why the export volume's storage class may not receive the copy (`wanted` None: the cluster default).

    Every export must land encrypted, whatever the camera's recording policy says: the copy leaves the recording
    system for a case (R17)."""
    if facts is None:
        return STORAGE_CLASS_NOT_FOUND, f"storage class {wanted or 'the cluster default'} does not exist"
    if not facts.encrypted:
        return (
            STORAGE_NOT_ENCRYPTED,
            f"storage class {facts.name} of the export volume is not marked encrypted ({ENCRYPTION_MARKS});"
            " footage leaves the recording system only onto encrypted storage (rule R17)",
        )
    return None


def cameras_blocker(mask_privacy: bool, unknown: list[str]) -> Blocker | None:
    """A masked export of a camera the operator does not know cannot run: its privacy masks are not known."""
    if not mask_privacy or not unknown:
        return None
    return (
        CAMERA_NOT_FOUND,
        f"camera(s) {', '.join(sorted(unknown))} not found, so their privacy masks are not known and a masked"
        " export cannot be made (R17)",
    )


def handover_condition(handover: Mapping[str, HandoverStep]) -> Cond | None:
    """Completed for an extraction whose Jobs have not failed, from each camera's next handover step; None while
    every copy is still running."""
    refused = [f"{camera}: {step.why}" for camera, step in sorted(handover.items())
               if step.action is HandoverAction.REFUSE]  # fmt: skip
    if refused:
        return Cond(C.COMPLETED, "False", HANDOVER_FAILED, f"handing the copy over failed ({'; '.join(refused)})")
    if handover and all(step.action is HandoverAction.DONE for step in handover.values()):
        landed = "; ".join(step.why for _, step in sorted(handover.items()))
        return Cond(C.COMPLETED, "True", VOLUME_HANDED_OVER, f"copied and handed over: {landed}")
    moving = [f"{camera}: {step.why}" for camera, step in sorted(handover.items())
              if step.action is not HandoverAction.WAIT_FOR_COPY]  # fmt: skip
    if moving:
        return Cond(C.COMPLETED, "False", HANDING_OVER, f"handing the copy over ({'; '.join(moving)})")
    return None


def completed_condition(
    decision: ExportDecision,
    jobs: Mapping[str, Mapping[str, Any]],
    blocked: Blocker | None = None,
    handover: Mapping[str, HandoverStep] | None = None,
) -> Cond:
    """`jobs`: each export Job's name and its `status` as the API server reports it.
    `blocked`: why the export may not run even when approved (its storage class, R17; unknown masks).
    `handover`: for an extraction by level, each camera's next handover step (its Job is deleted once done)."""
    if decision.phase is ExportPhase.DENIED:
        return Cond(C.COMPLETED, "False", DENIED, "the export has not run")
    if blocked is not None:
        return Cond(C.COMPLETED, "False", blocked[0], f"the export does not run: {blocked[1]}")
    if decision.phase is not ExportPhase.APPROVED:
        return Cond(C.COMPLETED, "False", decision.phase.value, "the export has not run")
    failed = [name for name, status in jobs.items() if status.get("failed") and not status.get("active")]
    done = [name for name, status in jobs.items() if status.get("succeeded")]
    if failed:
        return Cond(C.COMPLETED, "False", EXPORT_FAILED, f"export Job(s) failed: {', '.join(failed)}")
    landing = handover_condition(handover) if handover is not None else None
    if landing is not None:
        return landing
    if handover is None and jobs and len(done) == len(jobs):
        return Cond(C.COMPLETED, "True", COMPLETED, f"copied by {', '.join(sorted(done))}")
    return Cond(C.COMPLETED, "False", RUNNING, f"copying with {len(jobs)} Job(s)")


def export_conditions(
    decision: ExportDecision,
    jobs: Mapping[str, Mapping[str, Any]],
    blocked: Blocker | None = None,
    handover: Mapping[str, HandoverStep] | None = None,
) -> list[Cond]:
    pending_reason = APPROVALS_VOIDED if decision.voided else PENDING
    approved = {
        ExportPhase.PENDING: Cond(C.APPROVED, "Unknown", pending_reason, decision.message),
        ExportPhase.AWAITING_CLASSIFICATION: Cond(C.APPROVED, "Unknown", decision.phase.value, decision.message),
        ExportPhase.DENIED: Cond(C.APPROVED, "False", DENIED, decision.message),
    }.get(decision.phase, Cond(C.APPROVED, "True", APPROVED, decision.message))
    completed = completed_condition(decision, jobs, blocked, handover)
    if decision.phase in WAITING_FOR_PEOPLE and blocked is None:
        ready = Cond(C.READY, "True", AWAITING_APPROVAL, approved.message or "waiting for two approvers (R15)")
    else:
        ready = Cond(C.READY, completed.status, completed.reason, completed.message)
    return [approved, completed, ready]


def export_progress(completed: Cond) -> Progress:
    """Reconciling while the copy runs, Stalled for any other way it has not completed but awaiting approvals."""
    if completed.status == "True" or completed.reason in tuple(phase.value for phase in WAITING_FOR_PEOPLE):
        return Progress()
    if completed.reason in (RUNNING, HANDING_OVER):
        return Progress(working=(completed.reason, completed.message))
    return Progress(stuck=(completed.reason, completed.message))


def export_status(
    current: FootageExportStatus | None,
    generation: int,
    decision: ExportDecision,
    jobs: Mapping[str, Mapping[str, Any]],
    claims: Sequence[str],
    now: datetime,
    blocked: Blocker | None = None,
    volume_namespace: str | None = None,
    handover: Mapping[str, HandoverStep] | None = None,
) -> tuple[FootageExportStatus, list[Cond]]:
    """The export's whole new status (equal to `current` when nothing changed) and its conditions.

    `claims`: the export volumes holding the copy as of this pass (none before approval: the last one known is
    kept), in `volume_namespace` (for an extraction by level, the owner's until the copy is handed over, then the
    requester's). `handover`: an extraction's next handover step per camera.
    """
    current = current or FootageExportStatus()
    conditions = export_conditions(decision, jobs, blocked, handover)
    completed = conditions[1].status == "True"
    kstatus = progress_conditions(C.RECONCILING, C.STALLED, export_progress(conditions[1]))
    status = FootageExportStatus(
        observed_generation=generation,
        approved_by=list(decision.approved_by),
        conditions=merge_conditions(current.conditions, [*conditions, *kstatus], generation, now),
        persistent_volume_claim=claims[0] if claims else current.persistent_volume_claim,
        volume_namespace=volume_namespace if claims else current.volume_namespace,
        manifest_sha256=current.manifest_sha256,
        files=current.files,
        completed_time=current.completed_time or (whole_seconds(now) if completed else None),
    )
    return status, conditions
