"""The export controller: a FootageExport runs only after two approvals by two distinct people (R15).

Per export: count the approvals (the requester and anyone without a verified stamp never count; an approval
counts only for the export's uid and content it was stamped with, so a recreated export inherits nothing),
and once approved, server-side apply one export volume and one Job per camera (`export/job.py`); the
Job copies the requested segments with a SHA-256 manifest, re-encoded with the camera's privacy masks blanked
unless the export has maskPrivacy: false (which also needs the classification authority's approval, R17). A
denied or unapproved export never runs, nor one whose volume's storage class is not encrypted (R17). Every decision
is written to the audit trail (R16).

Extraction by level (R13, `sourceNamespace`): the requester must hold level 1 or 2 through an AccessTier inside its
window (level 2: no restricted zone), judged by `export.extraction` until the export starts and again whenever a
tier changes or a window opens or closes; only approvals given in the owner's namespace count; the Jobs and a
staging export volume run in the owner's namespace (`export.job`) and report into the requester's export. Once a
Job has succeeded, its volume is handed over to the requester's namespace (`export_handover`, `export.handover`)
and the owner-side Job and staging claim are deleted; a failed step is reported (HandoverFailed, a Warning Event)
and retried with backoff. Deleting such an export runs `withdraw` first (kopf finalizer): an unfinished copy is
deleted, a finished one handed over. Every audit record of such an export carries its document reference.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from lightkube import AsyncClient
from lightkube.resources.apps_v1 import Deployment
from lightkube.resources.batch_v1 import Job

from camfleet.access.city_time import DEFAULT_CALENDAR, CityCalendar
from camfleet.access.decision_inputs import CameraFacts
from camfleet.access.identity import (
    APPROVAL_STAMP_ANNOTATION,
    REQUEST_STAMP_ANNOTATION,
    StampError,
    read_stamp,
)
from camfleet.active_gate import ActiveGate
from camfleet.api.access_tier import AccessTier
from camfleet.api.camera import Camera
from camfleet.api.footage_export import FootageExport, FootageExportCondition, FootageExportStatus
from camfleet.clock import Clock
from camfleet.condition_merge import DesiredCondition, condition_of
from camfleet.controllers.export_handover import VolumeHandover
from camfleet.export.extraction import ExtractionVerdict, extraction_verdict
from camfleet.export.handover import HandoverAction, HandoverStep, handed_over
from camfleet.export.job import (
    EXPORT_NAMESPACE_LABEL,
    ExportJobSettings,
    camera_privacy_masks,
    expected_export_bytes,
    export_job_namespace,
    export_object_name,
    export_objects,
    handed_over_claim_name,
    is_extraction,
)
from camfleet.export.run_approval import (
    ExportApproval,
    ExportDecision,
    ExportPhase,
    export_binding,
    export_decision,
)
from camfleet.export.status import (
    HANDOVER_FAILED,
    VOLUME_HANDED_OVER,
    Blocker,
    cameras_blocker,
    export_status,
    export_storage_problem,
)
from camfleet.kube.apply import apply, get_or_none
from camfleet.kube.events import EventRecorder, EventType
from camfleet.kube.resources import RESOURCES
from camfleet.kube.status import write_status
from camfleet.kube.storage import storage_class_facts
from camfleet.kube.store import ApprovalStore, AuthoritiesStore, CameraStore, Key
from camfleet.observability.audit import audit
from camfleet.recording.groups import GROUP_COMPONENT, Group, observed_group
from camfleet.recording.groups import volume_name as group_volume_name
from camfleet.recording.workloads import COMPONENT_LABEL, MANAGED_BY, recorder_name, volume_name
from camfleet.retry_backoff import exponential_delay
from camfleet.scheduling import DueQueue, serve

log = logging.getLogger(__name__)

BINDING_POLL_SECONDS = 2.0
"""How soon to look again while the PV binder binds a handed-over claim (claims are not watched)."""
HANDOVER_RETRY_FIRST, HANDOVER_RETRY_MAX = 5.0, 300.0


class ExportController:
    def __init__(
        self,
        client: AsyncClient,
        events: EventRecorder,
        cameras: CameraStore,
        approvals: ApprovalStore,
        settings: ExportJobSettings,
        clock: Clock,
        stamp_keys: tuple[bytes, ...] = (),
        authorities: AuthoritiesStore | None = None,
        calendar: CityCalendar = DEFAULT_CALENDAR,
    ) -> None:
        self._clock = clock
        self._calendar = calendar
        self._tiers: dict[str, AccessTier] = {}
        self._authorities = authorities or AuthoritiesStore()
        self._authorities.subscribe(self._authorities_changed)
        self._stamp_keys = stamp_keys
        self._client = client
        self._events = events
        self._cameras = cameras
        cameras.subscribe(self._camera_changed)
        self._approval_store = approvals
        self._settings = settings
        self._exports: dict[Key, dict[str, Any]] = {}
        self._phases: dict[Key, ExportPhase] = {}
        self._blockers: dict[Key, str | None] = {}
        self._levels: dict[Key, int | None] = {}
        self._queue: DueQueue[Key] = DueQueue(clock)
        self._handover = VolumeHandover(client)
        self._handover_failures: dict[Key, int] = {}

    def export_changed(self, body: Mapping[str, Any], deleted: bool) -> None:
        key = (body["metadata"]["namespace"], body["metadata"]["name"])
        if deleted:
            self._exports.pop(key, None)
            self._blockers.pop(key, None)
            self._levels.pop(key, None)
            self._handover_failures.pop(key, None)
            return
        previous = self._exports.get(key)
        self._exports[key] = dict(body)
        if previous is None or previous.get("spec") != body.get("spec"):
            self._queue.schedule_earlier(key, self._clock.monotonic())

    def approval_changed(self, body: Mapping[str, Any]) -> None:
        target = body.get("spec", {}).get("target", {})
        if target.get("kind") == "FootageExport":
            key = (str(target.get("namespace") or body["metadata"]["namespace"]), str(target.get("name")))
            if key in self._exports:
                self._queue.schedule_earlier(key, self._clock.monotonic())

    def tier_changed(self, body: Mapping[str, Any], deleted: bool) -> None:
        """Who holds which level decides extractions by level: judge them again."""
        name = str(body["metadata"]["name"])
        if deleted:
            self._tiers.pop(name, None)
        else:
            self._tiers[name] = AccessTier.model_validate(body)
        for key, export in self._exports.items():
            if export.get("spec", {}).get("sourceNamespace"):
                self._queue.schedule_earlier(key, self._clock.monotonic())

    def _camera_changed(self, camera: Key, _: Mapping[str, Any] | None) -> None:
        """A camera's security level or share class decides who may extract it (R13): judge its extractions again."""
        for key, export in self._exports.items():
            spec = export.get("spec", {})
            if spec.get("sourceNamespace") == camera[0] and camera[1] in spec.get("cameras", []):
                self._queue.schedule_earlier(key, self._clock.monotonic())

    def _authorities_changed(self, _: Mapping[str, Any]) -> None:
        """Who forms the classification authority decides unmasked exports: judge them again."""
        for key in self._exports:
            self._queue.schedule_earlier(key, self._clock.monotonic())

    def job_changed(self, body: Mapping[str, Any]) -> None:
        labels = body["metadata"].get("labels", {})
        export = labels.get("camfleet.io/export")
        key = (labels.get(EXPORT_NAMESPACE_LABEL) or body["metadata"]["namespace"], export)
        if export and key in self._exports:
            self._queue.schedule_earlier(key, self._clock.monotonic())

    async def run(self, gate: ActiveGate) -> None:
        await serve(self._queue, self.reconcile, self._reconcile_failed, workers=1, gate=gate)

    def _reconcile_failed(self, key: Key) -> float:
        log.exception("footage export %s/%s failed; retrying in 30s", *key)
        return 30.0

    def _approvals(self, export: FootageExport) -> list[ExportApproval]:
        namespace, name = str(export.metadata.namespace), str(export.metadata.name)
        bodies = self._approval_store.approvals_for("FootageExport", namespace, name)
        return [self._counted_where(self._approval(body), body, export) for body in bodies]

    @staticmethod
    def _counted_where(approval: ExportApproval, body: Mapping[str, Any], export: FootageExport) -> ExportApproval:
        """An extraction by level is approved by the camera owner's department: in its namespace, nowhere else."""
        given_in = body["metadata"]["namespace"]
        owner = export_job_namespace(export)
        if given_in == owner:
            return approval
        return replace(
            approval,
            approver=None,
            problem=f"was given in namespace {given_in}; only the camera owner's department ({owner}) approves"
            " an extraction of its cameras (R13, R15)",
        )

    def _approval(self, body: Mapping[str, Any]) -> ExportApproval:
        """One approval as counted: approver and binding from its verified stamp only."""
        metadata, spec = body["metadata"], body.get("spec", {})
        approval = ExportApproval(metadata["name"], None, spec.get("verdict") == "Approve", spec.get("reason"))
        try:
            stamp = read_stamp(self._stamp_keys, (metadata.get("annotations") or {}).get(APPROVAL_STAMP_ANNOTATION))
        except StampError as error:
            return replace(approval, problem=str(error))
        target = spec.get("target", {})
        stamped = (
            stamp.subject_namespace, stamp.subject_name, stamp.verdict, stamp.target_kind, stamp.target_namespace,
            stamp.target_name,
        )  # fmt: skip
        expected = (
            metadata["namespace"], metadata["name"], spec.get("verdict"), "FootageExport",
            target.get("namespace") or metadata["namespace"], target.get("name"),
        )  # fmt: skip
        if stamped != expected:
            return replace(approval, problem="has a stamp made for another approval (copied, not the webhook's)")
        return replace(
            approval, approver=stamp.username, binding=stamp.binding, approver_groups=frozenset(stamp.groups)
        )

    def _requester(self, export: FootageExport, body: Mapping[str, Any]) -> tuple[str | None, str | None]:
        """The requester from the verified request stamp, or why it is not known."""
        raw = (body["metadata"].get("annotations") or {}).get(REQUEST_STAMP_ANNOTATION)
        try:
            stamp = read_stamp(self._stamp_keys, raw)
        except StampError as error:
            return None, str(error)
        content = export_binding(export, uid="")
        same_content = stamp.binding is not None and content is not None and stamp.binding.digest == content.digest
        if (stamp.subject_namespace, stamp.subject_name) != (export.metadata.namespace, export.metadata.name):
            return None, "has a request stamp made for another export"
        if not same_content:
            return None, "was changed after it was requested (its request stamp names other content)"
        return stamp.username, None

    async def reconcile(self, key: Key) -> None:
        body = self._exports.get(key)
        if body is None or body["metadata"].get("deletionTimestamp"):
            return  # a deleted extraction is `withdraw`n by its finalizer's handler, nothing is created for it
        export = FootageExport.model_validate(body)
        requester, problem = self._requester(export, body)
        configured = self._authorities.current
        decision = export_decision(
            requester,
            export.spec.mask_privacy,
            self._approvals(export),
            export_binding(export),
            problem,
            classification=configured.spec.classification if configured is not None else None,
        )
        # Checked until the export has started: an export that ran is reported by its Jobs, even if its camera or
        # storage class changed since.
        blocked = None if await self._started(export) else await self._refusal(key, export)
        run = CameraRuns()
        if decision.phase is ExportPhase.APPROVED and blocked is None:
            # The Job records who approved (--approved-by) from this decision: the stored status may not yet name
            # the approval that completed it.
            decided = (export.status or FootageExportStatus()).model_copy(
                update={"approved_by": list(decision.approved_by)}
            )
            export = export.model_copy(update={"status": decided})
            for camera in export.spec.cameras:
                if is_extraction(export):
                    await self._run_extraction_camera(export, camera, run)
                else:
                    name, job_status = await self._run_camera(export, camera)
                    run.jobs[name] = job_status
                    run.claims.append(name)
            self._schedule_handover(key, run.handover)
        await self._write_status(body, export, decision, run, blocked)

    async def _run_extraction_camera(self, export: FootageExport, camera: str, run: CameraRuns) -> None:
        """Start one camera's copy in the owner's namespace, or hand its finished copy over to the requester's."""
        objects = await self._handover.observe(export, camera)
        observed = objects.observed
        nothing = not observed.job_present and observed.staging is None and not handed_over(observed)
        landed = handed_over_claim_name(export, camera)
        if nothing and export.status and export.status.completed_time:
            # An extraction that completed once is never run again, even when its copy was deleted since.
            where = f"{export.metadata.namespace}/{landed}"
            run.handover[camera] = HandoverStep(HandoverAction.DONE, f"handed over to {where} (since deleted)")
            run.handed.append(landed)
            run.claims.append(export_object_name(export, camera))
            return
        if nothing:
            await self._run_camera(export, camera)
        step, objects = await self._handover.advance(export, camera)
        run.handover[camera] = step
        if objects.job_status is not None:
            run.jobs[export_object_name(export, camera)] = objects.job_status
        if step.action is HandoverAction.DONE:
            run.handed.append(landed)
        run.claims.append(export_object_name(export, camera))

    def _schedule_handover(self, key: Key, handover: Mapping[str, HandoverStep]) -> None:
        """Look again soon while the binder works; back off exponentially while a step is refused."""
        actions = {step.action for step in handover.values()}
        if HandoverAction.REFUSE in actions:
            failures = self._handover_failures.get(key, 0)
            self._handover_failures[key] = failures + 1
            delay = exponential_delay(failures, HANDOVER_RETRY_FIRST, HANDOVER_RETRY_MAX)
            self._queue.schedule_earlier(key, self._clock.monotonic() + delay)
            return
        self._handover_failures.pop(key, None)
        if actions & {HandoverAction.WAIT_FOR_BINDING, HandoverAction.WAIT_FOR_CLEANUP}:
            self._queue.schedule_earlier(key, self._clock.monotonic() + BINDING_POLL_SECONDS)

    async def withdraw(self, body: Mapping[str, Any]) -> list[str]:
        """An extraction is being deleted: clear the owner's namespace of it (see `VolumeHandover.discard_unfinished`).
        What is not done yet, per camera; empty when the finalizer may go."""
        export = FootageExport.model_validate(body)
        if not is_extraction(export):
            return []
        pending = []
        for camera in export.spec.cameras:
            step = await self._handover.discard_unfinished(export, camera)
            if step.action is not HandoverAction.DONE:
                pending.append(f"{camera}: {step.why}")
        return pending

    async def _refusal(self, key: Key, export: FootageExport) -> Blocker | None:
        """Why an export that has not started may not run: first who asks (extraction by level), then where."""
        refused = self._extraction_blocker(key, export) if is_extraction(export) else None
        return refused or await self._blocker(export)

    def _extraction_blocker(self, key: Key, export: FootageExport) -> Blocker | None:
        """Whether the requester may extract the owner's cameras now (R13), and a re-check when a window turns."""
        verdict = self._extraction(export)
        self._levels[key] = verdict.level
        if verdict.recheck_at is not None:
            delay = max(0.0, (verdict.recheck_at - self._clock.now()).total_seconds())
            self._queue.schedule_earlier(key, self._clock.monotonic() + delay)
        return verdict.blocker

    def _extraction(self, export: FootageExport) -> ExtractionVerdict:
        source = export_job_namespace(export)
        cameras: dict[str, CameraFacts | None] = {}
        for camera in export.spec.cameras:
            body = self._cameras.get((source, camera))
            cameras[camera] = CameraFacts.from_resource(Camera.model_validate(body)) if body is not None else None
        requester = str(export.metadata.namespace)
        return extraction_verdict(requester, cameras, self._tiers.values(), self._clock.now(), self._calendar)

    async def _started(self, export: FootageExport) -> bool:
        """Whether a Job of this export exists (it was created once it was approved and not blocked), or an
        extraction's copy was handed over (its Job is then deleted)."""
        if is_extraction(export) and export.status and export.status.completed_time:
            return True
        namespace = export_job_namespace(export)
        for camera in export.spec.cameras:
            if await get_or_none(self._client, Job, export_object_name(export, camera), namespace) is not None:
                return True
            if is_extraction(export) and handed_over((await self._handover.observe(export, camera)).observed):
                return True
        return False

    async def _blocker(self, export: FootageExport) -> Blocker | None:
        """Why the export may not run whatever its approvals: the export volume's storage class is missing or not
        encrypted (R17), or a masked export's camera (and so its masks) is unknown."""
        wanted = export.spec.storage_class_name or self._settings.storage_class
        storage = export_storage_problem(wanted, await storage_class_facts(self._client, wanted))
        if storage is not None:
            return storage
        namespace = export_job_namespace(export)
        unknown = [camera for camera in export.spec.cameras if self._cameras.get((namespace, camera)) is None]
        return cameras_blocker(export.spec.mask_privacy, unknown)

    async def _run_camera(self, export: FootageExport, camera: str) -> tuple[str, Mapping[str, Any]]:
        """Apply one camera's export volume and Job; (the Job's name, its status)."""
        namespace = export_job_namespace(export)
        name = export_object_name(export, camera)
        # A Job's pod template is immutable and the API server adds labels to it at creation: create it once, then
        # only read it (what it was built from, the camera and its masks, may have changed or gone since).
        existing = await get_or_none(self._client, Job, name, namespace)
        if existing is not None:
            return name, existing.to_dict().get("status") or {}
        camera_body = self._cameras.get((namespace, camera)) or {}
        bitrate = self._cameras.bitrate_kbps((namespace, camera))
        recording = await get_or_none(self._client, Deployment, recorder_name(camera), namespace) is not None
        group = None if recording else await self._recorder_group(namespace, camera)
        claim, job = export_objects(
            export,
            camera,
            group_volume_name(group.name) if group else volume_name(camera),
            expected_export_bytes(export, bitrate),
            self._settings,
            recorder_running=recording or bool(group and group.recording),
            masks=camera_privacy_masks(camera_body) if export.spec.mask_privacy else None,
            group=group.name if group else None,
        )
        await apply(self._client, claim)
        stored = await apply(self._client, job)
        return name, stored.get("status") or {}

    async def _recorder_group(self, namespace: str, camera: str) -> Group | None:
        """The recorder group whose volume holds the camera's recordings (None: it records on a volume of its own).
        One listing of the namespace's group recorders, per export camera: exports are rare."""
        selector: dict[str, Any] = {**MANAGED_BY, COMPONENT_LABEL: GROUP_COMPONENT}
        async for deployment in self._client.list(Deployment, namespace=namespace, labels=selector):
            try:
                group = observed_group(deployment.to_dict())
            except (ValueError, KeyError, TypeError):
                continue
            if group is not None and group.member(camera) is not None:
                return group
        return None

    async def _write_status(
        self,
        body: dict[str, Any],
        export: FootageExport,
        decision: ExportDecision,
        run: CameraRuns,
        blocked: Blocker | None = None,
    ) -> None:
        namespace, name = body["metadata"]["namespace"], body["metadata"]["name"]
        generation = int(body["metadata"].get("generation", 0))
        landed = bool(run.claims) and len(run.handed) == len(run.claims)
        claims, where = (run.handed, namespace) if landed else (run.claims, export_job_namespace(export))
        handover = run.handover if is_extraction(export) and run.claims else None
        status, conditions = export_status(
            export.status, generation, decision, run.jobs, claims, self._clock.now(), blocked, where, handover
        )
        stored = await write_status(self._client, RESOURCES["FootageExport"], body, status)
        if stored is not None:
            self._exports[(namespace, name)] = stored
        await self._report_handover(body, export, conditions[1])
        phase_key = (namespace, name)
        if decision.voided and not _was_voided(export):
            message = f"approval(s) {', '.join(decision.voided)} voided: the export's content changed after them (R15)"
            audit("ApprovalsVoided", f"FootageExport {namespace}/{name}", "voided", message,
                  voided=list(decision.voided))  # fmt: skip
            await self._events.record(body, "Warning", "ApprovalsVoided", message)
        if self._phases.get(phase_key) != decision.phase:
            self._phases[phase_key] = decision.phase
            audit(f"Export{decision.phase.value}", f"FootageExport {namespace}/{name}", decision.phase.value,
                  decision.message, approvedBy=list(decision.approved_by),
                  maskPrivacy=export.spec.mask_privacy, **self._extraction_fields(export))  # fmt: skip
            event_type: EventType = "Warning" if decision.phase is ExportPhase.DENIED else "Normal"
            await self._events.record(body, event_type, decision.phase.value, decision.message)
        await self._report_blocker(body, export, blocked)

    async def _report_handover(
        self, body: dict[str, Any], export: FootageExport, completed: DesiredCondition[FootageExportCondition]
    ) -> None:
        """A Normal Event and an audit record when the copy lands in the requester's namespace; a Warning Event
        when a handover step is refused (each time the reason or message changes)."""
        if completed.reason not in (VOLUME_HANDED_OVER, HANDOVER_FAILED):
            return
        before = condition_of(export.status.conditions if export.status else None, FootageExportCondition.COMPLETED)
        if before is not None and (before.reason, before.message) == (completed.reason, completed.message):
            return
        target = f"FootageExport {body['metadata']['namespace']}/{body['metadata']['name']}"
        if completed.reason == VOLUME_HANDED_OVER:
            audit("ExportVolumeHandedOver", target, "handed-over", completed.message,
                  **self._extraction_fields(export))  # fmt: skip
            await self._events.record(body, "Normal", VOLUME_HANDED_OVER, completed.message)
        else:
            await self._events.record(body, "Warning", HANDOVER_FAILED, completed.message)

    async def _report_blocker(self, body: dict[str, Any], export: FootageExport, blocked: Blocker | None) -> None:
        """A Warning Event and an audit record when the export starts (or stops) being refused for its storage."""
        key = (body["metadata"]["namespace"], body["metadata"]["name"])
        reason = blocked[0] if blocked is not None else None
        if self._blockers.get(key) == reason:
            return
        self._blockers[key] = reason
        if blocked is not None:
            target = f"FootageExport {key[0]}/{key[1]}"
            audit(f"Export{blocked[0]}", target, "refused", blocked[1], maskPrivacy=export.spec.mask_privacy,
                  **self._extraction_fields(export))  # fmt: skip
            await self._events.record(body, "Warning", blocked[0], blocked[1])

    def _extraction_fields(self, export: FootageExport) -> dict[str, Any]:
        """What the audit trail records of an extraction by level: source, document, the requester's level."""
        if not is_extraction(export):
            return {}
        key = (str(export.metadata.namespace), str(export.metadata.name))
        return {
            "sourceNamespace": export.spec.source_namespace,
            "documentReference": export.spec.document_reference,
            "requesterLevel": self._levels.get(key),
        }


@dataclass
class CameraRuns:
    """What one reconcile found of an approved export's cameras."""

    jobs: dict[str, Mapping[str, Any]] = field(default_factory=dict)
    """Each present Job's name and status."""
    claims: list[str] = field(default_factory=list)
    """The export volume of each camera, in the namespace its Job runs in."""
    handed: list[str] = field(default_factory=list)
    """An extraction's claims handed over to the requester's namespace (each Bound there)."""
    handover: dict[str, HandoverStep] = field(default_factory=dict)
    """An extraction's next handover step per camera."""


def _was_voided(export: FootageExport) -> bool:
    approved = condition_of(export.status.conditions if export.status else None, FootageExportCondition.APPROVED)
    return approved is not None and approved.reason == "ApprovalsVoided"
