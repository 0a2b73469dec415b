"""The recording controller: for each camera, the policy that records it and the objects that do the recording.

Per camera (one due-time queue, like the camera controller): pick the policy, check the storage
class, size the retention volume (create, grow, never shrink), apply the recorder and transcoders,
and hand the outcome to the camera controller, which alone writes Camera status. A camera that no
policy records any more loses its recorder, and its volume is released with a retain-until time;
the retention janitor deletes it only after that (R3).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from lightkube import AsyncClient
from lightkube.core.exceptions import ApiError
from lightkube.resources.apps_v1 import Deployment
from lightkube.resources.core_v1 import PersistentVolumeClaim
from pydantic import ValidationError

from camfleet.active_gate import ActiveGate
from camfleet.api.camera import Camera, CameraCondition, StreamUri
from camfleet.api.recording_policy import RecordingPolicy
from camfleet.cameras.device_pass import Credentials
from camfleet.clock import Clock
from camfleet.condition_merge import stored_condition, transitions
from camfleet.controllers.recording_groups import Placement, RecorderGroups
from camfleet.kube.apply import (
    APPLIED_HASH_ANNOTATION,
    annotate,
    apply,
    delete_if_present,
    get_or_none,
    manifest_digest,
)
from camfleet.kube.drift import edited_fields, foreign_fields
from camfleet.kube.events import EventRecorder, EventType
from camfleet.kube.listing import list_served
from camfleet.kube.ownership import NAME_CONFLICT, NameConflict, check_owned, delete_owned, foreign_because
from camfleet.kube.resources import RESOURCES
from camfleet.kube.secrets import apply_owned_secret
from camfleet.kube.status import write_status
from camfleet.kube.storage import StorageClassFacts, storage_class_facts
from camfleet.kube.store import CameraStore, Key
from camfleet.recording import groups, workloads
from camfleet.recording.groups import MemberCredentials
from camfleet.recording.holds import RELEASED_AT, RETAIN_UNTIL, release_annotations, released_until
from camfleet.recording.policy_status import policy_status
from camfleet.recording.provisioning import (
    RETENTION_DAYS_ANNOTATION,
    ObservedVolume,
    Problem,
    storage_problem,
    volume_event,
    volume_manifest,
    volume_problem,
)
from camfleet.recording.selection import Selection, select_policy, selected_by
from camfleet.recording.sizing import decide_volume, required_bytes
from camfleet.recording.state import (
    RecordingState,
    member_problem,
    recording_from_status,
    recording_state,
    with_observed_streams,
)
from camfleet.scheduling import DueQueue, serve

log = logging.getLogger(__name__)
# A pass is mostly API calls (apply the volume, the recorder); many cameras change at once in a fleet's start.
WORKERS = 32
# StorageClasses change rarely; reading one per reconcile cost a GET per camera event.
STORAGE_CLASS_CACHE_SECONDS = 30.0
# An object in the way of one of the camera's (NameConflict) may go without an event this controller watches: the
# garbage collector removing what a deleted camera of the same name left (delete, then apply again), or its owner
# deleting a Secret. The camera is looked at again this often until the name is free (one GET each time).
NAME_CONFLICT_RETRY_SECONDS = 10.0


@dataclass(frozen=True)
class RecordingSettings:
    recorder: workloads.RecorderSettings
    retention_floor_days: int = 30
    namespaces: tuple[str, ...] = ()
    """The namespaces the operator watches (empty: all)."""
    publisher_password: Callable[[str], str] | None = None
    """The media gateway password of camera `namespace/name`'s transcoders (`PublisherCredentials.password_for`);
    None: no publisher Secret is made (the transcoders then cannot publish)."""


def recording_fingerprint(body: Mapping[str, Any], observed: str | None = None) -> str:
    """The parts of a Camera that matter to recording; other changes (e.g. its conditions) need no pass.
    `observed`: the main stream a device pass found that the status does not show yet (`streams_observed`)."""
    spec = body.get("spec", {})
    shown = (body.get("status") or {}).get("streamUris") or []
    relevant = {
        "labels": body["metadata"].get("labels"),
        "deleting": bool(body["metadata"].get("deletionTimestamp")),
        "policyRef": spec.get("recordingPolicyRef"),
        "credentials": spec.get("credentialsSecretRef"),
        "encoder": spec.get("device", {}).get("videoEncoder"),
        "masks": spec.get("device", {}).get("privacyMasks"),
        "stream": shown[0]["uri"] if shown else observed,
        "stalled": camera_stall(body.get("status") or {}),
    }
    return hashlib.sha256(json.dumps(relevant, sort_keys=True, default=str).encode()).hexdigest()


def camera_stall(status: Mapping[str, Any]) -> tuple[str, str] | None:
    """The camera's own Stalled condition as (reason, message) when True (see `recording_state`)."""
    found = stored_condition(status, CameraCondition.STALLED)
    if found.get("status") != "True":
        return None
    return str(found.get("reason", "")), str(found.get("message", ""))


def _volume_essentials(body: Mapping[str, Any]) -> dict[str, Any]:
    """The parts of a retention volume `_provision` reads (a whole claim per camera would cost memory)."""
    meta, spec = body["metadata"], body.get("spec") or {}
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {k: meta[k] for k in ("name", "namespace", "labels", "annotations") if k in meta},
        "spec": {"resources": {"requests": dict((spec.get("resources") or {}).get("requests") or {})}},
        "status": {"phase": (body.get("status") or {}).get("phase")},
    }


class RecordingController:
    def __init__(
        self,
        client: AsyncClient,
        events: EventRecorder,
        cameras: CameraStore,
        settings: RecordingSettings,
        clock: Clock,
        verdicts: Callable[[Key, RecordingState], None],
        masked_streams: Callable[[Key, frozenset[str]], None] | None = None,
        cameras_listed: Callable[[str], bool] = lambda namespace: True,
    ) -> None:
        self._client = client
        self._cameras_listed = cameras_listed  # whether `cameras` holds every camera of a namespace yet
        # Tells the door which of a camera's streams blank its privacy masks (R17: all a non-owner may read).
        self._masked_streams = masked_streams or (lambda key, profiles: None)
        self._events = events
        self._cameras = cameras
        self._clock = clock
        self._verdicts = verdicts  # the camera controller's Recording condition
        self._settings = settings
        self._policies: dict[str, dict[str, dict[str, Any]]] = {}  # namespace -> name -> body
        self.policies_epoch = 0  # the sharder re-judges which cameras share a replica when it changes
        self._policy_models: dict[Key, tuple[str | None, RecordingPolicy]] = {}  # by resourceVersion
        # Sharded replicas (follow_every_camera): what each camera's own status says of its recording.
        self._status_gate: ActiveGate | None = None
        self._recorded_by: dict[Key, tuple[str | None, RecordingState | None]] = {}
        self._fingerprints: dict[Key, str] = {}
        # Streams the camera controller's device pass found that the camera's status does not show yet.
        self._observed_streams: dict[Key, list[StreamUri]] = {}
        self._applied: dict[tuple[str, str, str], str] = {}  # (kind, namespace, name) -> manifest hash
        # Workloads whose spec other managers own parts of (hand edits), as their managedFields say; usually empty.
        self._foreign: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
        self._recorder_ready: dict[Key, int] = {}
        self._member_recording: dict[Key, bool] = {}  # grouped cameras, as their group pod last said
        self._winners: dict[Key, str] = {}
        self._states: dict[Key, RecordingState] = {}
        self._volumes: set[Key] = set()
        self._volume_phases: dict[Key, str | None] = {}
        # Indexes of what exists, fed by kopf (see handlers/recording.py), instead of a GET or LIST per reconcile.
        self._volume_bodies: dict[Key, dict[str, Any]] = {}
        self._transcoders: dict[Key, set[str]] = {}
        self._class_facts: dict[str | None, tuple[float, StorageClassFacts | None]] = {}
        self._judged: dict[str, set[str]] = {}  # namespace -> cameras reconciled at least once by this process
        self._queue: DueQueue[Key] = DueQueue(clock)
        self._policy_queue: DueQueue[Key] = DueQueue(clock)
        self._groups = RecorderGroups(
            client, cameras, clock, self._apply_once, self._queue.schedule_earlier, settings.recorder,
            settings.retention_floor_days, observed_streams=self._observed_streams.get,
        )  # fmt: skip
        cameras.subscribe(self.camera_changed)

    # -- fed by kopf and by the camera controller ------------------------------------------

    def camera_changed(self, key: Key, body: Mapping[str, Any] | None) -> None:
        if body is None:
            self._judged.get(key[0], set()).discard(key[1])
            self._groups.forget_credentials(key)
        observed = self._observed_streams.get(key)
        fingerprint = recording_fingerprint(body, observed[0].uri if observed else None) if body is not None else "gone"
        if body is None or ((body.get("status") or {}).get("streamUris")):
            self._observed_streams.pop(key, None)  # the status shows the streams now (the same, or newer)
        if self._fingerprints.get(key) != fingerprint:
            self._fingerprints[key] = fingerprint
            self._queue.schedule_earlier(key, self._clock.monotonic())

    def streams_observed(self, key: Key, streams: list[StreamUri]) -> None:
        """A device pass found the camera's streams before its status shows them: the camera is judged with them now,
        ahead of the queue, so that its first status write carries the recording verdict (`verdict_wait` in the
        camera controller) rather than WaitingForStream and then a second write."""
        body = self._cameras.get(key)
        if body is None or not streams or self._observed_streams.get(key) == streams:
            return
        self._observed_streams[key] = streams
        self._fingerprints[key] = recording_fingerprint(body, streams[0].uri)
        self._queue.schedule_first(key)

    def credentials_read(self, key: Key, credentials: Credentials) -> None:
        """A device pass read the camera's Secret: a camera recorded in a group keeps them for its group's Secret
        (no second read of the same Secret); any other camera's password is not kept here."""
        body = self._cameras.get(key)
        if body is None:
            return
        if self.grouping_policy(key[0], *selected_by(body)) is None:
            self._groups.forget_credentials(key)
            return
        self._groups.credentials_read(key, MemberCredentials(credentials.username, credentials.password))

    def policy_changed(self, body: Mapping[str, Any], deleted: bool) -> None:
        namespace, name = body["metadata"]["namespace"], body["metadata"]["name"]
        policies = self._policies.setdefault(namespace, {})
        if deleted:
            policies.pop(name, None)
            self._policy_models.pop((namespace, name), None)
        else:
            previous = policies.get(name)
            policies[name] = dict(body)
            if previous is not None and previous.get("spec") == body.get("spec"):
                return  # a status write of ours coming back
        self.policies_epoch += 1
        if not deleted:
            # Status even for a policy that selects nothing: it must not look unhandled forever.
            self._policy_status_due(namespace, name)
        for key in self._cameras.keys_in(namespace):
            self._queue.schedule_earlier(key, self._clock.monotonic())

    def group_changed(self, body: Mapping[str, Any], deleted: bool) -> None:
        """A group recorder Deployment: its members (the source of truth of who records where) and readiness."""
        identity = ("Deployment", body["metadata"]["namespace"], body["metadata"]["name"])
        if deleted:
            self._applied.pop(identity, None)
            self._foreign.pop(identity, None)
        wake = self._groups.deployment_changed(body, deleted)
        foreign = [] if deleted else foreign_fields(body)
        if foreign and self._foreign.get(identity) != foreign:
            # A hand edit: a member's pass writes the group again, and `_apply_once` puts the edited fields back.
            self._foreign[identity] = foreign
            wake = wake or [(identity[1], camera) for camera in self._groups.recording_members(body)[:1]]
        elif not foreign:
            self._foreign.pop(identity, None)
        for key in wake:
            # Ahead of the queue, as new streams are (`streams_observed`): at a fleet's start those keep coming for
            # minutes, and a member waiting behind them would stay RecorderNotReady with its group's pod ready.
            self._queue.schedule_first(key)

    def member_recording(self, key: Key, recording: bool) -> None:
        """What a group recorder's `/chain/<camera>` says of one member (the checkpointer asks it every minute)."""
        if self._member_recording.get(key) != recording:
            self._member_recording[key] = recording
            self._queue.schedule_earlier(key, self._clock.monotonic())

    def recorder_changed(self, body: Mapping[str, Any], deleted: bool) -> None:
        owner = next((o for o in body["metadata"].get("ownerReferences", []) if o.get("kind") == "Camera"), None)
        if owner is None:
            return
        key = (body["metadata"]["namespace"], owner["name"])
        if deleted:  # applied no more: a reconcile must create it again
            self._applied.pop(("Deployment", key[0], body["metadata"]["name"]), None)
            self._foreign.pop(("Deployment", key[0], body["metadata"]["name"]), None)
        else:
            self._note_edits(key, body)
        ready = 0 if deleted else int((body.get("status") or {}).get("readyReplicas") or 0)
        if self._recorder_ready.get(key) != ready:
            self._recorder_ready[key] = ready
            self._queue.schedule_earlier(key, self._clock.monotonic())

    def volume_changed(self, body: Mapping[str, Any], deleted: bool) -> None:
        """A retention volume bound (it may grow now) or went away: look at its camera again."""
        name = body["metadata"]["name"]
        self._groups.volume_changed(body, deleted)
        if not name.endswith(workloads.VOLUME_SUFFIX):
            return
        key = (body["metadata"]["namespace"], name.removesuffix(workloads.VOLUME_SUFFIX))
        if deleted:
            self._volume_bodies.pop(key, None)
            self._applied.pop(("PersistentVolumeClaim", key[0], name), None)
        else:
            self._volume_bodies[key] = _volume_essentials(body)
        phase = "Deleted" if deleted else (body.get("status") or {}).get("phase")
        if self._volume_phases.get(key) != phase:
            self._volume_phases[key] = phase
            if key in self._winners:
                self._queue.schedule_earlier(key, self._clock.monotonic())

    def workload_seen(self, body: Mapping[str, Any]) -> None:
        """A recorder or transcoder Deployment as it exists: what it was applied from, and which camera's it is."""
        self._seen_applied("Deployment", body)
        labels = body["metadata"].get("labels") or {}
        owner = next((o for o in body["metadata"].get("ownerReferences", []) if o.get("kind") == "Camera"), None)
        if owner is not None and labels.get(workloads.COMPONENT_LABEL) == "transcoder":
            self._transcoders.setdefault((body["metadata"]["namespace"], owner["name"]), set()).add(
                body["metadata"]["name"]
            )
            self._note_edits((body["metadata"]["namespace"], owner["name"]), body)

    def transcoder_changed(self, body: Mapping[str, Any], deleted: bool) -> None:
        """A transcoder changed (an edit wakes its camera) or went away (a reconcile creates it again)."""
        identity = ("Deployment", body["metadata"]["namespace"], body["metadata"]["name"])
        if deleted:
            self._applied.pop(identity, None)
            self._foreign.pop(identity, None)
            return
        self.workload_seen(body)

    def _note_edits(self, key: Key, body: Mapping[str, Any]) -> None:
        """Whether other managers own parts of a workload's spec (hand edits): if so, its camera is looked at
        again, and `_apply_once` compares those fields with the manifest (the applied-hash proves nothing)."""
        identity = ("Deployment", body["metadata"]["namespace"], body["metadata"]["name"])
        foreign = foreign_fields(body)
        if not foreign:
            self._foreign.pop(identity, None)
            return
        if self._foreign.get(identity) != foreign:
            self._foreign[identity] = foreign
            self._queue.schedule_earlier(key, self._clock.monotonic())

    def volume_seen(self, body: Mapping[str, Any]) -> None:
        """A retention volume as it exists (volume_changed keeps it current afterwards)."""
        self._seen_applied("PersistentVolumeClaim", body)
        self._groups.volume_changed(body, deleted=False)
        name = body["metadata"]["name"]
        if name.endswith(workloads.VOLUME_SUFFIX):
            key = (body["metadata"]["namespace"], name.removesuffix(workloads.VOLUME_SUFFIX))
            self._volume_bodies[key] = _volume_essentials(body)

    def _seen_applied(self, kind: str, body: Mapping[str, Any]) -> None:
        digest = (body["metadata"].get("annotations") or {}).get(APPLIED_HASH_ANNOTATION)
        if digest:  # what this process applied itself is newer than what a watch event may still say
            self._applied.setdefault((kind, body["metadata"]["namespace"], body["metadata"]["name"]), digest)

    async def is_recording(self, key: Key) -> bool:
        """Whether a recorder runs for the camera; read from the cluster, so it holds right after a restart."""
        namespace, name = key
        if self._groups.records(key):
            return True
        return await get_or_none(self._client, Deployment, workloads.recorder_name(name), namespace) is not None

    # -- workers ---------------------------------------------------------------------------

    async def run(self, gate: ActiveGate) -> None:
        await gate.wait_open()
        await self._learn_existing_children()
        await asyncio.gather(
            serve(self._queue, self._pass, self._pass_failed, workers=WORKERS, gate=gate),
            serve(self._groups.queue, self._groups.write, self._groups.write_failed, workers=4, gate=gate),
            self._policy_status_worker(self._status_gate or gate),
        )

    def follow_every_camera(self, every_camera: CameraStore, gate: ActiveGate, listed: Callable[[], bool]) -> None:
        """Sharded replicas: this replica records only its slice, but a RecordingPolicy's cameras may be spread over
        several (unless it groups them). Its status is then written by one replica, the elected one (`gate`), from
        every camera's own status as the replica recording it wrote it: the policy recording it
        (`status.recordingPolicy`) and its Recording condition. Without this every replica would write its slice's
        counts over the others'. `listed` says whether `every_camera` holds every camera yet (the elected
        replica's listing done)."""
        self._status_gate = gate
        self._cameras_listed = lambda namespace: listed()
        every_camera.subscribe(self._camera_status_seen)

    def _camera_status_seen(self, key: Key, body: Mapping[str, Any] | None) -> None:
        seen = recording_from_status(body)
        previous = self._recorded_by.get(key)
        if seen == previous:
            return
        if seen[0] is None and seen[1] is None:
            self._recorded_by.pop(key, None)
        else:
            self._recorded_by[key] = seen
        for policy in {seen[0], previous[0] if previous else None} - {None}:
            self._policy_status_due(key[0], str(policy))

    async def _pass(self, key: Key) -> None:
        try:
            await self.reconcile(key)
        finally:
            if self._cameras.knows(key):
                self._judged.setdefault(key[0], set()).add(key[1])

    def _pass_failed(self, key: Key) -> float:
        log.exception("recording for camera %s/%s failed; retrying in 30s", *key)
        return 30.0

    async def _learn_existing_children(self) -> None:
        """Before the first reconcile, learn what earlier processes made: which objects exist, what they were
        applied from, which recorders are ready. One paginated LIST per kind instead of a GET per camera, and a
        restarted operator re-applies nothing unchanged. The watch keeps this current afterwards."""
        started = self._clock.monotonic()
        selections: list[tuple[Any, dict[str, Any], Callable[[Mapping[str, Any]], None]]] = [
            (Deployment, workloads.MANAGED_BY, self._deployment_listed),
            (PersistentVolumeClaim, {workloads.RETENTION_VOLUME_LABEL: "true"}, self.volume_seen),
        ]
        try:
            for resource, labels, learn in selections:
                async for body in list_served(self._client, resource, self._settings.namespaces, labels):
                    learn(body)
        except ApiError as error:  # not fatal: without it a restart merely re-applies what exists
            log.warning("could not list existing recorders and volumes: %s", error.status.message)
        log.info("learned %d existing recorders, transcoders and volumes in %.1fs", len(self._applied),
                 self._clock.monotonic() - started)  # fmt: skip

    def _deployment_listed(self, body: Mapping[str, Any]) -> None:
        self.workload_seen(body)
        component = (body["metadata"].get("labels") or {}).get(workloads.COMPONENT_LABEL)
        if component == "recorder":
            self.recorder_changed(body, deleted=False)
        elif component == groups.GROUP_COMPONENT:
            self.group_changed(body, deleted=False)

    def grouping_policy(self, namespace: str, labels: Mapping[str, str], pinned: str | None) -> str | None:
        """The policy that records a camera with these labels (or pinned to that policy) in recorder groups; None
        when its policy records it alone, or no policy does (the sharder keeps a grouped policy on one replica)."""
        winner = self._winner(namespace, labels, pinned)
        if winner is None or winner.spec.cameras_per_recorder <= 1:
            return None
        return str(winner.metadata.name)

    def selecting_policy(self, key: Key, body: Mapping[str, Any]) -> str | None:
        """The policy that records the camera with this body, as its reconcile will judge (None: no policy does)."""
        winner = self._winner(key[0], *selected_by(body))
        return str(winner.metadata.name) if winner is not None else None

    def _winner(self, namespace: str, labels: Mapping[str, str], pinned: str | None) -> RecordingPolicy | None:
        return select_policy(labels, pinned, self._policies_in(namespace)).winner

    def _policies_in(self, namespace: str) -> list[RecordingPolicy]:
        """Every policy of the namespace, each parsed once per resourceVersion: every camera's reconcile judges
        them all (parsing them again was 2% of a 2,000-camera restart's CPU with 4 policies; the bench has 20)."""
        parsed = []
        for name, body in self._policies.get(namespace, {}).items():
            version = body["metadata"].get("resourceVersion")
            cached = self._policy_models.get((namespace, name))
            if cached is not None and version is not None and cached[0] == version:
                parsed.append(cached[1])
                continue
            try:
                policy = RecordingPolicy.model_validate(body)
            except ValidationError as error:
                log.error("policy %s/%s does not match the model: %s", namespace, body["metadata"]["name"], error)
                continue
            self._policy_models[(namespace, name)] = (version, policy)
            parsed.append(policy)
        return parsed

    async def reconcile(self, key: Key) -> None:
        body = self._cameras.get(key)
        previous_policy = self._winners.pop(key, None)
        self._states.pop(key, None)
        if previous_policy:
            self._policy_status_due(key[0], previous_policy)
        if body is None or body["metadata"].get("deletionTimestamp"):
            # Deletion is handled by `release` from the Camera's delete handler; a retained group member's name
            # comes here when its retention may have passed.
            await self._groups.expire(key, *self._group_policy(key))
            return
        camera = with_observed_streams(Camera.model_validate(body), self._observed_streams.get(key))
        ref = camera.spec.recording_policy_ref
        selection = select_policy(camera.metadata.labels, ref.name if ref else None, self._policies_in(key[0]))
        await self._leave_other_group(key, selection.winner)
        if selection.winner is None:
            if previous_policy or key in self._volumes:
                await self.release(key, "no RecordingPolicy selects the camera any more")
            state = recording_state(selection, None, False, None, None, None)
        else:
            policy = str(selection.winner.metadata.name)
            state = await self._provision(camera, selection)
            self._winners[key] = policy
            self._states[key] = state
            self._policy_status_due(key[0], policy)
            if state.condition.reason == NAME_CONFLICT:
                self._queue.schedule_earlier(key, self._clock.monotonic() + NAME_CONFLICT_RETRY_SECONDS)
        self._verdicts(key, state)

    def _group_policy(self, key: Key) -> tuple[RecordingPolicy | None, int]:
        """The policy of the group the camera is a member of (None: none, or gone) and its retention."""
        found = self._groups.group_of(key)
        if found is None:
            return None, self._settings.retention_floor_days
        policy = next((p for p in self._policies_in(key[0]) if workloads.label_value(str(p.metadata.name)) == found[0]),
                      None)  # fmt: skip
        days = policy.spec.retention_days if policy else 0
        return policy, max(days, self._settings.retention_floor_days)

    async def _leave_other_group(self, key: Key, winner: RecordingPolicy | None) -> None:
        """A group member whose policy no longer records it is retained in its group (until its retention)."""
        found = self._groups.group_of(key)
        if found is None or not self._groups.records(key):
            return
        if winner is not None and workloads.label_value(str(winner.metadata.name)) == found[0]:
            return
        policy, retention = self._group_policy(key)
        until = await self._groups.leave(key, policy, retention)
        body = self._cameras.get(key)
        if until is not None and body is not None:
            message = (
                f"left recorder group {found[1].name}; its recordings there are kept until {until:%Y-%m-%dT%H:%M:%SZ}"
            )
            await self._events.record(body, "Normal", "RecordingsRetained", message)

    def _policy_status_due(self, namespace: str, policy: str) -> None:
        # A short delay batches the status of a policy whose many cameras change together.
        self._policy_queue.schedule_earlier((namespace, policy), self._clock.monotonic() + 0.5)

    async def _policy_status_worker(self, gate: ActiveGate) -> None:
        async def write(key: tuple[str, str]) -> None:
            await self._write_policy_status(*key)

        def failed(key: tuple[str, str]) -> float:
            log.exception("status of recording policy %s/%s failed; retrying in 30s", *key)
            return 30.0

        await serve(self._policy_queue, write, failed, workers=1, gate=gate)

    async def _write_policy_status(self, namespace: str, name: str) -> None:
        body = self._policies.get(namespace, {}).get(name)
        if body is None:
            await self._groups.policy_gone(namespace, name)
            return
        if not self._counts_complete(namespace):
            self._policy_queue.schedule_earlier((namespace, name), self._clock.monotonic() + 1)
            return
        policy = RecordingPolicy.model_validate(body)
        states, volumes = self._policy_cameras(namespace, name)
        retention = max(policy.spec.retention_days, self._settings.retention_floor_days)
        current = policy.status
        generation = int(body["metadata"].get("generation", 0))
        status, ready = policy_status(current, generation, states, volumes, retention, self._clock.now())
        stored = await write_status(self._client, RESOURCES["RecordingPolicy"], body, status)
        if stored is None:
            return
        if name in self._policies.get(namespace, {}):
            self._policies[namespace][name] = stored
        for change in transitions(current.conditions if current else None, [ready]):
            event_type: EventType = "Normal" if change.current.status == "True" else "Warning"
            await self._events.record(body, event_type, change.current.reason, change.current.message)

    def _counts_complete(self, namespace: str) -> bool:
        """Counts of a half-known namespace (right after a start) would be written only to be corrected: a policy
        whose cameras were not listed yet said NoCameraSelected (Ready False, Stalled, a Warning Event) at a restart,
        then Ready again. Complete: every camera listed, and (one process) each of them judged here."""
        if not self._cameras_listed(namespace):
            return False
        judged_here = len(self._judged.get(namespace, ())) >= self._cameras.count_in(namespace)
        return self._status_gate is not None or judged_here

    def _policy_cameras(self, namespace: str, name: str) -> tuple[dict[str, RecordingState], int]:
        """The recording states of the policy's cameras and its retention volumes in use: from this replica's own
        judgements, or (sharded) from every camera's status."""
        if self._status_gate is not None:
            return self._policy_cameras_by_status(namespace, name)
        cameras = [key for key, winner in self._winners.items() if key[0] == namespace and winner == name]
        states = {key[1]: self._states[key] for key in cameras if key in self._states}
        return states, self._volume_count(namespace, name, cameras)

    def _policy_cameras_by_status(self, namespace: str, name: str) -> tuple[dict[str, RecordingState], int]:
        """Sharded: the cameras' own statuses say; a camera recorded alone and recording has its own volume."""
        states: dict[str, RecordingState] = {}
        for key, (policy, state) in self._recorded_by.items():
            if key[0] == namespace and policy == name and state is not None:
                states[key[1]] = state
        groups = self._groups.policy_groups(namespace, name)
        grouped = {member.camera for group in groups for member in group.recording}
        alone = sum(1 for camera, state in states.items() if camera not in grouped and state.condition.status == "True")
        return states, alone + sum(1 for group in groups if group.recording)

    def _volume_count(self, namespace: str, policy: str, cameras: list[Key]) -> int:
        """The policy's retention volumes in use: its cameras' own, and its groups' that someone records into."""
        own = sum(1 for key in cameras if key in self._volumes)
        return own + sum(1 for group in self._groups.policy_groups(namespace, policy) if group.recording)

    def _group_facts(
        self, policy: RecordingPolicy, key: Key, problem: Problem | None, facts: StorageClassFacts | None
    ) -> StorageClassFacts | None:
        """The storage facts when the camera is recorded by a group (and nothing stops provisioning), else None."""
        if problem is None and facts is not None and self._groups.grouped(policy, key, self._volume_bodies.get(key)):
            return facts
        return None

    async def _provision(self, camera: Camera, selection: Selection) -> RecordingState:
        policy = selection.winner
        assert policy is not None
        namespace, name = str(camera.metadata.namespace), str(camera.metadata.name)
        retention = max(policy.spec.retention_days, self._settings.retention_floor_days)
        facts = await self._storage_class_facts(policy.spec.storage.storage_class_name)
        problem = storage_problem(policy, facts.name if facts else None, bool(facts and facts.encrypted))
        grouped = self._group_facts(policy, (namespace, name), problem, facts)
        if grouped is not None:
            return await self._provision_in_group(camera, selection, grouped, retention)
        try:
            if problem is None and facts is not None:
                problem = await self._provision_volume(camera, policy, facts, retention)
            streams = camera.status.stream_uris if camera.status else []
            if problem is None and streams:
                await self._provision_workloads(camera, policy, streams[0].uri, retention)
        except NameConflict as conflict:  # someone else's object has the name: never overwritten (Events on Recording)
            problem = (NAME_CONFLICT, str(conflict))
        if problem is not None:
            return recording_state(selection, problem, False, None, None, None)
        if not streams:
            stalled = camera_stall(camera.status.to_api()) if camera.status else None
            return recording_state(selection, None, False, None, None, None, camera_stalled=stalled)
        ready = self._recorder_ready.get((namespace, name))
        unbound = None if ready else self._unbound_volume((namespace, name), policy)
        return recording_state(selection, None, True, ready, workloads.volume_name(name), retention, unbound)

    async def _provision_in_group(
        self, camera: Camera, selection: Selection, facts: StorageClassFacts, retention: int
    ) -> RecordingState:
        """A camera of a grouped policy: recorded by its group (joined once its stream is known), its transcoders as
        any camera's. A recorder and volume of its own from an earlier policy are released (kept for retention)."""
        policy = selection.winner
        assert policy is not None
        namespace, name = str(camera.metadata.namespace), str(camera.metadata.name)
        key = (namespace, name)
        streams = camera.status.stream_uris if camera.status else []
        if not streams and self._groups.group_of(key) is None:
            stalled = camera_stall(camera.status.to_api()) if camera.status else None
            return recording_state(selection, None, False, None, None, None, camera_stalled=stalled)
        if key in self._volumes or ("Deployment", namespace, workloads.recorder_name(name)) in self._applied:
            # A recorder and volume of its own (another policy's): stopped and released once, kept for retention.
            await self._release_single(key, f"recorded by a recorder group of policy {policy.metadata.name} now")
        try:
            placement: Placement = await self._groups.join(camera, policy, facts, retention)
            if streams:
                await self._provision_transcoders(camera, policy, streams[0].uri)
        except NameConflict as conflict:
            return recording_state(selection, (NAME_CONFLICT, str(conflict)), False, None, None, None)
        where = f"{groups.volume_name(placement.group.name)} (directory {name}/, recorder group {placement.group.name})"
        problem = placement.problem or member_problem(
            placement.group.name, name, placement.ready_replicas, self._member_recording.get(key)
        )
        unbound = None
        if not placement.ready_replicas:
            unbound = self._groups.unbound_volume(
                namespace, placement.group.name, policy.spec.storage.storage_class_name
            )
        return recording_state(selection, problem, bool(streams), placement.ready_replicas, where, retention, unbound)

    def _unbound_volume(self, key: Key, policy: RecordingPolicy) -> str | None:
        """What stops the recorder's pod when its retention claim is not bound (e.g. no provisioner); None if bound."""
        phase = ((self._volume_bodies.get(key) or {}).get("status") or {}).get("phase")
        if phase == "Bound":
            return None
        storage_class = policy.spec.storage.storage_class_name or "the default storage class"
        return (
            f"PersistentVolumeClaim {workloads.volume_name(key[1])} is {phase or 'not yet seen'}, not bound to a "
            f"volume; {storage_class} must provision one (or create a PersistentVolume for the claim)"
        )

    async def _provision_volume(
        self, camera: Camera, policy: RecordingPolicy, facts: StorageClassFacts, retention: int
    ) -> Problem | None:
        """Create, grow or keep the retention volume (never shrink); a problem when it is too small."""
        namespace, name = str(camera.metadata.namespace), str(camera.metadata.name)
        key = (namespace, name)
        existing = ObservedVolume.of(await self._volume(key))
        if existing.released:
            # A released volume recorded again: it is in use, so it must not expire.
            await annotate(
                self._client,
                PersistentVolumeClaim,
                workloads.volume_name(name),
                namespace,
                {RETAIN_UNTIL: None, RELEASED_AT: None},
            )
        needed = required_bytes(
            camera.spec.device.video_encoder.bitrate_kbps, retention, policy.spec.storage.headroom_percent
        )
        decision = decide_volume(needed, existing.request, facts.expansion_allowed, existing.bound)
        await self._apply_once(
            volume_manifest(camera, policy, facts.name, decision, retention, existing.kept_hold(policy))
        )
        self._volumes.add(key)
        event = volume_event(decision, existing.request)
        if event is not None:
            await self._events.record(self._cameras.get(key) or {}, "Normal", *event)
        return volume_problem(decision, existing.request, facts.name)

    async def _provision_workloads(self, camera: Camera, policy: RecordingPolicy, stream: str, retention: int) -> None:
        """The recorder, and one transcoder per profile (those of dropped profiles deleted)."""
        await self._apply_once(workloads.recorder(camera, policy, stream, retention, self._settings.recorder))
        await self._provision_transcoders(camera, policy, stream)

    async def _provision_transcoders(self, camera: Camera, policy: RecordingPolicy, stream: str) -> None:
        namespace, name = str(camera.metadata.namespace), str(camera.metadata.name)
        settings = self._settings.recorder
        transcoders = {workloads.transcoder_name(name, p.name) for p in policy.spec.transcode_profiles}
        if transcoders and self._settings.publisher_password is not None:
            await self._apply_secret(
                workloads.publisher_secret(camera, self._settings.publisher_password(f"{namespace}/{name}"))
            )
        for profile in policy.spec.transcode_profiles:
            await self._apply_once(workloads.transcoder(camera, policy, profile, stream, settings))
        await self._prune_transcoders(namespace, name, transcoders)
        self._masked_streams(
            (namespace, name), frozenset(p.name for p in policy.spec.transcode_profiles if p.mask_privacy)
        )

    async def _storage_class_facts(self, name: str | None) -> StorageClassFacts | None:
        cached = self._class_facts.get(name)
        if cached is not None and self._clock.monotonic() - cached[0] < STORAGE_CLASS_CACHE_SECONDS:
            return cached[1]
        facts = await storage_class_facts(self._client, name)
        self._class_facts[name] = (self._clock.monotonic(), facts)
        return facts

    async def _volume(self, key: Key) -> PersistentVolumeClaim | None:
        """The camera's retention volume as the watch last showed it; read only when the watch has not shown it."""
        body = self._volume_bodies.get(key)
        if body is not None:
            return cast(PersistentVolumeClaim, PersistentVolumeClaim.from_dict(body))
        found: PersistentVolumeClaim | None = await get_or_none(
            self._client, PersistentVolumeClaim, workloads.volume_name(key[1]), key[0]
        )
        return found

    async def _apply_once(self, manifest: dict[str, Any]) -> None:
        """Apply unless this exact manifest was applied already (by this process, or by an earlier one as its
        annotation says): an idle fleet, and a restarted operator, send no writes for unchanged objects."""
        meta = manifest["metadata"]
        identity = (manifest["kind"], meta["namespace"], meta["name"])
        digest = manifest_digest(manifest)
        edits = edited_fields(self._foreign.pop(identity, []), manifest)
        if self._applied.get(identity) == digest and not edits:
            return
        if identity not in self._applied:  # not known as camfleet's yet: never force-apply over someone else's
            await self._check_owned(manifest)
        annotated = {**manifest, "metadata": {**meta, "annotations": {**meta.get("annotations", {})}}}
        annotated["metadata"]["annotations"][APPLIED_HASH_ANNOTATION] = digest
        stored = await apply(self._client, annotated)
        self._applied[identity] = digest
        if edits:
            await self._workload_reverted(manifest, edits)
        component = manifest["metadata"]["labels"].get(workloads.COMPONENT_LABEL)
        if manifest["kind"] == "Deployment" and component == "recorder":
            self.recorder_changed(stored, deleted=False)
        elif manifest["kind"] == "Deployment" and component == groups.GROUP_COMPONENT:
            self.group_changed(stored, deleted=False)
        elif manifest["kind"] == "Deployment" and component == "transcoder":
            self.workload_seen(stored)
        elif manifest["kind"] == "PersistentVolumeClaim":
            self.volume_seen(stored)

    async def _apply_secret(self, manifest: dict[str, Any]) -> None:
        """Apply a Secret unless this process applied the same one already. Unlike `_apply_once`, no digest of it
        is written onto the object (a digest of a secret is still derived from it), so a restarted operator reads
        it once, and writes it only if it differs."""
        meta = manifest["metadata"]
        identity = ("Secret", meta["namespace"], meta["name"])
        digest = manifest_digest(manifest)
        if self._applied.get(identity) == digest:
            return
        await apply_owned_secret(self._client, manifest, (workloads.COMPONENT_LABEL, workloads.CAMERA_LABEL))
        self._applied[identity] = digest

    async def _check_owned(self, manifest: Mapping[str, Any]) -> None:
        meta = manifest["metadata"]
        owners = meta.get("ownerReferences") or []
        keys = (workloads.COMPONENT_LABEL, workloads.CAMERA_LABEL, groups.GROUP_LABEL)
        labels = {k: meta["labels"][k] for k in keys if k in meta["labels"]}
        resource = Deployment if manifest["kind"] == "Deployment" else PersistentVolumeClaim
        uid = str(owners[0]["uid"]) if owners else None
        await check_owned(self._client, resource, meta["name"], meta["namespace"], uid, labels)

    async def _workload_reverted(self, manifest: Mapping[str, Any], edits: list[str]) -> None:
        """A hand edit of a workload was put back: say so on the camera (Warning: someone changed it)."""
        owner = manifest["metadata"].get("ownerReferences", [{}])[0].get("name")
        camera = self._cameras.get((manifest["metadata"]["namespace"], str(owner)))
        message = f"{manifest['kind']} {manifest['metadata']['name']} was edited by hand and put back as declared: "
        log.warning("%s%s", message, "; ".join(edits))
        if camera is not None:
            await self._events.record(camera, "Warning", "WorkloadReverted", message + "; ".join(edits))

    async def _prune_transcoders(self, namespace: str, camera_name: str, wanted: set[str]) -> None:
        """Delete the camera's transcoders that are not wanted, as known from the index (kopf lists every
        camfleet Deployment before any camera is reconciled, so the index also knows an earlier process's)."""
        known = self._transcoders.get((namespace, camera_name), set())
        for name in sorted(known - wanted):
            await delete_if_present(self._client, Deployment, name, namespace)
            self._applied.pop(("Deployment", namespace, name), None)
            known.discard(name)

    async def release(self, key: Key, why: str) -> datetime | None:
        """Stop recording a camera; keep its recordings until their retention has passed. Returns retain-until."""
        policy, retention = self._group_policy(key)
        in_group = await self._groups.leave(key, policy, retention) if self._groups.records(key) else None
        single = await self._release_single(key, why)
        return max((t for t in (in_group, single) if t is not None), default=None)

    async def _release_single(self, key: Key, why: str) -> datetime | None:
        """Stop the camera's own recorder; keep its own volume until its retention has passed. Returns retain-until."""
        namespace, name = key
        recorder = workloads.recorder_name(name)
        camera = self._cameras.get(key)
        uid = (camera or {}).get("metadata", {}).get("uid")
        labels = {workloads.COMPONENT_LABEL: "recorder", workloads.CAMERA_LABEL: workloads.label_value(name)}
        try:  # reads before deleting: after a restart most unrecorded cameras have nothing to delete
            await delete_owned(self._client, Deployment, recorder, namespace, uid, labels)
        except NameConflict as conflict:
            log.warning("%s", conflict)
            if camera is not None:
                await self._events.record(camera, "Warning", NAME_CONFLICT, str(conflict))
        self._applied.pop(("Deployment", namespace, recorder), None)
        await self._prune_transcoders(namespace, name, set())
        self._masked_streams(key, frozenset())
        self._recorder_ready.pop(key, None)
        self._volumes.discard(key)
        volume = await get_or_none(self._client, PersistentVolumeClaim, workloads.volume_name(name), namespace)
        if volume is None:
            return None
        volume_labels = {workloads.RETENTION_VOLUME_LABEL: "true", workloads.CAMERA_LABEL: workloads.label_value(name)}
        if foreign_because(volume.to_dict(), None, volume_labels) is not None:
            return None  # a claim of that name that camfleet did not make is not camfleet's to release
        annotations = (volume.metadata.annotations if volume.metadata else None) or {}
        released = released_until(annotations)
        if released is not None:
            return released
        days = int(annotations.get(RETENTION_DAYS_ANNOTATION, self._settings.retention_floor_days))
        # When (the recorder is gone: no segment is newer) and under which retention: the janitor derives the
        # destruction time from these, which the retention guard lets nobody move earlier (R3).
        release = release_annotations(self._clock.now(), max(days, self._settings.retention_floor_days))
        until_text = str(release[RETAIN_UNTIL])
        until = released_until({RETAIN_UNTIL: until_text})
        await annotate(self._client, PersistentVolumeClaim, workloads.volume_name(name), namespace, release)
        self._applied.pop(("PersistentVolumeClaim", namespace, workloads.volume_name(name)), None)
        body = self._cameras.get(key)
        if body is not None:
            await self._events.record(
                body,
                "Normal",
                "RecordingsRetained",
                f"{why}; volume {workloads.volume_name(name)} kept until {until_text}",
            )
        return until
