"""The chain checkpointer: each recording camera's chain head, signed by the operator, kept outside the pod (R3).

Once a minute (`--chain-checkpoint-seconds`) each recorder's `GET /chain` is read (a group recorder's `GET /chains`:
one request for all its members, not one per camera); when a head moved, the operator signs it (Ed25519, its active
token signing key, recorder/checkpoint.py) and applies it to the camera's checkpoint ConfigMap `<camera>-chain`: the
latest signed checkpoint, a bounded history of the last `HISTORY_ENTRIES` and every checkpoint the recorder later
contradicted. An unchanged head writes nothing.

Each poll asks for the hash of the line last signed (`/chain?seq=N`, `/chains?at=<camera>:N`). A chain whose line N
now has another hash, a head that went back (a shorter chain), or a head whose hash at a line already checkpointed
changed (the recorder restarted on a truncated or rebuilt chain, even one that has grown past N again) is a rewrite:
a Warning Event `ChainRewritten` on the Camera, an audit record and `camfleet_chain_rewrites_total`. The checkpoint
it contradicts stays in the ConfigMap, so `camfleet verify DIR --camera ns/name` names the cut-off tail long after
the Event has expired.

Why a ConfigMap of its own and not the Camera's status: the camera controller is the one writer of Camera status
(two writers race), and a camera that records writes a new head every segment; kept apart, Camera status writes
stay at zero when nothing else changes. The ConfigMap belongs to the camera's retention volume (ownerReference,
no blockOwnerDeletion): it lives exactly as long as the recordings it vouches for, outliving the Camera as they do.

Recorders are learned from kopf's watch of recorder Deployments (which camera; a group's members annotation) and
recorder pods (their address; port `METRICS_PORT`, which serves `/chain` and `/chains`). Nothing is listed or read per
poll but the recorder itself.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import aiohttp
from lightkube import AsyncClient
from lightkube.resources.core_v1 import ConfigMap, PersistentVolumeClaim
from prometheus_client import Counter

from camfleet.access.tokens import SigningKeys
from camfleet.active_gate import ActiveGate
from camfleet.clock import Clock
from camfleet.kube.apply import apply, get_or_none
from camfleet.kube.events import EventRecorder
from camfleet.kube.store import CameraStore, Key
from camfleet.observability.audit import audit
from camfleet.recorder_pod.checkpoint import (
    CHAIN_SUFFIX,
    CONTRADICTED_KEY,
    HISTORY_KEY,
    LATEST_KEY,
    Checkpoint,
    CheckpointError,
    load_checkpoint,
    sign,
)
from camfleet.recorder_pod.manifest import to_timestamp
from camfleet.recording.groups import GROUP_LABEL, MEMBERS_ANNOTATION, parse_members
from camfleet.recording.groups import volume_name as group_volume_name
from camfleet.recording.workloads import (
    CAMERA_LABEL,
    CHAIN_CHECKPOINT_COMPONENT,
    COMPONENT_LABEL,
    MANAGED_BY,
    METRICS_PORT,
    label_value,
    volume_name,
)
from camfleet.scheduling import DueQueue, serve

log = logging.getLogger(__name__)

COMPONENT = CHAIN_CHECKPOINT_COMPONENT
OWNER_UID_ANNOTATION = "camfleet.io/owner-uid"
# An hour at one a minute: ~11 KB per write. A day (1,440) would be ~260 KB rewritten every minute per camera,
# which etcd keeps as a revision until compaction; the latest checkpoint alone anchors the whole chain.
HISTORY_ENTRIES = 60
CONTRADICTED_ENTRIES = 20
REWRITTEN_REASON = "ChainRewritten"
FETCH_TIMEOUT_SECONDS = 5.0
WORKERS = 8

CHAIN_REWRITES = Counter(
    "camfleet_chain_rewrites_total",
    "Recorder chains found shorter than, or different from, a head the operator had signed",
    ["namespace"],
)
CHECKPOINT_WRITES = Counter("camfleet_chain_checkpoint_writes_total", "Signed chain checkpoints written")
CHECKPOINT_FAILURES = Counter(
    "camfleet_chain_checkpoint_failures_total", "Chain checkpoint polls that failed", ["reason"]
)


def checkpoint_name(camera: str) -> str:
    return f"{camera}{CHAIN_SUFFIX}"


# -- the pure part ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Head:
    """What a recorder's `/chain` says."""

    seq: int
    head: str
    at: tuple[int, str | None] | None = None
    """(line, its hash) when asked for a line with `?seq=`; hash None: not among the recorder's recent lines."""


def parse_head(body: Any) -> Head | None:
    """The head served by `/chain`; None for an empty chain. Raises ValueError on anything else."""
    if not isinstance(body, Mapping):
        raise ValueError("/chain did not answer a JSON object")
    seq, head = body.get("seq"), body.get("head")
    if not isinstance(seq, int) or isinstance(seq, bool) or seq < 0 or not isinstance(head, str):
        raise ValueError("/chain answered no seq and head")
    if seq == 0:
        return None
    load_checkpoint({"camera": "-", "seq": seq, "head": head, "time": "-", "keyId": "-", "signature": "-"})
    at = body.get("at")
    if isinstance(at, Mapping) and isinstance(at.get("seq"), int):
        return Head(seq, head, (at["seq"], at["head"] if isinstance(at.get("head"), str) else None))
    return Head(seq, head)


@dataclass(frozen=True)
class Ledger:
    """What a camera's checkpoint ConfigMap holds."""

    latest: Checkpoint | None = None
    history: tuple[Checkpoint, ...] = ()
    contradicted: tuple[Checkpoint, ...] = ()


@dataclass(frozen=True)
class Judgement:
    write: bool
    rewritten: str = ""
    """Why the served head contradicts what was signed before; empty when it does not."""


def judge(ledger: Ledger, head: Head) -> Judgement:
    """Whether to write a new checkpoint, and whether `head` contradicts an earlier signed one."""
    latest = ledger.latest
    if latest is None:
        return Judgement(write=True)
    if (head.seq, head.head) == (latest.seq, latest.head):
        return Judgement(write=False)
    if head.at is not None and head.at[0] == latest.seq and head.at[1] not in (None, latest.head):
        return Judgement(
            True,
            f"line {latest.seq} now has hash {str(head.at[1])[:16]}..., but {latest.head[:16]}... was signed at "
            f"{latest.time}: the tail was rewritten (the chain now ends at line {head.seq})",
        )
    if head.seq < latest.seq:
        return Judgement(
            True,
            f"the chain went back from line {latest.seq} (signed at {latest.time}) to line {head.seq}: "
            f"lines {head.seq + 1}-{latest.seq} were cut off or rebuilt",
        )
    known = {checkpoint.seq: checkpoint for checkpoint in (*ledger.history, latest)}
    earlier = known.get(head.seq)
    if earlier is not None and earlier.head != head.head:
        return Judgement(
            True,
            f"line {head.seq} now has hash {head.head[:16]}..., but {earlier.head[:16]}... was signed at "
            f"{earlier.time}: the tail was rewritten",
        )
    return Judgement(write=True)


def next_ledger(ledger: Ledger, checkpoint: Checkpoint, judgement: Judgement) -> Ledger:
    """The ledger with `checkpoint` as the latest; a contradicted latest is kept, and the history starts over."""
    if judgement.rewritten and ledger.latest is not None:
        contradicted = (*ledger.contradicted, ledger.latest)[-CONTRADICTED_ENTRIES:]
        return Ledger(checkpoint, (checkpoint,), contradicted)
    return Ledger(checkpoint, (*ledger.history, checkpoint)[-HISTORY_ENTRIES:], ledger.contradicted)


def _lines(checkpoints: tuple[Checkpoint, ...]) -> str:
    return "".join(json.dumps(c.to_json(), sort_keys=True, separators=(",", ":")) + "\n" for c in checkpoints)


def ledger_data(ledger: Ledger) -> dict[str, str]:
    data = {HISTORY_KEY: _lines(ledger.history), CONTRADICTED_KEY: _lines(ledger.contradicted)}
    if ledger.latest is not None:
        data[LATEST_KEY] = json.dumps(ledger.latest.to_json(), sort_keys=True)
    return data


def _read_lines(text: str, trusted: SigningKeys | None) -> tuple[Checkpoint, ...]:
    found = []
    for line in text.splitlines():
        checkpoint = _read_one(line, trusted)
        if checkpoint is not None:
            found.append(checkpoint)
    return tuple(found)


def _read_one(text: str, trusted: SigningKeys | None) -> Checkpoint | None:
    """A checkpoint as stored; None when malformed or (with `trusted`) not signed by one of those keys."""
    try:
        checkpoint = load_checkpoint(json.loads(text))
        if trusted is not None:
            checkpoint.check_signature(public_keys(trusted))
    except (CheckpointError, ValueError):
        return None
    return checkpoint


def read_ledger(data: Mapping[str, str], trusted: SigningKeys | None = None) -> Ledger:
    """The ledger a ConfigMap holds; with `trusted`, entries those keys did not sign are left out."""
    latest = _read_one(data.get(LATEST_KEY, ""), trusted)
    history = _read_lines(data.get(HISTORY_KEY, ""), trusted)
    return Ledger(latest, history, _read_lines(data.get(CONTRADICTED_KEY, ""), trusted))


def public_keys(keys: SigningKeys) -> dict[str, Any]:
    return {key.kid: key.public_key for key in (keys.active, *keys.previous)}


def is_ours(body: Mapping[str, Any] | None) -> bool:
    labels = ((body or {}).get("metadata") or {}).get("labels") or {}
    return all(labels.get(k) == v for k, v in MANAGED_BY.items()) and labels.get(COMPONENT_LABEL) == COMPONENT


def ledger_manifest(
    key: Key, ledger: Ledger, camera_uid: str | None, volume: Mapping[str, Any] | None
) -> dict[str, Any]:
    namespace, camera = key
    metadata: dict[str, Any] = {
        "name": checkpoint_name(camera),
        "namespace": namespace,
        "labels": {**MANAGED_BY, COMPONENT_LABEL: COMPONENT, CAMERA_LABEL: label_value(camera)},
        "annotations": {OWNER_UID_ANNOTATION: camera_uid or ""},
    }
    if volume is not None:  # gone with the recordings it vouches for, not with the Camera
        meta = volume["metadata"]
        metadata["ownerReferences"] = [
            {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "name": meta["name"], "uid": meta["uid"]}
        ]
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": metadata, "data": ledger_data(ledger)}


# -- the controller ---------------------------------------------------------------------------------------------


@dataclass
class _Chain:
    """One camera's chain as the checkpointer knows it: the ledger read back (once per process) and written."""

    ledger: Ledger | None = None
    blocked: bool = False
    """Its checkpoint ConfigMap's name is taken by something not camfleet's: nothing is written."""

    @property
    def unread(self) -> bool:
        """Its ledger is still to be read (a blocked chain's never will be)."""
        return self.ledger is None and not self.blocked


@dataclass
class _Recorder(_Chain):
    """A camera's own recorder: its chain at `/chain` of its pod, on its own volume `<camera>-recordings`."""

    label: str = ""
    address: str | None = None
    volume: dict[str, Any] | None = field(default=None, repr=False)


@dataclass
class _Group:
    """A group recorder: every member's chain at `/chains` of its pod (one request), all on the group's volume."""

    address: str | None = None
    members: dict[Key, _Chain] = field(default_factory=dict)
    volume: dict[str, Any] | None = field(default=None, repr=False)


class ChainCheckpointer:
    def __init__(
        self,
        client: AsyncClient,
        events: EventRecorder,
        cameras: CameraStore,
        keys: SigningKeys,
        clock: Clock,
        interval: float = 60.0,
        port: int = METRICS_PORT,
        member_recording: Callable[[Key, bool], None] | None = None,
    ) -> None:
        self._client = client
        self._events = events
        self._cameras = cameras
        self._keys = keys
        self._clock = clock
        self._interval = interval
        self._port = port
        # Whether a group recorder records a member's stream (`recording` of its `/chains` entry): the recording
        # controller's per-camera verdict, since a group pod stays Ready while one of its cameras fails.
        self._member_recording = member_recording or (lambda key, recording: None)
        self._recorders: dict[Key, _Recorder] = {}
        self._by_label: dict[tuple[str, str], Key] = {}
        self._groups: dict[tuple[str, str], _Group] = {}  # (namespace, group)
        self._queue: DueQueue[Key] = DueQueue(clock)
        self._group_queue: DueQueue[tuple[str, str]] = DueQueue(clock)
        self._http: aiohttp.ClientSession | None = None

    # -- fed by kopf (handlers/recording.py) ---------------------------------------------------------------------

    def recorder_changed(self, body: Mapping[str, Any], deleted: bool) -> None:
        meta = body["metadata"]
        owner = next((o for o in meta.get("ownerReferences", []) if o.get("kind") == "Camera"), None)
        if owner is None:
            return
        key = (meta["namespace"], owner["name"])
        if deleted:
            gone = self._recorders.pop(key, None)
            if gone is not None:
                self._by_label.pop((key[0], gone.label), None)
            self._queue.discard(key)
            return
        if key not in self._recorders:
            label = (meta.get("labels") or {}).get(CAMERA_LABEL) or label_value(owner["name"])
            self._recorders[key] = _Recorder(label=label)
            self._by_label[(key[0], label)] = key
            self._queue.schedule_earlier(key, self._clock.monotonic())

    def group_changed(self, body: Mapping[str, Any], deleted: bool) -> None:
        """A group recorder's members: their chains are polled together at `/chains` of the group's pod."""
        meta = body["metadata"]
        namespace, name = meta["namespace"], (meta.get("labels") or {}).get(GROUP_LABEL, meta["name"])
        try:
            members = () if deleted else parse_members((meta.get("annotations") or {}).get(MEMBERS_ANNOTATION))
        except (ValueError, KeyError, TypeError):
            return  # the recording controller reports an unreadable group; its chains stay as they were
        if deleted:
            self._groups.pop((namespace, name), None)
            self._group_queue.discard((namespace, name))
            return
        group = self._groups.setdefault((namespace, name), _Group())
        wanted = {(namespace, m.camera) for m in members}
        group.members = {key: group.members.get(key) or _Chain() for key in sorted(wanted)}
        if any(chain.unread for chain in group.members.values()):  # a new member: look at it now
            self._group_queue.schedule_earlier((namespace, name), self._clock.monotonic())

    def group_pod_changed(self, body: Mapping[str, Any], deleted: bool) -> None:
        """Where a group recorder answers, for every member camera."""
        meta = body["metadata"]
        key = (meta["namespace"], (meta.get("labels") or {}).get(GROUP_LABEL, ""))
        group = self._groups.get(key)
        if group is not None and self._follow_pod(group, body, deleted):
            self._group_queue.schedule_earlier(key, self._clock.monotonic())

    def pod_changed(self, body: Mapping[str, Any], deleted: bool) -> None:
        """Where a recorder answers: its pod's IP while it runs."""
        meta = body["metadata"]
        key = self._by_label.get((meta["namespace"], (meta.get("labels") or {}).get(CAMERA_LABEL, "")))
        recorder = self._recorders.get(key) if key is not None else None
        if key is not None and recorder is not None and self._follow_pod(recorder, body, deleted):
            self._queue.schedule_earlier(key, self._clock.monotonic())

    def _follow_pod(self, recorder: _Recorder | _Group, body: Mapping[str, Any], deleted: bool) -> bool:
        """Take the pod's address while it runs; True for a new pod (perhaps a restarted recorder: look now)."""
        meta = body["metadata"]
        status = body.get("status") or {}
        running = not deleted and status.get("phase") == "Running" and not meta.get("deletionTimestamp")
        address = f"http://{status['podIP']}:{self._port}" if status.get("podIP") else None
        if running and address is not None and address != recorder.address:
            recorder.address = address
            return True
        if not running and address == recorder.address:
            recorder.address = None
        return False

    # -- the worker ------------------------------------------------------------------------------------------------

    async def run(self, gate: ActiveGate) -> None:
        timeout = aiohttp.ClientTimeout(total=FETCH_TIMEOUT_SECONDS)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            self._http = session
            await asyncio.gather(
                serve(self._queue, self.checkpoint, self._failed, workers=WORKERS, gate=gate),
                serve(
                    self._group_queue,
                    self.checkpoint_group,
                    partial(self._failed, what="recorder group"),
                    workers=WORKERS,
                    gate=gate,
                ),
            )

    def _failed(self, key: tuple[str, str], what: str = "camera") -> float:
        CHECKPOINT_FAILURES.labels("error").inc()
        log.exception("chain checkpoint of %s %s/%s failed; retrying in %.0fs", what, *key, self._interval)
        return self._interval

    async def checkpoint(self, key: Key) -> float | None:
        """One poll of `key`'s own recorder; the seconds until the next."""
        recorder = self._recorders.get(key)
        if recorder is None:
            return None
        if recorder.address is None or recorder.blocked:
            return self._interval
        if recorder.ledger is None:
            recorder.volume = await self._read_volume(key[0], volume_name(key[1]))
            await self._load(key, recorder)
        if recorder.address is None or recorder.ledger is None:  # blocked, or its pod stopped while it was read
            return self._interval
        latest = recorder.ledger.latest
        body = await self._fetch(recorder.address + "/chain", {"seq": latest.seq} if latest else {}, key)
        if body is not None:
            await self._take(key, recorder, recorder.volume, body)
        return self._interval

    async def checkpoint_group(self, key: tuple[str, str]) -> float | None:
        """One poll of a group recorder, for all its members; the seconds until the next."""
        group = self._groups.get(key)
        if group is None:
            return None
        if group.address is None:
            return self._interval
        if group.volume is None:  # read until found: the checkpoints of every member belong to it
            group.volume = await self._read_volume(key[0], group_volume_name(key[1]))
        for member, chain in list(group.members.items()):
            if chain.unread:
                await self._load(member, chain)
        address = group.address
        if address is None:  # its pod stopped while the ledgers were read
            return self._interval
        asked = [f"{k[1]}:{c.ledger.latest.seq}" for k, c in group.members.items() if c.ledger and c.ledger.latest]
        body = await self._fetch(address + "/chains", {"at": asked} if asked else {}, key, "recorder group")
        served = body.get("cameras") if isinstance(body, Mapping) else None
        for camera, answer in (served if isinstance(served, Mapping) else {}).items():
            await self._take_member(group, (key[0], camera), answer)
        return self._interval

    async def _take_member(self, group: _Group, key: Key, answer: Any) -> None:
        """One member's entry of `/chains`: whether it records (for the recording controller), and its head."""
        chain = group.members.get(key)
        if chain is None or chain.ledger is None:
            return  # not a member as the operator knows it (yet), or its checkpoint ConfigMap is not ours
        if isinstance(answer, Mapping) and isinstance(answer.get("recording"), bool):
            self._member_recording(key, answer["recording"])
        await self._take(key, chain, group.volume, answer)

    async def _fetch(
        self, url: str, params: Mapping[str, Any], key: tuple[str, str], what: str = "camera"
    ) -> Any | None:
        """A recorder's JSON answer; None (logged) when it could not be read."""
        assert self._http is not None, "run() opens the HTTP session"
        try:
            async with self._http.get(url, params=params or None) as response:
                response.raise_for_status()
                return await response.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, ValueError) as error:
            CHECKPOINT_FAILURES.labels("unreachable").inc()
            log.info("chain head of %s %s/%s not read from %s: %s", what, *key, url, error)
            return None

    async def _take(self, key: Key, chain: _Chain, volume: dict[str, Any] | None, body: Any) -> None:
        """Judge one chain's served head (`/chain` body) against its ledger; sign and write it when it moved."""
        assert chain.ledger is not None, "the ledger is read before the recorder is asked"
        try:
            head = parse_head(body)
        except ValueError as error:
            CHECKPOINT_FAILURES.labels("unreachable").inc()
            log.info("chain head of camera %s/%s not understood: %s", *key, error)
            return
        if head is None:
            return
        judgement = judge(chain.ledger, head)
        if judgement.write:
            await self._write(key, chain, volume, head, judgement)

    async def _read_volume(self, namespace: str, claim: str) -> dict[str, Any] | None:
        """The retention volume the checkpoints belong to (read once per recorder, a group's until found)."""
        volume = await get_or_none(self._client, PersistentVolumeClaim, claim, namespace)
        return volume.to_dict() if volume is not None else None

    async def _load(self, key: Key, chain: _Chain) -> None:
        """The ledger an earlier process wrote (once per camera per process), checked against our keys."""
        namespace, camera = key
        stored = await get_or_none(self._client, ConfigMap, checkpoint_name(camera), namespace)
        body = stored.to_dict() if stored is not None else None
        if body is not None and not is_ours(body):
            chain.blocked = True
            await self._report(
                key,
                "ChainCheckpointBlocked",
                f"ConfigMap {namespace}/{checkpoint_name(camera)} exists and is not camfleet's chain checkpoint; "
                "camfleet will not overwrite it: remove or rename it to have the chain checkpointed",
            )
            return
        chain.ledger = read_ledger((body or {}).get("data") or {}, self._keys)

    async def _write(
        self, key: Key, chain: _Chain, volume: dict[str, Any] | None, head: Head, judgement: Judgement
    ) -> None:
        namespace, camera = key
        assert chain.ledger is not None, "a head is judged against a ledger read"
        active = self._keys.active
        now = to_timestamp(self._clock.now().timestamp())
        signed = sign(f"{namespace}/{camera}", head.seq, head.head, now, active.kid, active.private_key)
        updated = next_ledger(chain.ledger, signed, judgement)
        body = self._cameras.get(key)
        uid = (body or {}).get("metadata", {}).get("uid")
        await apply(self._client, ledger_manifest(key, updated, uid, volume))
        chain.ledger = updated
        CHECKPOINT_WRITES.inc()
        if judgement.rewritten:
            await self._rewritten(key, judgement.rewritten)

    async def _rewritten(self, key: Key, why: str) -> None:
        namespace, camera = key
        CHAIN_REWRITES.labels(namespace).inc()
        message = f"recorder chain rewritten: {why}; the contradicted checkpoint is kept in {checkpoint_name(camera)}"
        audit("ChainRewritten", f"Camera {namespace}/{camera}", "detected", message)
        log.warning("camera %s/%s: %s", namespace, camera, message)
        await self._report(key, REWRITTEN_REASON, message)

    async def _report(self, key: Key, reason: str, message: str) -> None:
        body = self._cameras.get(key)
        if body is None:
            body = {
                "apiVersion": "camfleet.io/v1alpha1",
                "kind": "Camera",
                "metadata": {"name": key[1], "namespace": key[0]},
            }
        await self._events.record(dict(body), "Warning", reason, message)
