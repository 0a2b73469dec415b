"""The recording controller's recorder groups (issue 20): cameras of a policy with `camerasPerRecorder` above 1.

The group Deployments are the source of truth of who records where (their members annotation, read back by a
restarted operator from the listing it makes before its first reconcile); this part keeps an index of them, runs
one membership step at a time per policy (`recording.groups.desired_groups`), and applies what changed: the
group's volume (grown for the group, released once nobody records into it), its members Secret (what the pod
records, with each recording member's credentials copied from its camera's Secret) and its Deployment (whose pod
template never changes with the members, so a join restarts nobody). The recording controller calls it for the
cameras of grouped policies instead of making per-camera recorders and volumes.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from math import inf
from typing import Any, cast

from lightkube import AsyncClient
from lightkube.resources.apps_v1 import Deployment
from lightkube.resources.core_v1 import PersistentVolumeClaim, Secret

from camfleet.api.camera import Camera, StreamUri
from camfleet.api.recording_policy import RecordingPolicy
from camfleet.clock import Clock
from camfleet.kube.apply import annotate, apply, delete_if_present, get_or_none, manifest_digest
from camfleet.kube.resources import CameraResource
from camfleet.kube.secrets import CredentialsUnavailable, apply_owned_secret, read_credentials
from camfleet.kube.storage import StorageClassFacts
from camfleet.kube.store import CameraStore, Key
from camfleet.recording import groups, workloads
from camfleet.recording.groups import Group, MemberCamera, MemberCredentials, MemberMode
from camfleet.recording.holds import RELEASED_AT, RETAIN_UNTIL, RETENTION_DAYS, released_until
from camfleet.recording.provisioning import ObservedVolume, Problem, volume_event, volume_problem
from camfleet.recording.sizing import decide_volume
from camfleet.recording.state import with_observed_streams
from camfleet.scheduling import DueQueue


def rolled_out_ready(body: Mapping[str, Any], before: int | None, template_since: int) -> int:
    """Ready pods of a Deployment that run its latest pod template (after a change of the template, e.g. the
    policy's segment length, the old pod may still be ready for a moment).

    A Deployment's generation also grows when only its annotations change (they are copied to its ReplicaSets), as
    every membership change does. `template_since` is the generation from which the pod template is the one the
    body shows: a status the Deployment controller wrote for that generation or a later one counts the right pods,
    so joins arriving faster than the controller looks (a fleet's start) do not hide a pod that became ready. Before
    that, the count last seen (`before`) stands; a real template change shows once observed, as 0 updated pods."""
    status = body.get("status") or {}
    if int(status.get("observedGeneration") or 0) < template_since:
        return before or 0
    return min(int(status.get("readyReplicas") or 0), int(status.get("updatedReplicas") or 0))


log = logging.getLogger(__name__)
PolicyKey = tuple[str, str]
"""(namespace, policy label value): the groups of one policy."""
GROUP_APPLY_SECONDS = 1.0
"""Cameras joining within this window go into one write of their group's members Secret and annotation (fewer
API writes at a fleet's start; no write restarts the group's pod). Departures are written at once (a
decommissioned camera's Secret may go next)."""
RETRY_SECONDS = 5.0
CREDENTIALS_REFRESH_SECONDS = 600.0
"""The oldest a recording member's credentials may be (the operator may not watch Secrets: that would read every
Secret of the namespace). The camera controller reads each camera's Secret on every device pass (the resync, 300 s
by default) and hands what it read over (`credentials_read`): a rotated password goes to the group's Secret then.
Only members no pass has read for this long (twice the default resync, so a pass a little late is not overtaken;
counted from the process's start for a member not read yet: a restart passes every camera) are read again here,
so a healthy fleet's Secrets are read once per pass, not twice."""
CREDENTIALS_CHECK_SECONDS = 60.0
"""How often a policy's members are looked over for credentials older than CREDENTIALS_REFRESH_SECONDS: a rotated
password reaches the group's Secret (and from there the pod's mount, after the kubelet's sync period) at the
member's next device pass, and within this plus the refresh age when no pass reads it."""
CREDENTIALS_FRESH_SECONDS = 30.0
"""A join normally reads its camera's Secret again (its own reconcile asked for it: the Secret or its reference may
have changed); not when the camera's device pass read it this recently, as it does just before a camera's first
join."""
CREDENTIAL_READS = 8
"""Secrets read at once during a refresh."""


@dataclass(frozen=True)
class Placement:
    """Where a camera records: its group, whether the group's pod is ready, and what stops it (if anything)."""

    group: Group
    ready_replicas: int
    problem: Problem | None = None


class RecorderGroups:
    def __init__(
        self,
        client: AsyncClient,
        cameras: CameraStore,
        clock: Clock,
        apply_once: Callable[[dict[str, Any]], Awaitable[None]],
        wake: Callable[[Key, float], None],
        settings: workloads.RecorderSettings,
        floor_days: int,
        observed_streams: Callable[[Key], list[StreamUri] | None] = lambda key: None,
    ) -> None:
        self._client = client
        # A member's streams found by its device pass before its status shows them (RecordingController).
        self._observed_streams = observed_streams
        self._cameras = cameras
        self._clock = clock
        self._apply_once = apply_once
        self._wake = wake  # schedules a camera's reconcile at a monotonic time (a retained member's expiry)
        self._settings = settings
        self._floor_days = floor_days
        self._observed: dict[PolicyKey, dict[str, Group]] = {}
        # Decided but not written yet (see GROUP_APPLY_SECONDS); read over `_observed`, so a watch event of the
        # older Deployment never loses a decision.
        self._pending: dict[PolicyKey, dict[str, Group]] = {}
        self._pending_context: dict[PolicyKey, tuple[RecordingPolicy, StorageClassFacts | None, int]] = {}
        self.queue: DueQueue[PolicyKey] = DueQueue(clock)
        self._member_of: dict[Key, tuple[PolicyKey, str]] = {}
        self._ready: dict[tuple[str, str], int] = {}
        self._looked_up: dict[Key, dict[str, Any] | None] = {}  # members read before the store had them
        self._generations: dict[tuple[str, str], tuple[str, int]] = {}  # uid and generation of each group, as taken
        # Each group Deployment's pod template as last seen, and the generation since which it stands (the
        # generation it was first seen at: never earlier than the truth).
        self._templates: dict[tuple[str, str], tuple[str, int]] = {}
        self._volumes: dict[tuple[str, str], dict[str, Any]] = {}
        self._locks: dict[PolicyKey, asyncio.Lock] = {}
        # Each recording member's credentials as last read from its camera's Secret (None: unreadable), and the
        # cameras whose Secret is read again at the next write (the ones whose own pass asked for it).
        self._credentials: dict[Key, MemberCredentials | None] = {}
        self._read_at: dict[Key, float] = {}  # monotonic time each of those was read
        self._started = clock.monotonic()
        self._rotated: dict[PolicyKey, set[str]] = {}  # members whose device pass found new credentials
        self._fresh: dict[PolicyKey, set[str]] = {}
        self._last_context: dict[PolicyKey, tuple[RecordingPolicy, int]] = {}
        self._secret_digests: dict[tuple[str, str], str] = {}  # (namespace, Secret name) -> digest applied
        self._refreshed_at: dict[PolicyKey, float] = {}  # monotonic time of the policy's last credentials refresh

    # -- the index, fed by kopf (and by our own applies) ---------------------------------------------------------

    def deployment_changed(self, body: Mapping[str, Any], deleted: bool) -> list[Key]:
        """A group Deployment as it is now; the member cameras to look at again when its readiness changed."""
        meta = body["metadata"]
        namespace = meta["namespace"]
        policy = (meta.get("labels") or {}).get(workloads.POLICY_LABEL, "")
        try:
            group = groups.observed_group(body)
        except (ValueError, KeyError, TypeError) as error:
            log.error("group recorder %s/%s has unreadable members (%s); left as it is", namespace, meta["name"], error)
            return []
        if group is None:
            return []
        if not deleted and self._older_than_taken((namespace, group.name), meta):
            return []
        known = self._observed.setdefault((namespace, policy), {})
        before = known.get(group.name)
        if deleted:
            known.pop(group.name, None)
            self._generations.pop((namespace, group.name), None)
        else:
            known[group.name] = group
            self._index_members(namespace, (namespace, policy), group)
        since = self._template_since((namespace, group.name), body, deleted)
        ready = 0 if deleted else rolled_out_ready(body, self._ready.get((namespace, group.name)), since)
        if self._ready.get((namespace, group.name)) != ready:
            self._ready[(namespace, group.name)] = ready
            return [(namespace, m.camera) for m in group.members if m.mode is MemberMode.RECORD]
        # Same pod, other members: only the members whose own entry changed are looked at again (a join must not
        # cost a pass of every other member).
        return [
            (namespace, m.camera)
            for m in group.members
            if m.mode is MemberMode.RECORD and (before is None or before.member(m.camera) != m)
        ]

    def _older_than_taken(self, identity: tuple[str, str], meta: Mapping[str, Any]) -> bool:
        """Every change of the members annotation makes a new generation of a Deployment. An apply's answer is newer
        than the watch events of the writes before it, which may still come after it: an older state taken as
        current would have the next join written without the members it lacks (recorded by nobody, while their
        status still said Recording). A Deployment made again under the same name (a new uid) starts over."""
        taken = (str(meta.get("uid") or ""), int(meta.get("generation") or 0))
        previous = self._generations.get(identity)
        if previous is not None and previous[0] == taken[0] and taken[1] < previous[1]:
            return True
        self._generations[identity] = taken
        return False

    def _index_members(self, namespace: str, pkey: PolicyKey, group: Group) -> None:
        for member in group.members:
            self._member_of[(namespace, member.camera)] = (pkey, group.name)
            if member.retain_until is not None:  # its expiry is a reconcile of that camera's name
                wait = max(0.0, (member.retain_until - self._clock.now()).total_seconds())
                self._wake((namespace, member.camera), self._clock.monotonic() + wait + 1)

    def _template_since(self, identity: tuple[str, str], body: Mapping[str, Any], deleted: bool) -> int:
        if deleted:
            self._templates.pop(identity, None)
            return 0
        digest = manifest_digest((body.get("spec") or {}).get("template") or {})
        seen = self._templates.get(identity)
        if seen is None or seen[0] != digest:
            seen = (digest, int(body["metadata"].get("generation") or 0))
            self._templates[identity] = seen
        return seen[1]

    def volume_changed(self, body: Mapping[str, Any], deleted: bool) -> None:
        meta = body["metadata"]
        group = (meta.get("labels") or {}).get(groups.GROUP_LABEL)
        if group is None:
            return
        if deleted:
            self._volumes.pop((meta["namespace"], group), None)
        else:
            self._volumes[(meta["namespace"], group)] = dict(body)

    # -- questions ---------------------------------------------------------------------------------------------

    def recording_members(self, body: Mapping[str, Any]) -> list[str]:
        """The recording cameras a group Deployment names (none when unreadable)."""
        try:
            group = groups.observed_group(body)
        except (ValueError, KeyError, TypeError):
            return []
        return [m.camera for m in group.recording] if group else []

    def group_of(self, key: Key) -> tuple[str, Group] | None:
        """(policy label, group) of the group the camera is a member of (recording or retained), if any."""
        found = self._member_of.get(key)
        if found is None:
            return None
        group = self._current(found[0]).get(found[1])
        return (found[0][1], group) if group is not None and group.member(key[1]) is not None else None

    def records(self, key: Key) -> bool:
        found = self.group_of(key)
        member = found[1].member(key[1]) if found else None
        return member is not None and member.mode is MemberMode.RECORD

    def grouped(self, policy: RecordingPolicy, key: Key, single_volume: Mapping[str, Any] | None) -> bool:
        """Whether the policy records the camera in a group: it is a member of one of the policy's groups already,
        or the policy groups and the camera has no recordings of this policy on a volume of its own (a camera
        keeps where it records for life: changing camerasPerRecorder moves nobody)."""
        found = self.group_of(key)
        label = workloads.label_value(str(policy.metadata.name))
        if found is not None and found[0] == label:
            return True
        if policy.spec.cameras_per_recorder <= 1:
            return False
        if single_volume is None:
            return True
        meta = single_volume.get("metadata") or {}
        own = (meta.get("labels") or {}).get(workloads.POLICY_LABEL) == label
        return not (own and released_until(meta.get("annotations") or {}) is None)

    def unbound_volume(self, namespace: str, group: str, storage_class: str | None) -> str | None:
        """Why the group's pod cannot start when its volume is not bound (None: bound)."""
        phase = ((self._volumes.get((namespace, group)) or {}).get("status") or {}).get("phase")
        if phase == "Bound":
            return None
        return (
            f"PersistentVolumeClaim {groups.volume_name(group)} of recorder group {group} is "
            f"{phase or 'not yet seen'}, not bound to a volume; {storage_class or 'the default storage class'} must "
            "provision one (or create a PersistentVolume for the claim)"
        )

    def credentials_read(self, key: Key, credentials: MemberCredentials) -> None:
        """The camera's device pass has just read its Secret (the camera is recorded by a grouped policy): kept, so
        that its join and the refresh need not read it again; a change (a rotation) is written to its group's
        Secret at once."""
        before = self._credentials.get(key)
        known = key in self._credentials
        self._credentials[key] = credentials
        self._read_at[key] = self._clock.monotonic()
        placed = self._member_of.get(key)
        if known and before != credentials and placed is not None:
            self._rotated.setdefault(placed[0], set()).add(key[1])
            self.queue.schedule_earlier(placed[0], self._clock.monotonic())

    def forget_credentials(self, key: Key) -> None:
        """The camera is gone, or no longer recorded in groups: no password of it stays in this process."""
        self._credentials.pop(key, None)
        self._read_at.pop(key, None)

    def _read_within(self, key: Key, seconds: float, now: float) -> bool:
        """The credentials are cached and were read less than `seconds` ago (`_read_at` is kept with `_credentials`:
        set and dropped together)."""
        return now - self._read_at.get(key, -inf) < seconds

    def policy_groups(self, namespace: str, policy: str) -> tuple[Group, ...]:
        return tuple(self._current((namespace, workloads.label_value(policy))).values())

    def _current(self, pkey: PolicyKey) -> dict[str, Group]:
        return {**self._observed.get(pkey, {}), **self._pending.get(pkey, {})}

    def _ready_for(self, namespace: str, pkey: PolicyKey, group: str, camera: str) -> int:
        """The group's ready pods, counted only once the Deployment written names this camera as recording (a
        decided but unwritten join does not record it). The members Secret naming it is written just before the
        annotation, so from then on the pod records it as soon as the kubelet has refreshed the mount (within its
        sync period, about a minute) and the pod has read it (a few seconds); `/chain/<camera>` answers 404 until
        then, so the checkpointer does not judge it before."""
        written = self._observed.get(pkey, {}).get(group)
        member = written.member(camera) if written else None
        return self._ready.get((namespace, group), 0) if member and member.mode is MemberMode.RECORD else 0

    # -- steps -------------------------------------------------------------------------------------------------

    async def join(
        self, camera: Camera, policy: RecordingPolicy, facts: StorageClassFacts, retention: int
    ) -> Placement:
        """Record the camera in its group (the one it had, or the lowest with room) and apply what changed."""
        name, namespace = str(camera.metadata.name), str(camera.metadata.namespace)
        changed = await self._step(policy, {name: str(camera.metadata.uid)}, set(), facts, retention, force={name})
        group = next(g for g in changed if g.member(name) is not None)
        problem = await self._last_problem(policy, group, facts, retention)
        pkey = (namespace, workloads.label_value(str(policy.metadata.name)))
        return Placement(group, self._ready_for(namespace, pkey, group.name, name), problem)

    async def leave(self, key: Key, policy: RecordingPolicy | None, retention: int) -> datetime | None:
        """The camera left its group's policy (or is gone): retained there until now + retention. Returns then."""
        found = self.group_of(key)
        if found is None:
            return None
        if policy is None:  # its policy is gone (its groups go with it): see policy_gone
            return None
        await self._step(policy, {}, {key[1]}, None, retention, force=set(), immediate=True)
        found = self.group_of(key)
        member = found[1].member(key[1]) if found else None
        return member.retain_until if member is not None else None

    async def expire(self, key: Key, policy: RecordingPolicy | None, retention: int) -> None:
        """A retained member's time may have come: one step of its policy drops it when past (and unheld)."""
        if policy is not None and self.group_of(key) is not None:
            await self._step(policy, {}, set(), None, retention, force=set(), immediate=True)

    async def policy_gone(self, namespace: str, policy: str) -> None:
        """The policy was deleted: garbage collection takes its group Deployments; their volumes are released now
        (whatever recorded there stopped now), so the janitor destroys them only after their retention."""
        pkey = (namespace, workloads.label_value(policy))
        self._pending.pop(pkey, None)
        self._pending_context.pop(pkey, None)
        for group in list(self._observed.get(pkey, {}).values()):
            await self._release_volume(namespace, group, None)

    async def _step(
        self,
        policy: RecordingPolicy,
        recorded: Mapping[str, str],
        departed: set[str],
        facts: StorageClassFacts | None,
        retention: int,
        force: set[str],
        immediate: bool = False,
    ) -> tuple[Group, ...]:
        """One membership step of the policy; what changed is written within GROUP_APPLY_SECONDS (at once when
        `immediate`). `force`: cameras whose group is written again even if its members did not change (their
        stream or credentials may have)."""
        namespace, name = str(policy.metadata.namespace), str(policy.metadata.name)
        pkey = (namespace, workloads.label_value(name))
        async with self._locks.setdefault(pkey, asyncio.Lock()):
            current = self._current(pkey)
            desired = groups.desired_groups(
                name, tuple(current.values()), recorded, departed, self._clock.now(), retention,
                policy.spec.cameras_per_recorder, policy.spec.legal_hold.enabled,
            )  # fmt: skip
            changed = [
                g for g in desired if current.get(g.name) != g or force.intersection(m.camera for m in g.members)
            ]
            if changed:
                self._fresh.setdefault(pkey, set()).update(force)
                self._queue_writes(pkey, changed, policy, facts, retention)
                if immediate:
                    await self._write_pending(pkey)
                else:
                    self.queue.schedule_earlier(pkey, self._clock.monotonic() + GROUP_APPLY_SECONDS)
            return desired

    def _queue_writes(
        self, pkey: PolicyKey, changed: list[Group], policy: RecordingPolicy, facts: StorageClassFacts | None,
        retention: int,
    ) -> None:  # fmt: skip
        pending = self._pending.setdefault(pkey, {})
        for group in changed:
            pending[group.name] = group
            for member in group.members:
                self._member_of[(pkey[0], member.camera)] = (pkey, group.name)
        earlier = self._pending_context.get(pkey)
        self._pending_context[pkey] = (policy, facts or (earlier[1] if earlier else None), retention)

    async def write(self, pkey: PolicyKey) -> float | None:
        """The queue's work: write the policy's decided groups (volumes first, then Secrets, then Deployments), the
        Secrets of groups whose members' device passes found new credentials, and every CREDENTIALS_CHECK_SECONDS
        read again the credentials no pass has read for CREDENTIALS_REFRESH_SECONDS. Due again for that check
        while the policy has groups (however often joins write in between)."""
        async with self._locks.setdefault(pkey, asyncio.Lock()):
            await self._write_pending(pkey)
        rotated = self._rotated.pop(pkey, set())
        now = self._clock.monotonic()
        last = self._refreshed_at.setdefault(pkey, now)  # a first write has just read what it wrote
        if now - last >= CREDENTIALS_CHECK_SECONDS:
            self._refreshed_at[pkey] = now
            rotated |= await self._refresh_credentials(pkey)
        if rotated:
            await self._rewrite_secrets(pkey, rotated)
        if not self._observed.get(pkey):
            return None
        return max(0.0, self._refreshed_at[pkey] + CREDENTIALS_CHECK_SECONDS - self._clock.monotonic())

    async def _refresh_credentials(self, pkey: PolicyKey) -> set[str]:
        """Read again the Secrets of the recording members whose credentials are older than
        CREDENTIALS_REFRESH_SECONDS; the members whose credentials changed (a rotation)."""
        namespace, now = pkey[0], self._clock.monotonic()
        written = dict(self._observed.get(pkey, {}))
        members = [
            m.camera for g in written.values() for m in g.recording
            if now - self._read_at.get((namespace, m.camera), self._started) >= CREDENTIALS_REFRESH_SECONDS
        ]  # fmt: skip
        before = {camera: self._credentials.get((namespace, camera)) for camera in members}
        await self._read_credentials(namespace, members)
        return {camera for camera in members if self._credentials.get((namespace, camera)) != before[camera]}

    async def _rewrite_secrets(self, pkey: PolicyKey, rotated: set[str]) -> None:
        """Rewrite the members Secrets of the policy's groups recording any of `rotated` (an unchanged group writes
        nothing)."""
        context = self._last_context.get(pkey)
        if context is None:
            return
        async with self._locks.setdefault(pkey, asyncio.Lock()):
            for group in self._current(pkey).values():
                if rotated.intersection(m.camera for m in group.recording):
                    await self._look_up_unknown(pkey[0], group)
                    await self._apply_members_secret(context[0], group, context[1])

    async def _read_credentials(self, namespace: str, cameras: list[str]) -> None:
        """Read the cameras' credentials from their own Secrets into the cache (a few at a time)."""
        limit = asyncio.Semaphore(CREDENTIAL_READS)

        async def read(camera: str) -> None:
            body = self._member_body((namespace, camera))
            if body is None:
                return
            ref = Camera.model_validate(body).spec.credentials_secret_ref
            async with limit:
                try:
                    found = await read_credentials(self._client, namespace, ref)
                except CredentialsUnavailable as missing:  # names the Secret and keys, never a value
                    log.warning("recorder group member %s/%s: %s; it records without credentials", namespace,
                                camera, missing)  # fmt: skip
                    self._credentials[(namespace, camera)] = None
                else:
                    self._credentials[(namespace, camera)] = MemberCredentials(found.username, found.password)
                self._read_at[(namespace, camera)] = self._clock.monotonic()

        await asyncio.gather(*(read(camera) for camera in cameras))

    def write_failed(self, pkey: PolicyKey) -> float:
        log.exception("writing recorder groups of policy %s/%s failed; retrying in %.0fs", *pkey, RETRY_SECONDS)
        return RETRY_SECONDS

    async def _write_pending(self, pkey: PolicyKey) -> None:
        pending = self._pending.pop(pkey, {})
        context = self._pending_context.pop(pkey, None)
        if not pending or context is None:
            return
        policy, facts, retention = context
        self._last_context[pkey] = (policy, retention)
        fresh = self._fresh.pop(pkey, set())
        written: set[str] = set()
        try:
            for name in sorted(pending):
                await self._apply_group(policy, pending[name], facts, retention, fresh)
                written.add(name)
        finally:
            unwritten = {name: group for name, group in pending.items() if name not in written}
            if unwritten:  # kept (a newer decision wins), and tried again
                self._pending[pkey] = {**unwritten, **self._pending.get(pkey, {})}
                self._pending_context.setdefault(pkey, context)
                self.queue.schedule_earlier(pkey, self._clock.monotonic() + RETRY_SECONDS)

    async def _apply_group(
        self, policy: RecordingPolicy, group: Group, facts: StorageClassFacts | None, retention: int,
        fresh: set[str],
    ) -> None:  # fmt: skip
        namespace, policy_name = str(policy.metadata.namespace), str(policy.metadata.name)
        if not group.members:  # every camera that recorded here is past retention: nothing left to prune
            await delete_if_present(self._client, Deployment, group.name, namespace)
            await delete_if_present(self._client, Secret, groups.members_secret_name(group.name), namespace)
            self._secret_digests.pop((namespace, groups.members_secret_name(group.name)), None)
            labels = {groups.GROUP_LABEL: group.name, workloads.POLICY_LABEL: workloads.label_value(policy_name)}
            gone = {"name": group.name, "namespace": namespace, "labels": labels}
            self.deployment_changed({"metadata": gone}, deleted=True)
            return
        if group.recording and facts is not None:
            await self._provision_volume(policy, group, facts, retention)
        elif not group.recording:
            await self._release_volume(namespace, group, retention)
        for member in group.members:  # a camera that left keeps no password in this process
            if member.mode is MemberMode.RETAIN:
                self.forget_credentials((namespace, member.camera))
        now = self._clock.monotonic()
        unread = [
            m.camera for m in group.recording
            if not self._read_within((namespace, m.camera), CREDENTIALS_FRESH_SECONDS if m.camera in fresh else inf,
                                     now)
        ]  # fmt: skip
        await self._look_up_unknown(namespace, group)
        await self._read_credentials(namespace, unread)
        # The Secret first: the members it names are what the annotation then says records here.
        await self._apply_members_secret(policy, group, retention)
        await self._apply_once(groups.group_recorder(policy, group, self._settings))

    async def _look_up_unknown(self, namespace: str, group: Group) -> None:
        """Read from the API server the recording members this process has not been told of (just after a start its
        listing of the cameras may still be under way): a group written meanwhile must neither write them as gone
        (`retain`: the pod would stop recording them) nor leave out their credentials. A member found absent is
        gone (deleted while no operator ran)."""
        for member in group.recording:
            key = (namespace, member.camera)
            if not self._cameras.knows(key) and key not in self._looked_up:
                found = await get_or_none(self._client, CameraResource, member.camera, namespace)
                self._looked_up[key] = found.to_dict() if found is not None else None

    def _member_body(self, key: Key) -> Mapping[str, Any] | None:
        """The member's camera as the store has it, else as `_look_up_unknown` read it."""
        body = self._cameras.get(key)
        if body is not None:
            self._looked_up.pop(key, None)
            return body
        return self._looked_up.get(key)

    def _member_cameras(self, namespace: str, group: Group) -> dict[str, MemberCamera]:
        cameras = {}
        for member in group.recording:
            body = self._member_body((namespace, member.camera))
            if body is not None:
                camera = with_observed_streams(
                    Camera.model_validate(body), self._observed_streams((namespace, member.camera))
                )
                cameras[member.camera] = MemberCamera.of(camera)
        return cameras

    async def _apply_members_secret(self, policy: RecordingPolicy, group: Group, retention: int) -> None:
        """Apply the group's members Secret unless this process applied the same one already (as the publisher
        Secrets: no digest of it is written onto any object; after a restart it is read once and written only if it
        differs). Never logged: it holds passwords."""
        namespace = str(policy.metadata.namespace)
        credentials = {
            m.camera: found for m in group.recording if (found := self._credentials.get((namespace, m.camera)))
        }
        manifest = groups.group_members_secret(
            policy, group, self._member_cameras(namespace, group), credentials, retention
        )
        identity = (namespace, manifest["metadata"]["name"])
        digest = manifest_digest(manifest)
        if self._secret_digests.get(identity) == digest:
            return
        if identity in self._secret_digests:  # camfleet's, written by this process: only the change to write
            await apply(self._client, manifest)
        else:  # never someone else's; after a restart, nothing when it holds the same already
            await apply_owned_secret(self._client, manifest, (workloads.COMPONENT_LABEL, groups.GROUP_LABEL))
        self._secret_digests[identity] = digest

    def _bitrates(self, namespace: str, group: Group) -> list[int]:
        return [self._cameras.bitrate_kbps((namespace, member.camera)) for member in group.recording]

    async def _volume(self, namespace: str, group: str) -> PersistentVolumeClaim | None:
        body = self._volumes.get((namespace, group))
        if body is not None:
            return cast(PersistentVolumeClaim, PersistentVolumeClaim.from_dict(body))
        found: PersistentVolumeClaim | None = await get_or_none(
            self._client, PersistentVolumeClaim, groups.volume_name(group), namespace
        )
        return found

    async def _provision_volume(
        self, policy: RecordingPolicy, group: Group, facts: StorageClassFacts, retention: int
    ) -> Problem | None:
        """Create or grow the group's volume (never shrink), recorded into again if it had been released."""
        namespace = str(policy.metadata.namespace)
        existing = ObservedVolume.of(await self._volume(namespace, group.name))
        if existing.released:  # a member records here again: it is in use, so it must not expire
            await annotate(self._client, PersistentVolumeClaim, groups.volume_name(group.name), namespace,
                           {RETAIN_UNTIL: None, RELEASED_AT: None})  # fmt: skip
        size = max(policy.spec.cameras_per_recorder, len(group.recording))
        needed = groups.group_volume_bytes(
            size, self._bitrates(namespace, group), retention, policy.spec.storage.headroom_percent
        )
        decision = decide_volume(needed, existing.request, facts.expansion_allowed, existing.bound)
        manifest = groups.group_volume(
            policy, group.name, facts.name, decision.request, retention, existing.kept_hold(policy)
        )
        await self._apply_once(manifest)
        event = volume_event(decision, existing.request)
        if event is not None:
            log.info("group volume %s/%s: %s", namespace, groups.volume_name(group.name), event[1])
        return volume_problem(decision, existing.request, facts.name)

    async def _last_problem(
        self, policy: RecordingPolicy, group: Group, facts: StorageClassFacts, retention: int
    ) -> Problem | None:
        """Whether the group's volume is too small for the group (the storage class does not expand)."""
        namespace = str(policy.metadata.namespace)
        existing = ObservedVolume.of(await self._volume(namespace, group.name))
        size = max(policy.spec.cameras_per_recorder, len(group.recording))
        needed = groups.group_volume_bytes(
            size, self._bitrates(namespace, group), retention, policy.spec.storage.headroom_percent
        )
        decision = decide_volume(needed, existing.request, facts.expansion_allowed, existing.bound)
        return volume_problem(decision, existing.request, facts.name)

    async def _release_volume(self, namespace: str, group: Group, retention: int | None) -> None:
        """Nobody records into the group's volume any more: release it at the last departure (R3)."""
        volume = await self._volume(namespace, group.name)
        if volume is None:
            return
        annotations = (volume.metadata.annotations if volume.metadata else None) or {}
        if released_until(annotations) is not None:
            return
        days = retention or int(annotations.get(RETENTION_DAYS, self._floor_days))
        now = self._clock.now()
        if retention is None:  # the policy is gone: whoever recorded here stopped now
            group = Group(group.index, group.name, tuple(
                groups.Member(m.camera, m.uid, MemberMode.RETAIN, m.retain_until or now + timedelta(days=days))
                for m in group.members
            ))  # fmt: skip
        release = groups.group_release(group, now, max(days, self._floor_days))
        if release is None:
            return
        await annotate(self._client, PersistentVolumeClaim, groups.volume_name(group.name), namespace, release)
        log.info("group volume %s/%s released, kept until %s", namespace, groups.volume_name(group.name),
                 release[RETAIN_UNTIL])  # fmt: skip
