"""The export controller: a FootageExport runs only after two approvals by two distinct people (R15).

Per export: count the approvals (the requester and anyone without a verified stamp never count; an approval
counts only for the export's uid and content it was stamped with, so a recreated export inherits nothing),
and once approved, server-side apply one export volume and one Job per camera (`export/job.py`); the
Job copies the requested segments with a SHA-256 manifest, re-encoded with the camera's privacy masks blanked
unless the export has maskPrivacy: false (which also needs the classification authority's approval, R17). A
denied or unapproved export never runs, nor one whose volume's storage class is not encrypted (R17). Every decision
is written to the audit trail (R16).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from lightkube import AsyncClient
from lightkube.resources.apps_v1 import Deployment
from lightkube.resources.batch_v1 import Job

from camfleet.access.identity import (
    APPROVAL_STAMP_ANNOTATION,
    REQUEST_STAMP_ANNOTATION,
    StampError,
    read_stamp,
)
from camfleet.active_gate import ActiveGate
from camfleet.api.footage_export import FootageExport, FootageExportCondition, FootageExportStatus
from camfleet.clock import Clock
from camfleet.condition_merge import condition_of
from camfleet.export.job import (
    ExportJobSettings,
    camera_privacy_masks,
    expected_export_bytes,
    export_object_name,
    export_objects,
)
from camfleet.export.run_approval import (
    ExportApproval,
    ExportDecision,
    ExportPhase,
    export_binding,
    export_decision,
)
from camfleet.export.status import Blocker, cameras_blocker, export_status, export_storage_problem
from camfleet.kube.apply import apply, get_or_none
from camfleet.kube.events import EventRecorder, EventType
from camfleet.kube.resources import RESOURCES
from camfleet.kube.status import write_status
from camfleet.kube.storage import storage_class_facts
from camfleet.kube.store import ApprovalStore, AuthoritiesStore, CameraStore, Key
from camfleet.observability.audit import audit
from camfleet.recording.workloads import recorder_name, volume_name
from camfleet.scheduling import DueQueue, serve

log = logging.getLogger(__name__)


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
    ) -> None:
        self._clock = clock
        self._authorities = authorities or AuthoritiesStore()
        self._authorities.subscribe(self._authorities_changed)
        self._stamp_keys = stamp_keys
        self._client = client
        self._events = events
        self._cameras = cameras
        self._approval_store = approvals
        self._settings = settings
        self._exports: dict[Key, dict[str, Any]] = {}
        self._phases: dict[Key, ExportPhase] = {}
        self._blockers: dict[Key, str | None] = {}
        self._queue: DueQueue[Key] = DueQueue(clock)

    def export_changed(self, body: Mapping[str, Any], deleted: bool) -> None:
        key = (body["metadata"]["namespace"], body["metadata"]["name"])
        if deleted:
            self._exports.pop(key, None)
            self._blockers.pop(key, None)
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

    def _authorities_changed(self, _: Mapping[str, Any]) -> None:
        """Who forms the classification authority decides unmasked exports: judge them again."""
        for key in self._exports:
            self._queue.schedule_earlier(key, self._clock.monotonic())

    def job_changed(self, body: Mapping[str, Any]) -> None:
        export = body["metadata"].get("labels", {}).get("camfleet.io/export")
        key = (body["metadata"]["namespace"], export)
        if export and key in self._exports:
            self._queue.schedule_earlier(key, self._clock.monotonic())

    async def run(self, gate: ActiveGate) -> None:
        await serve(self._queue, self.reconcile, self._reconcile_failed, workers=1, gate=gate)

    def _reconcile_failed(self, key: Key) -> float:
        log.exception("footage export %s/%s failed; retrying in 30s", *key)
        return 30.0

    def _approvals(self, namespace: str, name: str) -> list[ExportApproval]:
        return [self._approval(body) for body in self._approval_store.approvals_for("FootageExport", namespace, name)]

    def _approval(self, body: Mapping[str, Any]) -> ExportApproval:
        """One approval as counted: approver and binding from its verified stamp only."""
        metadata, spec = body["metadata"], body.get("spec", {})
        approval = ExportApproval(metadata["name"], None, spec.get("verdict") == "Approve", spec.get("reason"))
        try:
            stamp = read_stamp(self._stamp_keys, (metadata.get("annotations") or {}).get(APPROVAL_STAMP_ANNOTATION))
        except StampError as error:
            return replace(approval, problem=str(error))
        target = spec.get("target", {})
        stamped = (stamp.subject_namespace, stamp.subject_name, stamp.verdict, stamp.target_kind, stamp.target_name)
        expected = (metadata["namespace"], metadata["name"], spec.get("verdict"), "FootageExport", target.get("name"))
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
        if body is None:
            return
        export = FootageExport.model_validate(body)
        requester, problem = self._requester(export, body)
        configured = self._authorities.current
        decision = export_decision(
            requester,
            export.spec.mask_privacy,
            self._approvals(*key),
            export_binding(export),
            problem,
            classification=configured.spec.classification if configured is not None else None,
        )
        # Checked until the export has started: an export that ran is reported by its Jobs, even if its camera or
        # storage class changed since.
        blocked = None if await self._started(export) else await self._blocker(export)
        jobs: dict[str, Mapping[str, Any]] = {}
        claims: list[str] = []
        if decision.phase is ExportPhase.APPROVED and blocked is None:
            # The Job records who approved (--approved-by) from this decision: the stored status may not yet name
            # the approval that completed it.
            decided = (export.status or FootageExportStatus()).model_copy(
                update={"approved_by": list(decision.approved_by)}
            )
            export = export.model_copy(update={"status": decided})
            for camera in export.spec.cameras:
                name, job_status = await self._run_camera(export, camera)
                jobs[name] = job_status
                claims.append(name)
        await self._write_status(body, export, decision, jobs, claims, blocked)

    async def _started(self, export: FootageExport) -> bool:
        """Whether a Job of this export exists (it was created once it was approved and not blocked)."""
        namespace = str(export.metadata.namespace)
        for camera in export.spec.cameras:
            if await get_or_none(self._client, Job, export_object_name(export, camera), namespace) is not None:
                return True
        return False

    async def _blocker(self, export: FootageExport) -> Blocker | None:
        """Why the export may not run whatever its approvals: the export volume's storage class is missing or not
        encrypted (R17), or a masked export's camera (and so its masks) is unknown."""
        wanted = export.spec.storage_class_name or self._settings.storage_class
        storage = export_storage_problem(wanted, await storage_class_facts(self._client, wanted))
        if storage is not None:
            return storage
        namespace = str(export.metadata.namespace)
        unknown = [camera for camera in export.spec.cameras if self._cameras.get((namespace, camera)) is None]
        return cameras_blocker(export.spec.mask_privacy, unknown)

    async def _run_camera(self, export: FootageExport, camera: str) -> tuple[str, Mapping[str, Any]]:
        """Apply one camera's export volume and Job; (the Job's name, its status)."""
        namespace = str(export.metadata.namespace)
        name = export_object_name(export, camera)
        # A Job's pod template is immutable and the API server adds labels to it at creation: create it once, then
        # only read it (what it was built from, the camera and its masks, may have changed or gone since).
        existing = await get_or_none(self._client, Job, name, namespace)
        if existing is not None:
            return name, existing.to_dict().get("status") or {}
        camera_body = self._cameras.get((namespace, camera)) or {}
        bitrate = camera_body.get("spec", {}).get("device", {}).get("videoEncoder", {}).get("bitrateKbps", 4096)
        recording = await get_or_none(self._client, Deployment, recorder_name(camera), namespace) is not None
        claim, job = export_objects(
            export,
            camera,
            volume_name(camera),
            expected_export_bytes(export, int(bitrate)),
            self._settings,
            recorder_running=recording,
            masks=camera_privacy_masks(camera_body) if export.spec.mask_privacy else None,
        )
        await apply(self._client, claim)
        stored = await apply(self._client, job)
        return name, stored.get("status") or {}

    async def _write_status(
        self,
        body: dict[str, Any],
        export: FootageExport,
        decision: ExportDecision,
        jobs: Mapping[str, Mapping[str, Any]],
        claims: list[str],
        blocked: Blocker | None = None,
    ) -> None:
        namespace, name = body["metadata"]["namespace"], body["metadata"]["name"]
        generation = int(body["metadata"].get("generation", 0))
        status, _ = export_status(export.status, generation, decision, jobs, claims, self._clock.now(), blocked)
        stored = await write_status(self._client, RESOURCES["FootageExport"], body, status)
        if stored is not None:
            self._exports[(namespace, name)] = stored
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
                  maskPrivacy=export.spec.mask_privacy)  # fmt: skip
            event_type: EventType = "Warning" if decision.phase is ExportPhase.DENIED else "Normal"
            await self._events.record(body, event_type, decision.phase.value, decision.message)
        await self._report_blocker(body, export, blocked)

    async def _report_blocker(self, body: dict[str, Any], export: FootageExport, blocked: Blocker | None) -> None:
        """A Warning Event and an audit record when the export starts (or stops) being refused for its storage."""
        key = (body["metadata"]["namespace"], body["metadata"]["name"])
        reason = blocked[0] if blocked is not None else None
        if self._blockers.get(key) == reason:
            return
        self._blockers[key] = reason
        if blocked is not None:
            target = f"FootageExport {key[0]}/{key[1]}"
            audit(f"Export{blocked[0]}", target, "refused", blocked[1], maskPrivacy=export.spec.mask_privacy)
            await self._events.record(body, "Warning", blocked[0], blocked[1])


def _was_voided(export: FootageExport) -> bool:
    approved = condition_of(export.status.conditions if export.status else None, FootageExportCondition.APPROVED)
    return approved is not None and approved.reason == "ApprovalsVoided"
