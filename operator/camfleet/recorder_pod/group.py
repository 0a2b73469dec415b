"""A group recorder: one process records several cameras of a recorder group onto one shared volume.

Each member is a `Recorder` of its own (supervisor.py) in `$DATA_DIR/<camera>`: its own ffmpeg, manifest, hash
chain, lock, pruning and capacity judgement, so `camfleet verify $DATA_DIR/<camera>` works exactly as for a
single-camera volume. What they share is the event loop, the HTTP endpoint, the metrics registry (a `camera`
label per member) and the volume's free space: each member's capacity projection leaves out what the others still
need to hold their own retention.

Isolation: a member whose ffmpeg exits is restarted with its own backoff by its Recorder; anything else that goes
wrong in a member (an unexpected error) is logged and that member alone starts over after a delay. Nothing a member
does stops another member. A `retain` member (a camera that left the group) runs no ffmpeg: its directory is only
pruned after its retention, never under a legal hold.

Live membership: the members come from the mounted members Secret (CAMFLEET_GROUP_CONFIG_DIR), read again every
MEMBERS_POLL_SECONDS. A change is applied member by member (`membership_changes`): a new member starts, a member
whose stream, credentials, host or mode changed restarts its own ffmpeg only, a new retention or hold is enforced
in place, a member no longer named stops. Its directory is never deleted by a membership change, and no other
member's ffmpeg is touched. An unreadable or half-written members file is logged (never a secret) and the members
read before are kept.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from camfleet.recorder_pod import http
from camfleet.recorder_pod.clock import Clock, SystemClock
from camfleet.recorder_pod.config import (
    KUBELET_DATA_LINK,
    GroupConfig,
    GroupMember,
    RecorderConfig,
    member_secrets,
    read_members,
)
from camfleet.recorder_pod.ffmpeg_restart import restart_delay
from camfleet.recorder_pod.metrics import MetricFamilies, RecorderMetrics
from camfleet.recorder_pod.storage import MANIFEST_NAME, VolumeLocked
from camfleet.recorder_pod.supervisor import Recorder, _sleep_unless

log = logging.getLogger("camfleet.recorder")
MEMBERS_POLL_SECONDS = 3.0
"""How often the mounted members directory is looked at (the kubelet itself refreshes it within about a minute)."""


@dataclass(frozen=True)
class MembershipChanges:
    """What one new membership changes, per camera; a camera in none of these is left exactly as it runs."""

    start: tuple[str, ...] = ()  # newly named
    restart: tuple[str, ...] = ()  # its stream, credentials, host or mode changed: its own ffmpeg restarts
    enforce: tuple[str, ...] = ()  # only its retention or legal hold changed: enforced in place, ffmpeg runs on
    stop: tuple[str, ...] = ()  # no longer named: stopped, its directory kept

    def __bool__(self) -> bool:
        return bool(self.start or self.restart or self.enforce or self.stop)


def _stream_of(member: GroupMember) -> tuple[object, ...]:
    config = member.config
    return (member.mode, config.stream_url, config.username, config.password, config.credentials_host)


def membership_changes(old: Mapping[str, GroupMember], new: Mapping[str, GroupMember]) -> MembershipChanges:
    """The per-member difference between two memberships (pure)."""
    both = [camera for camera in new if camera in old]
    restart = [camera for camera in both if _stream_of(old[camera]) != _stream_of(new[camera])]
    enforce = [camera for camera in both if camera not in restart and old[camera] != new[camera]]
    return MembershipChanges(
        start=tuple(camera for camera in new if camera not in old),
        restart=tuple(restart),
        enforce=tuple(enforce),
        stop=tuple(camera for camera in old if camera not in new),
    )


class MembersSource:
    """The mounted members directory: the members when they changed since the last good read."""

    def __init__(self, directory: Path, shared: RecorderConfig) -> None:
        self.directory = directory
        self.shared = shared
        self._version: str | None = None  # the `..data` target of the last good read
        self._error: str | None = None

    def _link_target(self) -> str | None:
        try:
            return os.readlink(self.directory / KUBELET_DATA_LINK)
        except OSError:
            return None  # not a kubelet mount (a plain directory): read every time

    def poll(self) -> tuple[GroupMember, ...] | None:
        """The members now, or None: unchanged since the last good read, or unreadable (logged once, without any
        secret: the messages name files and fields only; the caller keeps what it had)."""
        version = self._link_target()
        if version is not None and version == self._version and self._error is None:
            return None
        try:
            members = read_members(self.directory, self.shared)
        except (OSError, ValueError) as error:  # ConfigError is a ValueError
            message = f"{type(error).__name__}: {error}"
            if message != self._error:
                log.error("members in %s not read (%s); the members read before are kept", self.directory, message)
            self._error = message
            return None
        if self._error is not None:
            log.info("members in %s read again", self.directory)
        self._error = None
        self._version = version
        return members


class GroupRecorder:
    def __init__(
        self,
        config: GroupConfig,
        clock: Clock | None = None,
        secrets_seen: Callable[[Iterable[str]], None] | None = None,
    ) -> None:
        self.config = config
        self.clock: Clock = clock or SystemClock()
        self.families = MetricFamilies(labelled=True)
        # Every password the members are given goes to the log's redaction before any line of theirs is written.
        self._secrets_seen = secrets_seen or (lambda secrets: None)
        self.members: dict[str, GroupMember] = {}
        self.recorders: dict[str, Recorder] = {}
        self._open: set[str] = set()
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._halts: dict[str, asyncio.Event] = {}
        self._source = (
            MembersSource(config.config_dir, config.shared)
            if config.config_dir is not None and config.shared is not None
            else None
        )
        for member in config.members:
            self._add(member)

    def _add(self, member: GroupMember) -> None:
        camera = member.camera
        self._secrets_seen(member_secrets((member,)))
        recorder = Recorder(member.config, self.clock, RecorderMetrics(self.families, camera), camera=camera)
        recorder.reserved_for_others = self._reserved_for_others_of(camera)
        recorder.writes = member.records
        self.members[camera] = member
        self.recorders[camera] = recorder

    def _reserved_for_others_of(self, camera: str) -> Callable[[], int]:
        def reserved() -> int:
            return sum(
                recorder.outstanding_bytes()
                for other, recorder in self.recorders.items()
                if other != camera and other in self._open
            )

        return reserved

    # -- steps ---------------------------------------------------------------------------------------------------

    def open_volumes(self) -> None:
        """Open every member's directory (a retained camera's only if it has recordings to keep).

        A directory locked by another recorder ends the process (VolumeLocked: two pods must never record into one
        chain); any other error leaves that member closed, and its task tries again.
        """
        for camera in self.members:
            try:
                self._open_member(camera)
            except VolumeLocked:
                raise
            except Exception:
                self.recorders[camera].log.exception("cannot open %s", self.members[camera].config.data_dir)

    def _open_member(self, camera: str) -> None:
        member = self.members[camera]
        if camera in self._open or not self._keeps_directory(member):
            return
        self.recorders[camera].open_volume()
        self._open.add(camera)

    def _close_member(self, camera: str) -> None:
        if camera in self._open:
            self.recorders[camera].close_volume()
            self._open.discard(camera)

    @staticmethod
    def _keeps_directory(member: GroupMember) -> bool:
        return member.records or (member.config.data_dir / MANIFEST_NAME).exists()

    def close_volumes(self) -> None:
        for camera in list(self._open):
            self._close_member(camera)

    def prune(self) -> dict[str, list[str]]:
        """Every open member prunes its own directory; what each deleted."""
        return {camera: self.recorders[camera].prune() for camera in sorted(self._open)}

    def chain_head(self, camera: str) -> http.ChainHead | None:
        if camera not in self._open:
            return None
        return self.recorders[camera].chain_head

    def chains(self, asked: Mapping[str, int]) -> dict[str, dict[str, object]]:
        """What `/chains` serves: each open member's `/chain/<camera>` body, with line `asked[camera]`'s hash."""
        return {camera: self.recorders[camera].chain_head(asked.get(camera)) for camera in sorted(self._open)}

    def readiness(self) -> tuple[bool, str]:
        """Ready while at least one `record` member records; the per-camera state is in /chain/<camera>."""
        recording = [camera for camera, member in self.members.items() if member.records]
        if not recording:
            return True, f"no camera to record; keeping the recordings of {len(self._open)}"
        ready = [camera for camera in recording if self.recorders[camera].readiness()[0]]
        if not ready:
            return False, f"not recording: none of {len(recording)} cameras records"
        idle = sorted(set(recording) - set(ready))
        suffix = f"; not recording: {', '.join(idle)}" if idle else ""
        return True, f"recording {len(ready)} of {len(recording)} cameras{suffix}"

    # -- live membership -----------------------------------------------------------------------------------------

    async def apply(self, members: tuple[GroupMember, ...]) -> MembershipChanges:
        """Change the running members to `members`, touching only the cameras whose settings changed."""
        new = {member.camera: member for member in members}
        changes = membership_changes(self.members, new)
        if not changes:
            return changes
        self._secrets_seen(member_secrets(members))  # before any line of a new or changed member
        await asyncio.gather(*(self._halt(camera) for camera in (*changes.stop, *changes.restart)))
        for camera in changes.stop:  # its directory stays as it is, whatever it holds
            del self.members[camera], self.recorders[camera]
        for camera in changes.enforce:
            with self._member_step(camera, "its new retention or hold not enforced; tried again at the next change"):
                config = new[camera].config
                self.recorders[camera].enforce_policy(config.retention_days, config.legal_hold)
                self.members[camera] = new[camera]
        for camera in (*changes.restart, *changes.start):
            with self._member_step(camera, "not started; tried again at the next change"):
                self._add(new[camera])
                self._launch(camera)
        said = (
            ", ".join(cameras) or "none" for cameras in (changes.start, changes.restart, changes.enforce, changes.stop)
        )
        log.info("members changed: started %s; restarted %s; policy changed %s; stopped %s (directories kept)", *said)
        return changes

    @contextlib.contextmanager
    def _member_step(self, camera: str, failed: str) -> Iterator[None]:
        """One member's part of a membership change: its failure (a disk error, say) is logged and stops neither
        the other members' parts nor the pod."""
        try:
            yield
        except Exception:
            logging.getLogger(f"{log.name}.{camera}").exception("%s", failed)

    async def _halt(self, camera: str) -> None:
        """Stop one member (its ffmpeg finishes and seals its segment) and release its directory's lock."""
        halt, task = self._halts.pop(camera, None), self._tasks.pop(camera, None)
        if halt is not None:
            halt.set()
        if task is not None:
            await task
        self._close_member(camera)

    def _launch(self, camera: str) -> None:
        if not self._keeps_directory(self.members[camera]):
            return  # a retained camera with nothing recorded here: nothing to keep or prune
        halt = asyncio.Event()
        self._halts[camera] = halt
        self._tasks[camera] = asyncio.create_task(self._member(camera, halt), name=f"member {camera}")

    async def _watch(self, stop: asyncio.Event) -> None:
        """Apply the mounted members whenever they change, until `stop` is set."""
        while not stop.is_set():
            await _sleep_unless(stop, MEMBERS_POLL_SECONDS)
            members = self._source.poll() if self._source is not None and not stop.is_set() else None
            if members is not None:
                await self.apply(members)

    # -- the process ---------------------------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        """Record every member until `stop` is set; on stop, each ffmpeg finishes and seals its segment."""
        if self._source is not None:
            for member in self._source.poll() or ():
                self._add(member)
        try:
            self.open_volumes()
            runner = await http.start(
                self.families,
                self.readiness,
                self.config.metrics_host,
                self.config.metrics_port,
                member_chain=self.chain_head,
                member_chains=self.chains,
            )
            try:
                for camera in list(self.members):
                    self._launch(camera)
                await self._watch(stop)
                await asyncio.gather(*(self._halt(camera) for camera in list(self._tasks)))
            finally:
                await runner.cleanup()
        finally:
            self.close_volumes()
        log.info("stopped; %d cameras", len(self.members))

    async def _member(self, camera: str, halt: asyncio.Event) -> None:
        recorder = self.recorders[camera]
        records = self.members[camera].records
        failures = 0
        while not halt.is_set():
            try:
                self._open_member(camera)
                await recorder.record(halt, with_ffmpeg=records)
            except Exception:  # one member's fault must not end the others' recording
                failures += 1
                delay = restart_delay(failures)
                recorder.log.exception("failed; starting over in %g s", delay)
                await recorder.halt()
                await _sleep_unless(halt, delay)
        recorder.log.info("stopped; chain head %s", recorder.manifest.head)
