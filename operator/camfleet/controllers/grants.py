"""The grant controller: SharingGrants through their lifecycle, approvals recorded, access ended on time.

Each grant has one due time in a single queue: the moment its decision next changes by the clock
alone (its start, its approval deadline, its expiry). Approvals and camera changes wake it early.
At each pass the pure lifecycle (`access.lifecycle`) decides the phase; this controller writes the
status, posts Events and audit records on changes, and hands the outcome to the credentials keeper
(token Secret, gateway state), which revokes the moment a grant stops being active.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, Protocol

from lightkube import AsyncClient
from lightkube.core.exceptions import ApiError
from pydantic import ValidationError

from camfleet.access.approvals import ApprovalFacts
from camfleet.access.city_time import CityCalendar
from camfleet.access.facts import CameraFacts
from camfleet.access.grants import effective_cameras, grant_covers
from camfleet.access.lifecycle import GrantLifecycle, GrantPhase, grant_phase
from camfleet.activity import ActiveGate
from camfleet.api.camera import Camera
from camfleet.api.common import CameraSelection
from camfleet.api.grant_approval import GrantApproval
from camfleet.api.sharing_grant import SharingGrant
from camfleet.clock import Clock
from camfleet.conditions import READY, DesiredCondition, merge_conditions, rfc3339, transitions
from camfleet.kube.events import EventRecorder, EventType
from camfleet.kube.listing import list_served
from camfleet.kube.resources import RESOURCES, CameraResource
from camfleet.kube.status import patch_status, status_patch
from camfleet.kube.store import ApprovalStore, CameraStore, Key
from camfleet.observability.audit import audit
from camfleet.observability.metrics import GRANTS_BY_PHASE, PENDING_GRANTS_OVERDUE, REVOCATION_DELAY_SECONDS
from camfleet.scheduling import DueQueue, serve

log = logging.getLogger(__name__)
HISTORY_LIMIT = 64
STATUS_AFTER_REVOCATION = timedelta(seconds=1)
# An expiry burst (1,000 grants ending in one second) needs passes in parallel; 128 were slower than 32 (the
# operator's HTTP client, not the API server, is then the limit: bench/RESULTS.md, summary).
WORKERS = 32
HISTORY_DECISION = {
    GrantPhase.PENDING: "Requested",
    GrantPhase.APPROVED: "Approved",
    GrantPhase.ACTIVE: "Activated",
    GrantPhase.DENIED: "Denied",
    GrantPhase.EXPIRED: "Expired",
}
PHASE_OF_DECISION = {decision: phase for phase, decision in HISTORY_DECISION.items()}


class CredentialsKeeper(Protocol):
    """Issues access for active grants and takes it away from all others (token Secret, gateway state)."""

    async def grant_active(
        self, grant: SharingGrant, lifecycle: GrantLifecycle, cameras: list[CameraFacts]
    ) -> None: ...

    async def grant_inactive(self, namespace: str, name: str, uid: str | None, why: str, terminal: bool) -> bool:
        """Take access away (for good when `terminal`); True when something had to be taken away."""
        ...


def grant_conditions(lifecycle: GrantLifecycle) -> list[DesiredCondition]:
    phase = lifecycle.phase
    why = lifecycle.reasons[0] if lifecycle.reasons else ""
    approved = {
        GrantPhase.PENDING: DesiredCondition(
            "Approved", "Unknown", "ApprovalOverdue" if lifecycle.overdue else "Pending", why
        ),
        GrantPhase.DENIED: DesiredCondition("Approved", "False", "Denied", why),
    }.get(phase, DesiredCondition("Approved", "True", "Approved", why))
    active_reason = {
        GrantPhase.ACTIVE: "Active",
        GrantPhase.APPROVED: "NotStarted",
        GrantPhase.PENDING: "AwaitingApproval",
        GrantPhase.DENIED: "Denied",
        GrantPhase.EXPIRED: "Expired",
    }[phase]
    active = DesiredCondition("Active", "True" if phase is GrantPhase.ACTIVE else "False", active_reason, why)
    expired = DesiredCondition(
        "Expired",
        "True" if phase is GrantPhase.EXPIRED else "False",
        "Expired" if phase is GrantPhase.EXPIRED else "InForce",
        f"access ends at {lifecycle.expires_at.isoformat()}",
    )
    ready = DesiredCondition(READY, "True" if phase is GrantPhase.ACTIVE else "False", active_reason, why)
    return [approved, active, expired, ready]


def cameras_found(selection: CameraSelection, existing: Collection[str], selected: int) -> DesiredCondition:
    """Whether what the grant names exists: a typo in a name otherwise leaves an Active grant for nothing."""
    if selection.names is not None:
        missing = sorted(set(selection.names) - set(existing))
        if missing:
            listed = ", ".join(missing[:10]) + (f" and {len(missing) - 10} more" if len(missing) > 10 else "")
            return DesiredCondition(
                "CamerasFound", "False", "CameraNotFound", f"no camera {listed} in namespace {selection.namespace}"
            )
    elif selected == 0:
        return DesiredCondition(
            "CamerasFound", "False", "NoCameraSelected", f"the selector matches no camera in {selection.namespace}"
        )
    return DesiredCondition("CamerasFound", "True", "Found", f"{selected} camera(s) named or selected")


def grant_status(
    current: dict[str, Any] | None,
    generation: int,
    lifecycle: GrantLifecycle,
    cameras: Sequence[Mapping[str, Any]],
    now: datetime,
    found: DesiredCondition | None = None,
) -> tuple[dict[str, Any], list[DesiredCondition]]:
    current = dict(current or {})
    conditions = grant_conditions(lifecycle) + ([found] if found is not None else [])
    history = list(current.get("history") or [])
    decision = HISTORY_DECISION[lifecycle.phase]
    if not history or history[-1].get("decision") != decision:
        entry: dict[str, Any] = {"time": rfc3339(now), "decision": decision, "actor": "camfleet-operator"}
        if lifecycle.phase in (GrantPhase.APPROVED, GrantPhase.ACTIVE) and lifecycle.approved_by:
            entry["actor"] = ", ".join(lifecycle.approved_by)[:253]
        if lifecycle.reasons:
            entry["message"] = lifecycle.reasons[0][:1024]
        history = [*history, entry][-HISTORY_LIMIT:]
    status: dict[str, Any] = {
        **current,
        "observedGeneration": generation,
        "conditions": merge_conditions(current.get("conditions"), conditions, generation, now),
        "approvalsRequired": lifecycle.approvals_required,
        "approvedBy": list(lifecycle.approved_by),
        "effectiveCameras": list(cameras),
        "history": history,
    }
    if lifecycle.approval_due is not None:
        status["approvalDueTime"] = rfc3339(lifecycle.approval_due)
    else:
        status.pop("approvalDueTime", None)
    return status, conditions


class GrantController:
    def __init__(
        self,
        client: AsyncClient,
        events: EventRecorder,
        cameras: CameraStore,
        approvals: ApprovalStore,
        credentials: CredentialsKeeper,
        calendar: CityCalendar,
        clock: Clock,
    ) -> None:
        self._client = client
        self._clock = clock
        self._approval_store = approvals
        self._events = events
        self._credentials = credentials
        self._calendar = calendar
        self._grants: dict[Key, dict[str, Any]] = {}
        self._phases: dict[Key, GrantPhase] = {}
        self._overdue: set[Key] = set()
        # What grants need to know of each camera, by namespace: fed by camera events, so a pass reads no bodies
        # and a camera's status write (which changes none of this) reschedules no grant.
        self._cameras_by_namespace: dict[str, dict[str, CameraFacts]] = {}
        self._queue: DueQueue[Key] = DueQueue(clock)
        cameras.subscribe(self._camera_changed)

    # -- fed by kopf -------------------------------------------------------------------------

    def grant_changed(self, body: Mapping[str, Any]) -> None:
        key = (body["metadata"]["namespace"], body["metadata"]["name"])
        previous = self._grants.get(key)
        self._grants[key] = dict(body)
        if previous is None or previous.get("spec") != body.get("spec"):
            self._queue.schedule_earlier(key, self._clock.monotonic())

    async def grant_deleted(self, body: Mapping[str, Any]) -> None:
        """Deleting a record is not revoking access (Teleport, Vault): revoke explicitly, at once."""
        namespace, name = body["metadata"]["namespace"], body["metadata"]["name"]
        self._grants.pop((namespace, name), None)
        self._phases.pop((namespace, name), None)
        self._overdue.discard((namespace, name))
        PENDING_GRANTS_OVERDUE.set(len(self._overdue))
        self._queue.discard((namespace, name))
        uid = body["metadata"].get("uid")
        if await self._credentials.grant_inactive(namespace, name, uid, "grant deleted", terminal=True):
            audit("RevokeCredentials", f"SharingGrant {namespace}/{name}", "revoked", "the grant was deleted")

    def approval_changed(self, body: Mapping[str, Any]) -> None:
        key = (body["metadata"]["namespace"], body["metadata"]["name"])
        target = body.get("spec", {}).get("target", {})
        if target.get("kind") == "SharingGrant":
            grant = (target.get("namespace") or key[0], target.get("name"))
            if grant in self._grants:
                self._queue.schedule_earlier(grant, self._clock.monotonic())

    def _camera_changed(self, key: Key, body: Mapping[str, Any] | None) -> None:
        # A camera's share class or labels can change which grants cover it; cheap to recheck.
        namespace, name = key
        known = self._cameras_by_namespace.setdefault(namespace, {})
        facts = _camera_facts_of(body)
        if known.get(name) == facts:
            return
        if facts is None:
            known.pop(name, None)
        else:
            known[name] = facts
        for grant_key, grant in self._grants.items():
            if grant.get("spec", {}).get("cameras", {}).get("namespace") == key[0]:
                self._queue.schedule_earlier(grant_key, self._clock.monotonic() + 0.2)

    # -- workers -----------------------------------------------------------------------------

    async def run(self, gate: ActiveGate, namespaces: Sequence[str]) -> None:
        await gate.wait_open()
        await self._learn_existing_cameras(namespaces)
        await serve(self._queue, self._pass, self._pass_failed, workers=WORKERS, gate=gate)

    async def _learn_existing_cameras(self, namespaces: Sequence[str]) -> None:
        """Know every camera before judging any grant. Grants and cameras arrive from kopf in no particular
        order; a restarted operator that judged a grant first would re-issue its token for fewer cameras (or
        none) until the rest arrived. One paginated LIST; camera events keep it current afterwards, and what
        an event already told is newer than the list."""
        started = self._clock.monotonic()
        try:
            async for body in list_served(self._client, CameraResource, namespaces):
                namespace, name = body["metadata"]["namespace"], body["metadata"]["name"]
                facts = _camera_facts_of(body)
                if facts is not None:
                    self._cameras_by_namespace.setdefault(namespace, {}).setdefault(name, facts)
        except ApiError as error:  # the events will still tell; the narrowing window comes back, nothing worse
            log.warning("could not list cameras before judging grants: %s", error.status.message)
        known = sum(len(names) for names in self._cameras_by_namespace.values())
        log.info("knew %d cameras before judging grants, in %.1fs", known, self._clock.monotonic() - started)

    async def _pass(self, key: Key) -> float | None:
        next_change = await self.reconcile(key)
        if next_change is None or key not in self._grants:
            return None
        return max(0.0, (next_change - self._clock.now()).total_seconds())

    def _pass_failed(self, key: Key) -> float | None:
        log.exception("grant %s/%s failed; retrying in 10s", *key)
        return 10.0

    def _camera_facts(self, namespace: str) -> list[CameraFacts]:
        return list(self._cameras_by_namespace.get(namespace, {}).values())

    def _approval_facts(self, namespace: str, name: str) -> list[ApprovalFacts]:
        facts = []
        for body in self._approval_store.approvals_for("SharingGrant", namespace, name):
            try:
                facts.append(ApprovalFacts.from_resource(GrantApproval.model_validate(body)))
            except (ValidationError, ValueError):
                continue
        return facts

    async def reconcile(self, key: Key) -> datetime | None:
        body = self._grants.get(key)
        if body is None:
            return None
        namespace, name = key
        grant = SharingGrant.model_validate(body)
        now = self._clock.now()
        cameras = self._camera_facts(grant.spec.cameras.namespace)
        covered = effective_cameras(grant.spec, cameras)
        # Only the cameras the grant names or selects decide its fate (a NotShared neighbour must not deny it).
        share_classes = {c.name: c.share_class for c in cameras if grant_covers(grant.spec, c)}
        lifecycle = grant_phase(grant, share_classes, self._approval_facts(namespace, name), now, self._calendar)

        if lifecycle.phase is GrantPhase.ACTIVE:
            await self._credentials.grant_active(grant, lifecycle, cameras)
        else:
            terminal = lifecycle.phase in (GrantPhase.DENIED, GrantPhase.EXPIRED)
            revoked = await self._credentials.grant_inactive(
                namespace, name, grant.metadata.uid, lifecycle.phase, terminal=terminal
            )
            if revoked and lifecycle.phase is GrantPhase.EXPIRED:
                REVOCATION_DELAY_SECONDS.observe(max(0.0, (now - lifecycle.expires_at).total_seconds()))
            if revoked and terminal:
                # An expiry burst is a thousand grants due in the same second: every token Secret goes first,
                # statuses and Events follow in a later pass (the queue hands out the earliest due first).
                return now + STATUS_AFTER_REVOCATION

        current = body.get("status")
        generation = int(body["metadata"].get("generation", 0))
        effective = [camera.to_api() for camera in covered]
        known = self._cameras_by_namespace.get(grant.spec.cameras.namespace, {})
        found = cameras_found(grant.spec.cameras, known.keys(), len(share_classes))
        status, conditions = grant_status(current, generation, lifecycle, effective, now, found)
        patch = status_patch(current, status)
        if patch is not None:
            stored = await patch_status(self._client, RESOURCES["SharingGrant"], name, namespace, patch)
            if key in self._grants:
                self._grants[key] = stored
        if found.status == "False" and _reason_of(current, found.type) != found.reason:
            await self._events.record(body, "Warning", found.reason, found.message)
        previous_phase = self._phases.get(key) or _phase_from_status(current)
        self._phases[key] = lifecycle.phase
        if previous_phase != lifecycle.phase:
            await self._announce(body, lifecycle, current, conditions)
        await self._note_overdue(key, body, lifecycle)
        return lifecycle.next_change

    async def _note_overdue(self, key: Key, body: dict[str, Any], lifecycle: GrantLifecycle) -> None:
        """R11: an answer is due within 3 working days; past that, a Warning once, and the gauge counts it."""
        overdue = lifecycle.phase is GrantPhase.PENDING and lifecycle.overdue
        if overdue and key not in self._overdue:
            self._overdue.add(key)
            due = lifecycle.approval_due.isoformat() if lifecycle.approval_due else "its due date"
            await self._events.record(
                body, "Warning", "ApprovalOverdue", f"no answer by {due}: 3 working days have passed (rule R11)"
            )
        elif not overdue:
            self._overdue.discard(key)
        PENDING_GRANTS_OVERDUE.set(len(self._overdue))

    async def _announce(
        self,
        body: dict[str, Any],
        lifecycle: GrantLifecycle,
        current: dict[str, Any] | None,
        conditions: list[DesiredCondition],
    ) -> None:
        namespace, name = body["metadata"]["namespace"], body["metadata"]["name"]
        reason = "; ".join(lifecycle.reasons)
        audit(
            f"Grant{lifecycle.phase.value}",
            f"SharingGrant {namespace}/{name}",
            lifecycle.phase.value,
            reason,
            approvedBy=list(lifecycle.approved_by),
        )
        GRANTS_BY_PHASE.labels(lifecycle.phase.value).inc()
        announced: set[str] = set()  # one Event per reason: at expiry Active and Expired both say "Expired"
        for change in transitions((current or {}).get("conditions"), conditions):
            if change.type == READY or change.current.status == "Unknown" or change.current.reason in announced:
                continue
            announced.add(change.current.reason)
            event_type: EventType = "Warning" if change.current.reason in ("Denied", "ApprovalOverdue") else "Normal"
            await self._events.record(body, event_type, change.current.reason, change.current.message)


def _camera_facts_of(body: Mapping[str, Any] | None) -> CameraFacts | None:
    """None for a camera that is gone or does not match the model."""
    if body is None:
        return None
    try:
        return CameraFacts.from_resource(Camera.model_validate(body))
    except ValidationError:
        return None


def _reason_of(status: Mapping[str, Any] | None, condition_type: str) -> str | None:
    conditions = (status or {}).get("conditions") or []
    return next((c.get("reason") for c in conditions if c.get("type") == condition_type), None)


def _phase_from_status(status: Mapping[str, Any] | None) -> GrantPhase | None:
    history = (status or {}).get("history") or []
    return PHASE_OF_DECISION.get(history[-1].get("decision")) if history else None
