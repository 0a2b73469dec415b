"""The export controller: a FootageExport runs only after two approvals by two distinct people (R15).

Per export: count the approvals (the requester and anyone without a recorded identity never count),
and once approved, server-side apply one export volume and one Job per camera (`export/job.py`); the
Job copies the requested segments with a SHA-256 manifest. A denied or unapproved export never runs.
Every decision is written to the audit trail (R16).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from lightkube import AsyncClient
from lightkube.resources.apps_v1 import Deployment
from lightkube.resources.batch_v1 import Job

from camfleet.access.identity import REQUESTER_ANNOTATION, decode_identity
from camfleet.activity import ActiveGate
from camfleet.api.footage_export import FootageExport
from camfleet.clock import Clock
from camfleet.export.decision import ExportApproval, ExportDecision, ExportPhase, export_decision
from camfleet.export.job import ExportJobSettings, expected_export_bytes, export_objects
from camfleet.export.status import export_status
from camfleet.kube.apply import apply, get_or_none
from camfleet.kube.events import EventRecorder, EventType
from camfleet.kube.resources import RESOURCES
from camfleet.kube.status import write_status
from camfleet.kube.store import ApprovalStore, CameraStore, Key
from camfleet.observability.audit import audit
from camfleet.recording.children import recorder_name, volume_name
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
    ) -> None:
        self._clock = clock
        self._client = client
        self._events = events
        self._cameras = cameras
        self._approval_store = approvals
        self._settings = settings
        self._exports: dict[Key, dict[str, Any]] = {}
        self._phases: dict[Key, ExportPhase] = {}
        self._queue: DueQueue[Key] = DueQueue(clock)

    def export_changed(self, body: Mapping[str, Any], deleted: bool) -> None:
        key = (body["metadata"]["namespace"], body["metadata"]["name"])
        if deleted:
            self._exports.pop(key, None)
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
        approvals = []
        for body in self._approval_store.approvals_for("FootageExport", namespace, name):
            identity = decode_identity(body["metadata"].get("annotations"))
            spec = body.get("spec", {})
            approvals.append(
                ExportApproval(
                    body["metadata"]["name"],
                    identity[0] if identity else None,
                    spec.get("verdict") == "Approve",
                    spec.get("reason"),
                )
            )
        return approvals

    async def reconcile(self, key: Key) -> None:
        body = self._exports.get(key)
        if body is None:
            return
        namespace = key[0]
        export = FootageExport.model_validate(body)
        requester = decode_identity(body["metadata"].get("annotations"), REQUESTER_ANNOTATION)
        decision = export_decision(requester[0] if requester else None, export.spec.mask_privacy, self._approvals(*key))
        jobs: dict[str, Mapping[str, Any]] = {}
        claims: list[str] = []
        if decision.phase is ExportPhase.APPROVED:
            for camera in export.spec.cameras:
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
                )
                await apply(self._client, claim)
                # A Job's pod template is immutable and the API server adds labels to it at creation:
                # create it once, then only read it.
                existing = await get_or_none(self._client, Job, job["metadata"]["name"], namespace)
                stored = existing.to_dict() if existing is not None else await apply(self._client, job)
                jobs[job["metadata"]["name"]] = stored.get("status") or {}
                claims.append(claim["metadata"]["name"])
        await self._write_status(body, export, decision, jobs, claims)

    async def _write_status(
        self,
        body: dict[str, Any],
        export: FootageExport,
        decision: ExportDecision,
        jobs: Mapping[str, Mapping[str, Any]],
        claims: list[str],
    ) -> None:
        namespace, name = body["metadata"]["namespace"], body["metadata"]["name"]
        generation = int(body["metadata"].get("generation", 0))
        status, _ = export_status(export.status, generation, decision, jobs, claims, self._clock.now())
        stored = await write_status(self._client, RESOURCES["FootageExport"], body, status)
        if stored is not None:
            self._exports[(namespace, name)] = stored
        phase_key = (namespace, name)
        if self._phases.get(phase_key) != decision.phase:
            self._phases[phase_key] = decision.phase
            audit(f"Export{decision.phase.value}", f"FootageExport {namespace}/{name}", decision.phase.value,
                  decision.message, approvedBy=list(decision.approved_by))  # fmt: skip
            event_type: EventType = "Warning" if decision.phase is ExportPhase.DENIED else "Normal"
            await self._events.record(body, event_type, decision.phase.value, decision.message)
