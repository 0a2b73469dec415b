"""The grant controller: SharingGrants through their lifecycle, approvals recorded, access ended on time.

Each grant has one due time in a single queue: the moment its decision next changes by the clock
alone (its start, its approval deadline, its expiry). Approvals and camera changes wake it early.
At each pass the pure lifecycle (`access.lifecycle`) decides the phase; this controller writes the
status, posts Events and audit records on changes, and hands the outcome to the credentials keeper
(token Secret, gateway state), which revokes the moment a grant stops being active.

Approvals count only with the admission webhook's verified stamp, for the grant's current uid and content
(`access.approvals`); a change of content voids them: Pending again (ApprovalsVoided), one Event, one audit
record, and the credentials keeper revokes at once since the grant is no longer Active. The grantee's level
(AccessTiers, R13/R14) narrows what the grant gives: the keeper receives the grant with only the permissions
left, so tokens and the gateway's state carry no more.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, Protocol

from lightkube import AsyncClient
from lightkube.core.exceptions import ApiError
from pydantic import ValidationError

from camfleet.access.approvals import ApprovalFacts
from camfleet.access.city_time import CityCalendar
from camfleet.access.decision_inputs import CameraFacts, CameraFactsMemo
from camfleet.access.grant_status import (
    APPROVAL_RECORDS,
    APPROVALS_VOIDED,
    OPERATOR,
    PERMISSIONS_NARROWED,
    RECLASSIFIED_REASON,
    REVOKED_REASON,
    Cond,
    cameras_found,
    grant_status,
    phase_of_status,
)
from camfleet.access.grants import effective_cameras, grant_covers, withheld_cameras
from camfleet.access.identity import CHANGED_BY_ANNOTATION, decode_identity
from camfleet.access.lifecycle import GrantLifecycle, GrantPhase, grant_phase
from camfleet.access.windows import active_departments, tier_next_transition
from camfleet.active_gate import ActiveGate
from camfleet.api.access_tier import AccessTier
from camfleet.api.grant_approval import GrantApproval
from camfleet.api.sharing_grant import Decision, SharingGrant, SharingGrantCondition, SharingGrantStatus
from camfleet.clock import Clock
from camfleet.condition_merge import condition_of, transitions
from camfleet.kube.events import EventRecorder, EventType
from camfleet.kube.listing import list_served
from camfleet.kube.ownership import NAME_CONFLICT, NameConflict, name_conflict_condition
from camfleet.kube.resources import RESOURCES, CameraResource
from camfleet.kube.status import write_status
from camfleet.kube.store import ApprovalStore, AuthoritiesStore, CameraStore, Key
from camfleet.observability.audit import audit
from camfleet.observability.metrics import GRANTS_BY_PHASE, PENDING_GRANTS_OVERDUE, REVOCATION_DELAY_SECONDS
from camfleet.scheduling import DueQueue, serve

log = logging.getLogger(__name__)
STATUS_AFTER_REVOCATION = timedelta(seconds=1)
RECENT_END = timedelta(minutes=10)
"""A grant that expired this recently has its live sessions ended by a process that did not revoke it itself (a
replica that took over, a restart), even when its Secret is gone already (see `GrantCredentials.grant_inactive`)."""
# An expiry burst (1,000 grants ending in one second) needs passes in parallel; 128 were slower than 32 (the
# operator's HTTP client, not the API server, is then the limit: bench/RESULTS.md, summary).
WORKERS = 32
# Conditions whose turning False is no news of its own (Active and Ready say it already).
QUIET_WHEN_FALSE = frozenset({SharingGrantCondition.REVOKED})
WARNINGS = frozenset({"Denied", "ApprovalOverdue", PERMISSIONS_NARROWED, *REVOKED_REASON.values()})
# Said once by `_note_voided` (with its audit record), whatever condition carries it.
SAID_ELSEWHERE = frozenset({APPROVALS_VOIDED})
# Conditions told by their own Event whatever the phase does (see `_note_narrowed`, `_note_reclassified`).
TOLD_APART = frozenset(
    {SharingGrantCondition.READY, SharingGrantCondition.NARROWED, SharingGrantCondition.RECLASSIFIED}
)


class CredentialsKeeper(Protocol):
    """Issues access for active grants and takes it away from all others (token Secret, gateway state)."""

    async def grant_active(
        self, grant: SharingGrant, lifecycle: GrantLifecycle, cameras: list[CameraFacts]
    ) -> None: ...

    async def grant_inactive(
        self,
        namespace: str,
        name: str,
        uid: str | None,
        why: str,
        terminal: bool,
        cameras: Sequence[str] = (),
        recent_end: bool = False,
    ) -> bool:
        """Take access away (for good when `terminal`, ending live sessions on `cameras`); True when something had
        to be taken away."""
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
        stamp_keys: Sequence[bytes] = (),
        authorities: AuthoritiesStore | None = None,
    ) -> None:
        self._client = client
        self._stamp_keys = tuple(stamp_keys)
        self._tiers: dict[str, AccessTier] = {}
        self._authorities = authorities or AuthoritiesStore()
        self._clock = clock
        self._approval_store = approvals
        self._events = events
        self._credentials = credentials
        self._calendar = calendar
        self._grants: dict[Key, dict[str, Any]] = {}
        self._phases: dict[Key, GrantPhase] = {}
        self._overdue: set[Key] = set()
        # Approvals deleted since a grant's last status write, for its history (name, what it was).
        self._removed: dict[Key, list[tuple[str, str]]] = {}
        # What grants need to know of each camera, by namespace: fed by camera events, so a pass reads no bodies
        # and a camera's status write (which changes none of this) reschedules no grant.
        self._cameras_by_namespace: dict[str, dict[str, CameraFacts]] = {}
        self._facts = CameraFactsMemo()
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
        try:
            revoked = await self._credentials.grant_inactive(
                namespace, name, uid, "grant deleted", terminal=True, cameras=self._covered_refs(body)
            )
        except NameConflict as conflict:
            log.warning("%s", conflict)
            return
        if revoked:
            audit("RevokeCredentials", f"SharingGrant {namespace}/{name}", "revoked", "the grant was deleted")

    def _covered_refs(self, body: Mapping[str, Any]) -> list[str]:
        """The cameras a grant's selection covers now (its live sessions are on their paths)."""
        try:
            grant = SharingGrant.model_validate(body)
        except ValidationError:
            return []
        known = self._cameras_by_namespace.get(grant.spec.cameras.namespace, {})
        return [camera.ref for camera in known.values() if grant_covers(grant.spec, camera)]

    def approval_changed(self, body: Mapping[str, Any]) -> None:
        key = (body["metadata"]["namespace"], body["metadata"]["name"])
        target = body.get("spec", {}).get("target", {})
        if target.get("kind") == "SharingGrant":
            grant = (target.get("namespace") or key[0], target.get("name"))
            if grant in self._grants:
                self._queue.schedule_earlier(grant, self._clock.monotonic())

    def approval_removed(self, body: Mapping[str, Any]) -> None:
        """A deleted approval of a grant that lives goes into its history at the next pass, so that a decision
        undone by a deletion is never silent (R16); the admission webhook refuses such deletions to anyone but the
        operator, so this is what slipped past it (the webhook not serving) or the operator's own doing."""
        metadata, spec = body["metadata"], body.get("spec", {})
        target = spec.get("target", {})
        if target.get("kind") != "SharingGrant":
            return
        grant = (str(target.get("namespace") or metadata["namespace"]), str(target.get("name")))
        if grant not in self._grants:
            return
        approver = ((body.get("status") or {}).get("approver") or {}).get("username") or "an unrecorded approver"
        message = f"{spec.get('verdict')} by {approver} was deleted; it no longer counts (see the audit trail)"
        self._removed.setdefault(grant, []).append((str(metadata["name"]), message))
        self._queue.schedule_earlier(grant, self._clock.monotonic())

    def tier_changed(self, body: Mapping[str, Any], deleted: bool) -> None:
        """A level given or taken changes what grants of its departments give (R13): recheck them."""
        name = body["metadata"]["name"]
        before = self._tiers.pop(name, None)
        if not deleted:
            with contextlib.suppress(ValidationError):
                self._tiers[name] = AccessTier.model_validate(body)
        departments = {s.department for t in (before, self._tiers.get(name)) if t for s in t.spec.subjects}
        for grant_key in self._grants:
            if grant_key[0] in departments:
                self._queue.schedule_earlier(grant_key, self._clock.monotonic() + 0.2)

    def _level(self, department: str, now: datetime) -> tuple[int | None, datetime | None]:
        """The department's best level in force now, and when the levels it holds next change (R14)."""
        levels, changes = [], []
        for tier in self._tiers.values():
            if not any(s.department == department for s in tier.spec.subjects):
                continue
            if department in active_departments(tier, now, self._calendar):
                levels.append(tier.spec.level)
            changes.append(tier_next_transition(tier, now, self._calendar))
        return min(levels, default=None), min((c for c in changes if c is not None), default=None)

    def _authorities_changed(self, _: Mapping[str, Any]) -> None:
        """Who forms the emergency authority decides which authorizations count: recheck emergency grants."""
        for key, grant in self._grants.items():
            if grant.get("spec", {}).get("emergency"):
                self._queue.schedule_earlier(key, self._clock.monotonic())

    def _camera_changed(self, key: Key, body: Mapping[str, Any] | None) -> None:
        # A camera's share class or labels can change which grants cover it; cheap to recheck.
        namespace, name = key
        known = self._cameras_by_namespace.setdefault(namespace, {})
        facts = self._facts.of(key, body)
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
        await self._learn_existing_tiers()
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
                facts = self._facts.of((namespace, name), body)
                if facts is not None:
                    self._cameras_by_namespace.setdefault(namespace, {}).setdefault(name, facts)
        except ApiError as error:  # the events will still tell; the narrowing window comes back, nothing worse
            log.warning("could not list cameras before judging grants: %s", error.status.message)
        except Exception as error:  # a timeout or a dropped connection must not end the grant controller
            log.warning("could not list cameras before judging grants: %s", type(error).__name__)
        known = sum(len(names) for names in self._cameras_by_namespace.values())
        log.info("knew %d cameras before judging grants, in %.1fs", known, self._clock.monotonic() - started)

    async def _learn_existing_tiers(self) -> None:
        """Know every level before judging any grant, for the same reason as the cameras: a grant judged first
        would be narrowed to level 4 and re-issued once its level arrived."""
        try:
            async for item in self._client.list(RESOURCES["AccessTier"]):
                body = item.to_dict() if hasattr(item, "to_dict") else dict(item)
                name = body["metadata"]["name"]
                if name not in self._tiers:
                    self.tier_changed(body, deleted=False)
        except ApiError as error:
            log.warning("could not list access tiers before judging grants: %s", error.status.message)
        except Exception as error:  # a timeout or a dropped connection must not end the grant controller
            log.warning("could not list access tiers before judging grants: %s", type(error).__name__)

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
                facts.append(ApprovalFacts.from_resource(GrantApproval.model_validate(body), self._stamp_keys))
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
        # The keeper reads the grant's facts (approved, revoked) from the status just decided, not a stale one,
        # and the permissions the grantee's level leaves (R13), not those asked.
        given = _narrowed(grant, lifecycle).model_copy(update={"status": status})
        try:
            revoked = await self._keep_access(given, lifecycle, cameras, now)
        except NameConflict as conflict:  # a Secret of the token's name that is not this grant's: left alone
            revoked, status = False, await self._name_conflict(body, grant.status, status, conflict, now)
        if revoked:
            # An expiry burst is a thousand grants due in the same second: every token Secret goes first,
            # statuses and Events follow in a later pass (the queue hands out the earliest due first).
            return now + STATUS_AFTER_REVOCATION
        stored = await write_status(self._client, RESOURCES["SharingGrant"], body, status)
        if stored is not None and key in self._grants:
            self._grants[key] = stored
        await self._note_approval_records(key, body, grant.status, status, stored is not None)
        await self._tell(key, body, grant.status, lifecycle, conditions)
        _, level_change = self._level(str(grant.metadata.namespace), now)
        changes = [c for c in (lifecycle.next_change, level_change) if c is not None]
        return min(changes, default=None)

    async def _name_conflict(
        self,
        body: dict[str, Any],
        current: SharingGrantStatus | None,
        status: SharingGrantStatus,
        conflict: NameConflict,
        now: datetime,
    ) -> SharingGrantStatus:
        """Active=False, reason NameConflict, naming the foreign object; a Warning Event on the transition."""
        before = condition_of(current.conditions if current else None, SharingGrantCondition.ACTIVE)
        active = name_conflict_condition(SharingGrantCondition.ACTIVE, str(conflict), before, now)
        if before is None or before.reason != NAME_CONFLICT:
            await self._events.record(body, "Warning", NAME_CONFLICT, str(conflict))
        conditions = [active if c.type == SharingGrantCondition.ACTIVE else c for c in status.conditions]
        return status.model_copy(update={"conditions": conditions})

    def _decide(
        self, grant: SharingGrant, cameras: list[CameraFacts], now: datetime
    ) -> tuple[GrantLifecycle, SharingGrantStatus, list[Cond]]:
        namespace, name = str(grant.metadata.namespace), str(grant.metadata.name)
        # Only the cameras the grant names or selects decide its fate (a NotShared neighbour must not deny it).
        share_classes = {c.name: c.share_class for c in cameras if grant_covers(grant.spec, c)}
        level, _ = self._level(namespace, now)
        configured = self._authorities.current
        lifecycle = grant_phase(
            grant,
            share_classes,
            self._approval_facts(namespace, name),
            now,
            self._calendar,
            level=level,
            emergency_authority=configured.spec.emergency if configured is not None else None,
        )
        covered = effective_cameras(_narrowed(grant, lifecycle).spec, cameras)
        known = self._cameras_by_namespace.get(grant.spec.cameras.namespace, {})
        found = cameras_found(grant.spec.cameras, known.keys(), len(share_classes))
        withheld = withheld_cameras(grant.spec, cameras)
        generation = grant.metadata.generation or 0
        removed = self._removed.get((namespace, name), [])
        status, conditions = grant_status(grant.status, generation, lifecycle, covered, now, found, withheld, removed)
        return lifecycle, status, conditions

    async def _keep_access(
        self, grant: SharingGrant, lifecycle: GrantLifecycle, cameras: list[CameraFacts], now: datetime
    ) -> bool:
        """Issue access to an active grant, take it from any other; True when a terminal end was just revoked."""
        if lifecycle.phase is GrantPhase.ACTIVE:
            await self._credentials.grant_active(grant, lifecycle, cameras)
            return False
        terminal = lifecycle.phase in (GrantPhase.DENIED, GrantPhase.EXPIRED)
        recent_end = lifecycle.phase is GrantPhase.EXPIRED and now - lifecycle.expires_at <= RECENT_END
        revoked = await self._credentials.grant_inactive(
            str(grant.metadata.namespace), str(grant.metadata.name), grant.metadata.uid, lifecycle.phase, terminal,
            cameras=[camera.ref for camera in cameras if grant_covers(grant.spec, camera)], recent_end=recent_end,
        )  # fmt: skip
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
        await self._note_voided(body, lifecycle, current)
        await self._note_narrowed(body, lifecycle, current)
        await self._note_overdue(key, body, lifecycle)

    async def _note_approval_records(
        self,
        key: Key,
        body: dict[str, Any],
        current: SharingGrantStatus | None,
        status: SharingGrantStatus,
        written: bool,
    ) -> None:
        """R15/R16: a decision superseded by its person's newer one, or an approval removed, told once each (the
        history entry written marks it told): an audit record and an Event."""
        if not written:
            return
        self._removed.pop(key, None)
        before = {(entry.decision, entry.approval) for entry in (current.history if current else [])}
        namespace, name = body["metadata"]["namespace"], body["metadata"]["name"]
        for entry in status.history:
            if entry.decision not in APPROVAL_RECORDS or (entry.decision, entry.approval) in before:
                continue
            superseded = entry.decision == Decision.SUPERSEDED
            audit(
                "ApprovalSuperseded" if superseded else "ApprovalRemoved",
                f"SharingGrant {namespace}/{name}",
                "superseded" if superseded else "removed",
                entry.message or "",
                actor=entry.actor or OPERATOR,
                approval=entry.approval,
            )
            reason = "DecisionSuperseded" if superseded else "ApprovalRemoved"
            await self._events.record(body, "Normal" if superseded else "Warning", reason, entry.message or "")

    async def _note_voided(
        self, body: dict[str, Any], lifecycle: GrantLifecycle, current: SharingGrantStatus | None
    ) -> None:
        """R15/R16: approvals voided by a change of content, told once: a Warning Event and an audit record."""
        before = condition_of(current.conditions if current else None, SharingGrantCondition.APPROVED)
        now_voided = lifecycle.phase is GrantPhase.PENDING and bool(lifecycle.voided)
        if not now_voided or (before is not None and before.reason == APPROVALS_VOIDED):
            return
        namespace, name = body["metadata"]["namespace"], body["metadata"]["name"]
        message = (
            f"the grant's content changed after it was approved: approval(s) {', '.join(lifecycle.voided)} no longer"
            " count; access is withdrawn until the new content is approved (R15)"
        )
        audit(
            "ApprovalsVoided",
            f"SharingGrant {namespace}/{name}",
            "voided",
            message,
            voided=list(lifecycle.voided),
            generation=body["metadata"].get("generation"),
            changedBy=_changed_by(body),
        )
        await self._events.record(body, "Warning", APPROVALS_VOIDED, message)

    async def _note_narrowed(
        self, body: dict[str, Any], lifecycle: GrantLifecycle, current: SharingGrantStatus | None
    ) -> None:
        """R13: a grant asking more than its grantee's level allows is narrowed, said once per change."""
        before = condition_of(current.conditions if current else None, SharingGrantCondition.NARROWED)
        if not lifecycle.narrowed or (before is not None and before.message == lifecycle.narrowed):
            return
        namespace, name = body["metadata"]["namespace"], body["metadata"]["name"]
        audit(
            "GrantNarrowed",
            f"SharingGrant {namespace}/{name}",
            "narrowed",
            lifecycle.narrowed,
            actor="camfleet-operator",
            kept=sorted(str(p) for p in lifecycle.permissions),
            asked=list(body.get("spec", {}).get("permissions", [])),
        )
        await self._events.record(body, "Warning", PERMISSIONS_NARROWED, lifecycle.narrowed)

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
            if change.current.reason in SAID_ELSEWHERE:
                continue
            if change.current.reason in announced or (
                change.type in QUIET_WHEN_FALSE and change.current.status == "False"
            ):
                continue
            announced.add(change.current.reason)
            event_type: EventType = "Warning" if change.current.reason in WARNINGS else "Normal"
            await self._events.record(body, event_type, change.current.reason, change.current.message)


def _narrowed(grant: SharingGrant, lifecycle: GrantLifecycle) -> SharingGrant:
    """The grant as the grantee receives it: only the permissions its level leaves (R13), in the asked order."""
    kept = [p for p in grant.spec.permissions if p in lifecycle.permissions]
    if kept == list(grant.spec.permissions):
        return grant
    return grant.model_copy(update={"spec": grant.spec.model_copy(update={"permissions": kept})})


def _changed_by(body: Mapping[str, Any]) -> str | None:
    """Who last changed the grant's content, as the admission webhook recorded it (see handlers/access.py)."""
    identity = decode_identity(body["metadata"].get("annotations"), CHANGED_BY_ANNOTATION)
    return identity[0] if identity else None
