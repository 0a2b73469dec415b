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
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from camfleet.recorder_pod import http
from camfleet.recorder_pod.clock import Clock, SystemClock
from camfleet.recorder_pod.config import GroupConfig, GroupMember
from camfleet.recorder_pod.ffmpeg_restart import restart_delay
from camfleet.recorder_pod.metrics import MetricFamilies, RecorderMetrics
from camfleet.recorder_pod.storage import MANIFEST_NAME, VolumeLocked
from camfleet.recorder_pod.supervisor import Recorder, _sleep_unless

log = logging.getLogger("camfleet.recorder")


class GroupRecorder:
    def __init__(self, config: GroupConfig, clock: Clock | None = None) -> None:
        self.config = config
        self.clock: Clock = clock or SystemClock()
        self.families = MetricFamilies(labelled=True)
        self.members: dict[str, GroupMember] = {member.camera: member for member in config.members}
        self.recorders: dict[str, Recorder] = {
            member.camera: Recorder(
                member.config, self.clock, RecorderMetrics(self.families, member.camera), camera=member.camera
            )
            for member in config.members
        }
        self._open: set[str] = set()
        for camera, recorder in self.recorders.items():
            recorder.reserved_for_others = self._reserved_for_others_of(camera)
            recorder.writes = self.members[camera].records

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

    @staticmethod
    def _keeps_directory(member: GroupMember) -> bool:
        return member.records or (member.config.data_dir / MANIFEST_NAME).exists()

    def close_volumes(self) -> None:
        for camera in list(self._open):
            self.recorders[camera].close_volume()
            self._open.discard(camera)

    def prune(self) -> dict[str, list[str]]:
        """Every open member prunes its own directory; what each deleted."""
        return {camera: self.recorders[camera].prune() for camera in sorted(self._open)}

    def chain_head(self, camera: str) -> http.ChainHead | None:
        if camera not in self._open:
            return None
        return self.recorders[camera].chain_head

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

    # -- the process ---------------------------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        """Record every member until `stop` is set; on stop, each ffmpeg finishes and seals its segment."""
        try:
            self.open_volumes()
            runner = await http.start(
                self.families,
                self.readiness,
                self.config.metrics_host,
                self.config.metrics_port,
                member_chain=self.chain_head,
            )
            try:
                active = [camera for camera, member in self.members.items() if self._keeps_directory(member)]
                await asyncio.gather(*(self._member(camera, stop) for camera in active))
            finally:
                await runner.cleanup()
        finally:
            self.close_volumes()
        log.info("stopped; %d cameras", len(self.members))

    async def _member(self, camera: str, stop: asyncio.Event) -> None:
        recorder = self.recorders[camera]
        records = self.members[camera].records
        failures = 0
        while not stop.is_set():
            try:
                self._open_member(camera)
                await recorder.record(stop, with_ffmpeg=records)
            except Exception:  # one member's fault must not end the others' recording
                failures += 1
                delay = restart_delay(failures)
                recorder.log.exception("failed; starting over in %g s", delay)
                await recorder.halt()
                await _sleep_unless(stop, delay)
        recorder.log.info("stopped; chain head %s", recorder.manifest.head)
