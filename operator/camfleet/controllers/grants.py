"""The grant controller: SharingGrants through their lifecycle, approvals recorded, access ended on time.

Each grant has one due time in a single queue: the moment its decision next changes by the clock
alone (its start, its approval deadline, its expiry). Approvals and camera changes wake it early.
At each pass the pure lifecycle (`access.lifecycle`) decides the phase; this controller writes the
status, posts Events and audit records on changes, and hands the outcome to the credentials keeper
(token Secret, gateway state), which revokes the moment a grant stops being active.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, Protocol

from lightkube import AsyncClient
from lightkube.core.exceptions import ApiError
from pydantic import ValidationError

from camfleet.access.approvals import ApprovalFacts
from camfleet.access.city_time import CityCalendar
from camfleet.access.facts import CameraFacts
from camfleet.access.grant_status import (
    RECLASSIFIED_REASON,
    REVOKED_REASON,
    Cond,
    cameras_found,
    grant_status,
    phase_of_status,
)
from camfleet.access.grants import effective_cameras, grant_covers, withheld_cameras
from camfleet.access.lifecycle import GrantLifecycle, GrantPhase, grant_phase
from camfleet.activity import ActiveGate
from camfleet.api.camera import Camera
from camfleet.api.grant_approval import GrantApproval
from camfleet.api.sharing_grant import SharingGrant, SharingGrantCondition, SharingGrantStatus
from camfleet.clock import Clock
from camfleet.conditions import condition_of, transitions
from camfleet.kube.events import EventRecorder, EventType
from camfleet.kube.listing import list_served
from camfleet.kube.resources import RESOURCES, CameraResource
from camfleet.kube.status import write_status
from camfleet.kube.store import ApprovalStore, AuthoritiesStore, CameraStore, Key
from camfleet.observability.audit import audit
from camfleet.observability.metrics import GRANTS_BY_PHASE, PENDING_GRANTS_OVERDUE, REVOCATION_DELAY_SECONDS
from camfleet.scheduling import DueQueue, serve

log = logging.getLogger(__name__)
STATUS_AFTER_REVOCATION = timedelta(seconds=1)
# An expiry burst (1,000 grants ending in one second) needs passes in parallel; 128 were slower than 32 (the
# operator's HTTP client, not the API server, is then the limit: bench/RESULTS.md, summary).
WORKERS = 32
# Conditions whose turning False is no news of its own (Active and Ready say it already).
QUIET_WHEN_FALSE = frozenset({SharingGrantCondition.REVOKED})
WARNINGS = frozenset({"Denied", "ApprovalOverdue", *REVOKED_REASON.values()})
# Conditions told by their own Event whatever the phase does (see `_note_reclassified`).
TOLD_APART = frozenset({SharingGrantCondition.READY, SharingGrantCondition.RECLASSIFIED})


class CredentialsKeeper(Protocol):
    """Issues access for active grants and takes it away from all others (token Secret, gateway state)."""

    async def grant_active(
        self, grant: SharingGrant, lifecycle: GrantLifecycle, cameras: list[CameraFacts]
    ) -> None: ...

    async def grant_inactive(self, namespace: str, name: str, uid: str | None, why: str, terminal: bool) -> bool:
        """Take access away (for good when `terminal`); True when something had to be taken away."""
        ...


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
        authorities: AuthoritiesStore | None = None,
    ) -> None:
        self._client = client
        self._authorities = authorities or AuthoritiesStore()
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
        self._authorities.subscribe(self._authorities_changed)

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

    def _authorities_changed(self, _: Mapping[str, Any]) -> None:
        """Who forms the emergency authority decides which authorizations count: recheck emergency grants."""
        for key, grant in self._grants.items():
            if grant.get("spec", {}).get("emergency"):
                self._queue.schedule_earlier(key, self._clock.monotonic())

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
        """Gather, decide (pure), take access away or issue it, write status once, then tell."""
        body = self._grants.get(key)
        if body is None:
            return None
        grant = SharingGrant.model_validate(body)
        now = self._clock.now()
        cameras = self._camera_facts(grant.spec.cameras.namespace)
        lifecycle, status, conditions = self._decide(grant, cameras, now)
        # The keeper reads the grant's facts (approved, revoked) from the status just decided, not a stale one.
        if await self._keep_access(grant.model_copy(update={"status": status}), lifecycle, cameras, now):
            # An expiry burst is a thousand grants due in the same second: every token Secret goes first,
            # statuses and Events follow in a later pass (the queue hands out the earliest due first).
            return now + STATUS_AFTER_REVOCATION
        stored = await write_status(self._client, RESOURCES["SharingGrant"], body, status)
        if stored is not None and key in self._grants:
            self._grants[key] = stored
        await self._tell(key, body, grant.status, lifecycle, conditions)
        return lifecycle.next_change

    def _decide(
        self, grant: SharingGrant, cameras: list[CameraFacts], now: datetime
    ) -> tuple[GrantLifecycle, SharingGrantStatus, list[Cond]]:
        namespace, name = str(grant.metadata.namespace), str(grant.metadata.name)
        covered = effective_cameras(grant.spec, cameras)
        # Only the cameras the grant names or selects decide its fate (a NotShared neighbour must not deny it).
        share_classes = {c.name: c.share_class for c in cameras if grant_covers(grant.spec, c)}
        configured = self._authorities.current
        lifecycle = grant_phase(
            grant,
            share_classes,
            self._approval_facts(namespace, name),
            now,
            self._calendar,
            emergency_authority=configured.spec.emergency if configured is not None else None,
        )
        known = self._cameras_by_namespace.get(grant.spec.cameras.namespace, {})
        found = cameras_found(grant.spec.cameras, known.keys(), len(share_classes))
        withheld = withheld_cameras(grant.spec, cameras)
        generation = grant.metadata.generation or 0
        status, conditions = grant_status(grant.status, generation, lifecycle, covered, now, found, withheld)
        return lifecycle, status, conditions

    async def _keep_access(
        self, grant: SharingGrant, lifecycle: GrantLifecycle, cameras: list[CameraFacts], now: datetime
    ) -> bool:
        """Issue access to an active grant, take it from any other; True when a terminal end was just revoked."""
        if lifecycle.phase is GrantPhase.ACTIVE:
            await self._credentials.grant_active(grant, lifecycle, cameras)
            return False
        terminal = lifecycle.phase in (GrantPhase.DENIED, GrantPhase.EXPIRED)
        revoked = await self._credentials.grant_inactive(
            str(grant.metadata.namespace), str(grant.metadata.name), grant.metadata.uid, lifecycle.phase, terminal
        )
        if revoked and lifecycle.phase is GrantPhase.EXPIRED:
            REVOCATION_DELAY_SECONDS.observe(max(0.0, (now - lifecycle.expires_at).total_seconds()))
        return revoked and terminal

    async def _tell(
        self,
        key: Key,
        body: dict[str, Any],
        current: SharingGrantStatus | None,
        lifecycle: GrantLifecycle,
        conditions: list[Cond],
    ) -> None:
        """Events and audit records for what changed: phases, a camera that is not there, an overdue answer."""
        found = next(c for c in conditions if c.type is SharingGrantCondition.CAMERAS_FOUND)
        before = condition_of(current.conditions if current else None, found.type)
        if found.status == "False" and (before.reason if before else None) != found.reason:
            await self._events.record(body, "Warning", found.reason, found.message)
        await self._note_reclassified(body, current, conditions)
        previous_phase = self._phases.get(key) or phase_of_status(current)
        self._phases[key] = lifecycle.phase
        if previous_phase != lifecycle.phase:
            await self._announce(body, lifecycle, current, conditions)
        await self._note_overdue(key, body, lifecycle)

    async def _note_reclassified(
        self, body: dict[str, Any], current: SharingGrantStatus | None, conditions: list[Cond]
    ) -> None:
        """R10, R13: cameras withdrawn by a reclassification: a Warning and an audit record when the list changes."""
        now_true = next((c for c in conditions if c.type is SharingGrantCondition.RECLASSIFIED), None)
        if now_true is None or now_true.status != "True":
            return
        before = condition_of(current.conditions if current else None, SharingGrantCondition.RECLASSIFIED)
        if before is not None and before.status == "True" and before.message == now_true.message:
            return
        namespace, name = body["metadata"]["namespace"], body["metadata"]["name"]
        audit("GrantNarrowed", f"SharingGrant {namespace}/{name}", RECLASSIFIED_REASON, now_true.message)
        await self._events.record(body, "Warning", RECLASSIFIED_REASON, now_true.message)

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
        current: SharingGrantStatus | None,
        conditions: list[Cond],
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
        for change in transitions(current.conditions if current else None, conditions):
            if change.type in TOLD_APART or change.current.status == "Unknown":
                continue
            if change.current.reason in announced or (
                change.type in QUIET_WHEN_FALSE and change.current.status == "False"
            ):
                continue
            announced.add(change.current.reason)
            event_type: EventType = "Warning" if change.current.reason in WARNINGS else "Normal"
            await self._events.record(body, event_type, change.current.reason, change.current.message)


def _camera_facts_of(body: Mapping[str, Any] | None) -> CameraFacts | None:
    """None for a camera that is gone or does not match the model."""
    if body is None:
        return None
    try:
        return CameraFacts.from_resource(Camera.model_validate(body))
    except ValidationError:
        return None
