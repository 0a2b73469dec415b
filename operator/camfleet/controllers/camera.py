"""The camera controller: keeps every device matching its Camera and the Camera's status truthful.

kopf delivers watch events (`observe`, `forget`); the controller keeps the latest body of each
camera and one due time per camera in a single queue. Workers take due cameras, run one device
pass under the operator-wide ONVIF limit, write status only when it changed, post Events only on
transitions, and schedule the next pass: the resync interval when healthy, exponential backoff
when failing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from lightkube import AsyncClient
from lightkube.core.exceptions import ApiError
from pydantic import ValidationError

from camfleet.active_gate import ActiveGate
from camfleet.api.camera import Camera, CameraCondition, CameraStatus, PtzControl, StreamUri
from camfleet.cameras.desired import desired_device_settings
from camfleet.cameras.device_pass import Credentials, DeviceMemory, internal_failure, run_device_pass, run_lean_pass
from camfleet.cameras.endpoint_policy import Network, endpoint_refusal, parse_networks
from camfleet.cameras.observation import DeviceFailure, DeviceObservation, FailureKind, RetryPlan
from camfleet.cameras.pass_schedule import (
    LEAN_GAVE_WAY,
    RESTORED,
    FullPassRecord,
    PassKind,
    choose_pass,
    restored_state,
)
from camfleet.cameras.status import Cond, camera_status, drift_corrected, stream_uris
from camfleet.clock import Clock
from camfleet.condition_merge import reason_changes, transitions
from camfleet.config import OperatorConfig
from camfleet.control.ptz_board import PtzBoard
from camfleet.control.ptz_relay import DeviceAccess, DeviceUnavailable
from camfleet.kube.events import EventRecorder, EventType
from camfleet.kube.resources import CameraResource
from camfleet.kube.secrets import CredentialsUnavailable, read_credentials
from camfleet.kube.status import patch_status, replacement, write_status
from camfleet.kube.store import CameraStore, Key, key_of
from camfleet.observability.metrics import (
    CAMERA_FILING_OVERDUE,
    CAMERA_REACHABLE,
    DEVICE_PASS_SECONDS,
    DEVICE_PASSES,
    ONVIF_SESSIONS_IN_FLIGHT,
    READY_OBJECTS,
    RECONCILIATIONS,
    STATUS_WRITES,
)
from camfleet.onvif.trust import AddressPolicy
from camfleet.recording.state import (
    PLACEMENT_PENDING,
    RECORDER_NOT_READY,
    WAITING_FOR_STREAM,
    RecordingState,
    placement_pending,
    recording_from_status,
)
from camfleet.retry_backoff import exponential_delay
from camfleet.scheduling import DueQueue, serve

log = logging.getLogger(__name__)
PASS_LOG = logging.getLogger("camfleet.sharding.passes")  # INFO with --sharding (operator.py), else silent
PASS_LOG.setLevel(logging.WARNING)
KIND = "Camera"
# How long a camera's first status may wait for the recording controller's verdict (it normally takes moments).
RECORDING_VERDICT_PATIENCE_SECONDS = 5.0
# ... and for its recorder pod to turn ready, when that is all it waits for: on a busy cluster a new pod takes tens
# of seconds (a 10,000-camera start kept ~220 cameras at a time in RecorderNotReady, each with a Warning Event and a
# status write, then Recording with another of each). A recorder that does not start is reported after this.
RECORDER_START_PATIENCE_SECONDS = 30.0
StreamsSeen = Callable[[Key, list[StreamUri]], None]
CredentialsSeen = Callable[[Key, Credentials], None]
PolicySelecting = Callable[[Key, Mapping[str, Any]], str | None]


def needs_pass(previous: Mapping[str, Any] | None, body: Mapping[str, Any]) -> bool:
    """A new camera, or a spec the operator has not acted on yet (generation ahead of status)."""
    if previous is None:
        return True
    generation = body["metadata"].get("generation")
    observed = (body.get("status") or {}).get("observedGeneration")
    return bool(generation != previous["metadata"].get("generation") or generation != observed)


# Conditions worth an Event when they first appear: the summary, and compliance findings (R5, R6).
ANNOUNCED_ON_APPEARANCE = frozenset({CameraCondition.READY, CameraCondition.FILED, CameraCondition.SIGNAGE})
# Reasons never announced: a wait a fleet's own start puts every camera in at once (the recording side not yet
# caught up with the device passes). The condition says it; an Event per camera for it was a third of the Events of
# a 10,000-camera start. What follows it (RecorderNotReady, or Ready) is announced as usual.
UNANNOUNCED_REASONS = frozenset({PLACEMENT_PENDING})
# kstatus's summaries of Ready: Ready's own transition carries the news (a camera becoming reconciled was announced as
# a Warning "Reconciled", and a stall as a Normal Event, their polarity being the reverse of every other condition's).
UNANNOUNCED_CONDITIONS = frozenset({CameraCondition.RECONCILING, CameraCondition.STALLED})


@dataclass(frozen=True)
class DeviceFacts:
    """What a pass knows of the device: the observation, consecutive failures, when the next device pass is
    due, and whether the observation is a new, healthy pass (the only one that can tell of corrected drift)."""

    observation: DeviceObservation
    failures: int
    delay: float
    fresh: bool = False


@dataclass(frozen=True)
class CameraGauges:
    ready: int
    reachable: int
    filing_overdue: int


def verdict_wait(now: float, first_pass: float, verdict: RecordingState | None, stream_found: bool) -> float:
    """Seconds a camera's status write still waits for the recording controller's verdict (0: write now);
    `first_pass`: when this process first passed the camera.

    Written before any verdict, the status would lack the Recording condition and flip Ready, with Events, only to
    flip back moments later (and after every restart). Written with a verdict taken before the recording controller
    knew the stream this pass found (WaitingForStream), or while the camera's recorder starts, it needs a second
    write, with more Events, moments later: at a fleet's start that second write queued behind every other camera's
    first pass. The wait ends after RECORDING_VERDICT_PATIENCE_SECONDS (RECORDER_START_PATIENCE_SECONDS while the
    recorder's pod is starting), so a recorder that really does not start is reported."""
    reason = verdict.condition.reason if verdict is not None else None
    if verdict is not None and verdict.starting:  # only ever a RecorderNotReady verdict
        return max(0.0, first_pass + RECORDER_START_PATIENCE_SECONDS - now)
    if verdict is None or (reason == WAITING_FOR_STREAM and stream_found) or reason == RECORDER_NOT_READY:
        return max(0.0, first_pass + RECORDING_VERDICT_PATIENCE_SECONDS - now)
    return 0.0


def device_pass_due(observed_before: bool, now: float, next_due: float) -> bool:
    """A device pass is due for a camera never observed, or once its next pass time has come."""
    return not observed_before or now >= next_due


def camera_gauges(conditions: list[Cond]) -> CameraGauges:
    states = {c.type: c for c in conditions}
    return CameraGauges(
        ready=int(states[CameraCondition.READY].status == "True"),
        reachable=int(states[CameraCondition.REACHABLE].status == "True"),
        filing_overdue=int(states[CameraCondition.FILED].reason == "FilingOverdue"),
    )


def event_worthy(change_previous: str | None, condition: Cond) -> EventType | None:
    """Events on transitions: every status change; a condition merely appearing is announced only when it is
    the summary or a compliance finding (an unrecorded camera is not news)."""
    if condition.status == "Unknown" or condition.type in UNANNOUNCED_CONDITIONS:
        return None
    if change_previous is None and condition.type not in ANNOUNCED_ON_APPEARANCE:
        return None
    if change_previous is None and condition.status == "True" and condition.type != CameraCondition.READY:
        return None
    return "Normal" if condition.status == "True" else "Warning"


class CameraController:
    def __init__(
        self, client: AsyncClient, events: EventRecorder, config: OperatorConfig, store: CameraStore, clock: Clock
    ) -> None:
        self._client = client
        self._store = store
        self._clock = clock
        self._events = events
        self._config = config
        self._networks: tuple[Network, ...] = parse_networks(config.device_networks)
        self._failures: dict[Key, int] = {}
        self._observations: dict[Key, DeviceObservation] = {}
        self._next_device_pass: dict[Key, float] = {}
        self._full_passes: dict[Key, FullPassRecord] = {}
        self._recording: dict[Key, RecordingState] = {}
        self._first_pass_at: dict[Key, float] = {}  # a camera's first write may wait for its verdict from then
        self._streams_seen: StreamsSeen | None = None
        self._credentials_seen: CredentialsSeen | None = None
        self._selecting: PolicySelecting | None = None
        self._queue: DueQueue[Key] = DueQueue(clock)
        self._limit = asyncio.Semaphore(config.onvif_concurrency)
        self._devices = DeviceMemory()
        self._ptz: PtzBoard | None = None

    # -- fed by kopf -----------------------------------------------------------------------

    def observe(self, body: Mapping[str, Any]) -> None:
        """A watch event: store the body first (other controllers read it there), then schedule a pass."""
        key = key_of(body)
        previous = self._store.put(body)
        if body["metadata"].get("deletionTimestamp"):
            self._queue.discard(key)
        elif needs_pass(previous, body):
            self._next_device_pass[key] = 0.0  # a new spec goes to the device now
            self._queue.schedule_earlier(key, self._clock.monotonic())
        self._adopt_ptz_record(key, body)
        self._store.notify(key)  # the access state learns the camera only now, after its PTZ holder

    def set_recording(self, key: Key, state: RecordingState) -> None:
        """The recording controller's verdict; a change refreshes status without contacting the device.

        That refresh is one status write, so it goes before the device passes waiting in the queue: at a fleet's
        start those are thousands, and a camera would otherwise turn Ready only after every camera's first pass."""
        if self._recording.get(key) != state:
            self._recording[key] = state
            if key in self._observations:
                self._queue.schedule_first(key)
            elif self._store.knows(key):
                self._queue.schedule_earlier(key, self._clock.monotonic())

    def attach_recording(
        self,
        streams_seen: StreamsSeen,
        credentials_seen: CredentialsSeen | None = None,
        selecting: PolicySelecting | None = None,
    ) -> None:
        """Hand the streams a device pass finds to the recording controller before the status shows them, so the
        camera's first status write can carry its recording verdict (`verdict_wait`); the credentials each pass
        reads from the camera's Secret, so that a recorder group copies them without reading the Secret again; and
        ask it which policy selects a camera it has not placed yet (`_verdict`)."""
        self._streams_seen = streams_seen
        self._credentials_seen = credentials_seen
        self._selecting = selecting

    def forget(self, key: Key) -> None:
        body = self._store.get(key)
        if body is not None:
            self._devices.forget(str((body.get("spec") or {}).get("endpoint", "")))
        self._store.remove(key)
        tables = (self._failures, self._observations, self._next_device_pass, self._recording, self._full_passes)
        for table in (*tables, self._first_pass_at):
            table.pop(key, None)
        self._queue.discard(key)
        namespace, name = key
        with contextlib.suppress(KeyError):  # never reconciled by this process
            READY_OBJECTS.remove(KIND, namespace, name)
            CAMERA_REACHABLE.remove(namespace, name)
            CAMERA_FILING_OVERDUE.remove(namespace, name)

    async def let_go(self, key: Key) -> None:
        """Forget `key` and return once no pass on it runs any more: sharding then hands it to another replica."""
        self.forget(key)
        while self._queue.busy(key):  # noqa: ASYNC110 - the queue has no per-key event; this is rare and short
            await asyncio.sleep(0.05)

    # -- the PTZ control service asks ----------------------------------------------------------

    def attach_ptz(self, board: PtzBoard) -> None:
        """Show `board`'s holder of each camera in its status (`status.ptzControl`)."""
        self._ptz = board

    def _adopt_ptz_record(self, key: Key, body: Mapping[str, Any]) -> None:
        """The PTZ holder and lock recorded in the status, by the replica active before this one (ptz_board)."""
        if self._ptz is None or body["metadata"].get("deletionTimestamp"):
            return
        recorded = (body.get("status") or {}).get("ptzControl")
        try:
            record = PtzControl.model_validate(recorded) if recorded else None
        except ValidationError:
            log.warning("camera %s/%s: status.ptzControl does not parse; nobody holds the camera", *key)
            record = None
        if self._ptz.adopt(f"{key[0]}/{key[1]}", record, self._clock.now()) and record is not None:
            log.info("camera %s/%s: PTZ holder %s adopted from the status", *key, record.department)

    async def follow_terms(self, gate: ActiveGate) -> None:
        """Each time this replica becomes active again after a pause, the PTZ records are adopted anew (its first
        term needs no such turn: it adopts every camera at first sight)."""
        active = been_active = gate.is_open
        while True:
            active = await gate.wait_change(active)
            if active and been_active and self._ptz is not None:
                self._ptz.new_term()
            been_active = been_active or active

    def ptz_changed(self, ref: str) -> None:
        """The PTZ holder of `namespace/name` changed: write its status now (no device pass)."""
        namespace, _, name = ref.partition("/")
        if self._store.knows((namespace, name)):
            self._queue.schedule_earlier((namespace, name), self._clock.monotonic())

    async def record_ptz(self, ref: str) -> None:
        """Write the holder of `namespace/name` to `status.ptzControl` now, not at the camera's next pass (which may
        first talk to the device): a lock is answered once it is recorded, so it survives a failover right away."""
        namespace, _, name = ref.partition("/")
        body = self._store.get((namespace, name))
        if body is None or self._ptz is None:
            return
        shown = self._ptz.status(ref, self._clock.now())
        desired = shown.model_dump(mode="json", by_alias=True, exclude_none=True) if shown else None
        current = (body.get("status") or {}).get("ptzControl")
        if current == desired:
            return
        try:
            stored = await patch_status(
                self._client, CameraResource, name, namespace, {"ptzControl": replacement(current, desired)}
            )
        except Exception as error:  # the API server out of reach: the lock holds in memory; the next pass records it
            why = error.status.message if isinstance(error, ApiError) else type(error).__name__
            log.warning("camera %s: status.ptzControl not recorded now: %s", ref, why)
            return
        STATUS_WRITES.labels(KIND).inc()
        self._store.refresh(stored)

    async def device_access(self, ref: str) -> DeviceAccess:
        """How to reach camera `namespace/name` with its own credentials (read from its Secret each time, so a
        rotated password is used at once), under the same endpoint rules as the device pass."""
        namespace, _, name = ref.partition("/")
        body = self._store.get((namespace, name))
        camera = self._parse((namespace, name), body) if body is not None else None
        if camera is None:
            raise DeviceUnavailable(f"camera {ref} is not known")
        refusal = endpoint_refusal(camera.spec.endpoint, self._networks)
        if refusal:
            raise DeviceUnavailable(refusal)
        try:
            credentials = await read_credentials(self._client, namespace, camera.spec.credentials_secret_ref)
        except CredentialsUnavailable as error:
            raise DeviceUnavailable(str(error)) from None
        policy = AddressPolicy.for_endpoint(
            camera.spec.endpoint, self._networks, require_tls=camera.spec.transport.require_tls
        )
        return DeviceAccess(camera.spec.endpoint, credentials, policy)

    # -- workers ---------------------------------------------------------------------------

    async def run(self, gate: ActiveGate) -> None:
        await serve(self._queue, self._pass, self._pass_failed, workers=self._config.onvif_concurrency, gate=gate)

    async def _pass(self, key: Key) -> float | None:
        began = time.time()
        PASS_LOG.info("pass began %s/%s %.3f", *key, began)
        try:
            delay = await self.reconcile(key)
        except Exception as error:
            # Counted here, so the backoff grows and the status says so (_pass_failed logs and backs off).
            self._failures[key] = self._failures.get(key, 0) + 1
            await self._write_internal_error(key, error)
            raise
        finally:
            # With sharding, who worked on which camera when: the fault suite proves from these that no camera
            # was reconciled by two replicas at once.
            PASS_LOG.info("pass %s/%s %.3f %.3f", *key, began, time.time())
        return delay if self._store.knows(key) else None

    def _pass_failed(self, key: Key) -> float | None:
        # A bug or an API outage must not stop the controller; the camera is retried with backoff.
        failures = self._failures.get(key, 1)
        if failures <= 1:
            log.exception("reconciling camera %s/%s failed", *key)
        else:
            log.warning("reconciling camera %s/%s failed again (attempt %d)", *key, failures, exc_info=False)
        RECONCILIATIONS.labels(KIND, "error").inc()
        return self._retry_delay(failures) if self._store.knows(key) else None

    async def _write_internal_error(self, key: Key, error: Exception) -> None:
        """Best effort: show InternalError (and the retry plan) instead of leaving the last status standing."""
        previous = self._observations.get(key) or DeviceObservation()
        self._observations[key] = observation = replace(previous, failure=internal_failure(error))
        body = self._store.get(key)
        with contextlib.suppress(Exception):  # the API server may be what failed; the retry will tell
            if body is None:
                return
            camera = Camera.model_validate(body)
            failures = self._failures[key]
            status, _ = camera_status(
                camera.status,
                camera.spec,
                int(body["metadata"].get("generation", 0)),
                observation,
                self._clock.now(),
                RetryPlan(failures, self._retry_delay(failures)),
                self._verdict(key, body),
            )
            await self._write_status(body, status)

    def _retry_delay(self, failures: int) -> float:
        return exponential_delay(failures - 1, self._config.retry_first_seconds, self._config.retry_max_seconds)

    async def _observe_device(self, key: Key, camera: Camera) -> DeviceObservation:
        namespace = key[0]
        refusal = endpoint_refusal(camera.spec.endpoint, self._networks)
        if refusal:
            return DeviceObservation(failure=DeviceFailure(FailureKind.ENDPOINT_NOT_ALLOWED, refusal))
        try:
            credentials = await read_credentials(self._client, namespace, camera.spec.credentials_secret_ref)
        except CredentialsUnavailable as error:
            return DeviceObservation(failure=DeviceFailure(FailureKind.CREDENTIALS, str(error)))
        if self._credentials_seen is not None:
            self._credentials_seen(key, credentials)
        started = self._clock.monotonic()
        ONVIF_SESSIONS_IN_FLIGHT.inc()
        try:
            return await self._lean_or_full_pass(key, camera, credentials)
        finally:
            ONVIF_SESSIONS_IN_FLIGHT.dec()
            DEVICE_PASS_SECONDS.observe(self._clock.monotonic() - started)

    async def _lean_or_full_pass(self, key: Key, camera: Camera, credentials: Credentials) -> DeviceObservation:
        """A lean re-verification when the schedule allows it (camfleet.cameras.pass_schedule); a full pass otherwise,
        and at once when the lean pass found something off or could not tell. After a restart, a camera whose status
        shows it healthy and configured for this generation starts lean too (`restored_state`)."""
        endpoint, desired = camera.spec.endpoint, desired_device_settings(camera.spec)
        max_drift = camera.spec.device.time.max_drift_seconds
        policy = AddressPolicy.for_endpoint(endpoint, self._networks, require_tls=camera.spec.transport.require_tls)
        now = self._clock.monotonic()
        previous, last_full, restored_plan = self._observations.get(key), self._full_passes.get(key), None
        if previous is None and last_full is None:
            restored = restored_state(camera.status, camera.metadata.generation or 0, endpoint)
            if restored is not None:
                previous, restored_plan = restored
                last_full = FullPassRecord(now, endpoint, desired)
        choice = choose_pass(now, last_full, previous, endpoint, desired, self._config.full_pass_seconds, max_drift)
        if choice.kind is PassKind.LEAN and previous is not None:
            timeout = self._config.onvif_timeout_seconds
            lean = await run_lean_pass(
                endpoint,
                credentials,
                desired,
                previous,
                self._limit,
                timeout,
                self._devices,
                max_drift,
                policy,
                restored_plan,
            )
            if lean is not None:
                DEVICE_PASSES.labels(PassKind.LEAN.value, RESTORED if restored_plan else choice.reason).inc()
                if last_full is not None:
                    self._full_passes[key] = last_full
                return lean
            choice = replace(choice, kind=PassKind.FULL, reason=LEAN_GAVE_WAY)
        log.debug("camera %s/%s: full device pass (%s)", *key, choice.reason)
        DEVICE_PASSES.labels(PassKind.FULL.value, choice.reason).inc()
        observation = await run_device_pass(
            endpoint,
            credentials,
            desired,
            self._limit,
            self._config.onvif_timeout_seconds,
            self._devices,
            policy,
        )
        self._full_passes[key] = FullPassRecord(self._clock.monotonic(), endpoint, desired)
        return observation

    async def reconcile(self, key: Key) -> float | None:
        """One pass for one camera; returns when the next pass is due (None: camera gone).

        Gather (the device pass, or the last one), decide the status (pure), write it once, then tell.
        """
        body = self._store.get(key)
        if body is None:
            return None
        camera = self._parse(key, body)
        if camera is None:
            return self._config.retry_max_seconds
        device = await self._device_facts(key, camera)
        wait = self._verdict_wait(key, camera, device.observation)
        if wait:
            return min(device.delay, wait)  # set_recording() requeues the camera as soon as the verdict comes
        retry = RetryPlan(device.failures, self._retry_delay(device.failures)) if device.failures else None
        generation = int(body["metadata"].get("generation", 0))
        now, ref = self._clock.now(), f"{key[0]}/{key[1]}"
        status, conditions = camera_status(
            camera.status,
            camera.spec,
            generation,
            device.observation,
            now,
            retry,
            self._verdict(key, body),
            self._ptz.status(ref, now) if self._ptz is not None else None,
        )
        if not await self._write_status(body, status):
            return None  # deleted while we talked to the device
        await self._announce(body, camera.status, conditions, generation, device.observation if device.fresh else None)
        self._report(key, conditions, device.observation)
        return self._until_ptz_change(ref, now, device.delay)

    def _verdict_wait(self, key: Key, camera: Camera, observation: DeviceObservation) -> float:
        """Seconds this pass still waits for the recording verdict (`verdict_wait`; the patience counts from the
        camera's first pass in this process). Streams found but not in the status yet are handed over first."""
        found = bool(observation.streams and observation.streams.streams)
        if found and self._streams_seen is not None and not (camera.status and camera.status.stream_uris):
            self._streams_seen(key, stream_uris(observation))
        now = self._clock.monotonic()
        first_pass = self._first_pass_at.setdefault(key, now)
        return verdict_wait(now, first_pass, self._recording.get(key), found)

    def _verdict(self, key: Key, body: Mapping[str, Any]) -> RecordingState | None:
        """The recording controller's verdict; until it has one (just after a restart, when the patience is over),
        the Recording condition the status shows stands: dropping it would change Ready's message, a write for
        nothing, and count the camera Ready without its recording. With neither, a camera some policy selects is
        pending placement (not Ready): at a 10,000-camera start the recording side may lag the device passes by
        minutes, and 1,577 cameras showed Ready while no group recorded them (bench/RESULTS.md)."""
        found = self._recording.get(key) or recording_from_status(body)[1]
        if found is not None or self._selecting is None:
            return found
        policy = self._selecting(key, body)
        return placement_pending(policy) if policy is not None else None

    def _until_ptz_change(self, ref: str, now: datetime, delay: float) -> float:
        """`delay`, or sooner when a lock ends or the holder counts as silent before then (status shows it)."""
        change = self._ptz.next_change(ref, now) if self._ptz is not None else None
        if change is None:
            return delay
        return min(delay, max(0.5, (change - now).total_seconds() + 0.5))

    def _parse(self, key: Key, body: Mapping[str, Any]) -> Camera | None:
        try:
            return Camera.model_validate(body)
        except ValidationError as error:
            # The API server accepted it, so the CRD is older than this operator: say so, once.
            log.error("camera %s/%s does not match the operator's model (stale CRD?): %s", *key, error)
            return None

    async def _device_facts(self, key: Key, camera: Camera) -> DeviceFacts:
        """A new device pass when one is due; otherwise (only the recording state changed) the last one."""
        now = self._clock.monotonic()
        previous = self._observations.get(key)
        if not device_pass_due(previous is not None, now, self._next_device_pass.get(key, 0.0)):
            assert previous is not None
            return DeviceFacts(previous, self._failures.get(key, 0), max(0.0, self._next_device_pass[key] - now))
        observation = await self._observe_device(key, camera)
        failures = 0 if observation.healthy else self._failures.get(key, 0) + 1
        self._failures[key] = failures
        delay = self._retry_delay(failures) if failures else self._config.resync_seconds
        self._observations[key] = observation
        self._next_device_pass[key] = self._clock.monotonic() + delay
        return DeviceFacts(observation, failures, delay, fresh=not failures)

    async def _write_status(self, body: Mapping[str, Any], status: CameraStatus) -> bool:
        """False when the camera is gone."""
        try:
            stored = await write_status(self._client, CameraResource, body, status)
        except ApiError as error:
            if error.status.code == 404:
                return False
            raise
        if stored is not None:
            STATUS_WRITES.labels(KIND).inc()
            self._store.refresh(stored)
        return True

    def _report(self, key: Key, conditions: list[Cond], observation: DeviceObservation) -> None:
        namespace, name = key
        gauges = camera_gauges(conditions)
        READY_OBJECTS.labels(KIND, namespace, name).set(gauges.ready)
        CAMERA_REACHABLE.labels(namespace, name).set(gauges.reachable)
        CAMERA_FILING_OVERDUE.labels(namespace, name).set(gauges.filing_overdue)
        RECONCILIATIONS.labels(KIND, "success" if observation.healthy else "device-error").inc()

    async def _announce(
        self,
        body: dict[str, Any],
        current: CameraStatus | None,
        conditions: list[Cond],
        generation: int,
        observation: DeviceObservation | None,
    ) -> None:
        previous_conditions = current.conditions if current else None
        # A wait is not announced and counts as nothing said: what follows it is announced as if it appeared.
        said = [c for c in previous_conditions or () if c.reason not in UNANNOUNCED_REASONS]
        news = [c for c in conditions if c.reason not in UNANNOUNCED_REASONS]
        for change in transitions(said, news):
            event_type = event_worthy(change.previous, change.current)
            if event_type:
                await self._events.record(body, event_type, change.current.reason, change.current.message)
        for condition in reason_changes(said, news):
            await self._events.record(body, "Warning", condition.reason, condition.message)
        report = observation.report if observation is not None else None
        if report is not None and drift_corrected(previous_conditions, generation, report):
            changed = ", ".join(feature.value for feature in report.changed)
            await self._events.record(
                body, "Normal", "DriftCorrected", f"settings changed on the device were put back: {changed}"
            )
