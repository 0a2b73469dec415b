"""The recorder process: supervise ffmpeg, seal finished segments into the manifest, prune, watch capacity.

Everything that decides lives in the pure modules (retention, capacity, backoff, readiness); this module only
wires them to ffmpeg, the volume, the clock and the metrics. Each step (`open_volume`, `adopt_unlisted`, `prune`,
`refresh_capacity`) can also be driven one at a time, which is how tests move the clock.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from camfleet.recorder_pod import ffmpeg, http
from camfleet.recorder_pod.capacity import Capacity, Volume, assess, capacity_change, floor_bytes, write_rate
from camfleet.recorder_pod.clock import Clock, SystemClock
from camfleet.recorder_pod.config import RecorderConfig
from camfleet.recorder_pod.ffmpeg_restart import restart_delay
from camfleet.recorder_pod.manifest import Manifest, Policy, Segment, to_timestamp
from camfleet.recorder_pod.metrics import RecorderMetrics
from camfleet.recorder_pod.redact import redact
from camfleet.recorder_pod.retention import expired_segments
from camfleet.recorder_pod.storage import (
    MANIFEST_NAME,
    file_digest,
    fsync_path,
    lock_volume,
    segment_files,
    segment_number,
    segments_dir,
    volume_space,
)

# The process is "the recorder" to whoever reads its container log: its logger keeps that name.
log = logging.getLogger("camfleet.recorder")
ffmpeg_log = logging.getLogger("camfleet.recorder.ffmpeg")

RATE_WINDOW_SEGMENTS = 120  # the write rate is measured over this many recent segments
FULL_POLL_SECONDS = 5.0  # while full, how often to look whether space came back
STOP_GRACE_SECONDS = 15.0  # ffmpeg gets this long to finish the segment it is writing
CLOSE_WAIT_SECONDS = 10.0  # how long ffmpeg may take to close a segment after listing it
CLOSE_POLL_SECONDS = 0.05


@dataclass(frozen=True)
class FfmpegRun:
    segments: int
    exited_on_its_own: bool
    returncode: int | None


def _seal(path: Path) -> tuple[int, str]:
    fsync_path(path)
    return file_digest(path)


async def _sleep_unless(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=seconds)


class Recorder:
    """One camera's pipeline: its ffmpeg, its directory (segments, manifest, lock), its pruning and capacity.

    A single-camera recorder runs one with `run` (which also serves HTTP); a group recorder (group.py) runs one per
    member with `record`, each under its camera's name in the log and the metrics.
    """

    def __init__(
        self,
        config: RecorderConfig,
        clock: Clock | None = None,
        metrics: RecorderMetrics | None = None,
        camera: str | None = None,
    ):
        self.config = config
        self.camera = camera
        # A group member logs under its camera's name, so its lines can be told apart in the one container log.
        self.log = logging.getLogger(f"camfleet.recorder.{camera}") if camera else log
        self.ffmpeg_log = logging.getLogger(f"camfleet.recorder.{camera}.ffmpeg") if camera else ffmpeg_log
        # What the other cameras on a shared volume still need (bytes); set by the group, 0 for a volume of one.
        self.reserved_for_others: Callable[[], int] = lambda: 0
        # False for a group's retained camera: it writes nothing more, so it has no rate to project capacity from.
        self.writes = True
        self.clock: Clock = clock or SystemClock()
        self.metrics = metrics or RecorderMetrics()
        self.segments = segments_dir(config.data_dir)
        self.manifest = Manifest(config.data_dir / MANIFEST_NAME, [])  # replaced by open_volume()
        self._secrets = [config.password.get_secret_value()] if config.password else []
        self._recent: deque[tuple[int, float]] = deque(maxlen=RATE_WINDOW_SEGMENTS)
        self._capacity: Capacity | None = None
        self._process: asyncio.subprocess.Process | None = None
        self._last_segment_at: float | None = None
        self._space_low = asyncio.Event()
        self._lock_fd: int | None = None
        self.metrics.retention.set(config.retention_seconds)
        self.metrics.legal_hold.set(1 if config.legal_hold else 0)

    # -- steps ---------------------------------------------------------------------------------------------------

    def open_volume(self) -> None:
        """Lock the volume, load the manifest, and finish deletions a crash interrupted."""
        self.segments.mkdir(parents=True, exist_ok=True)
        self._lock_fd = lock_volume(self.config.data_dir)
        self.manifest = Manifest.open(self.config.data_dir)
        # Every line from here on records the retention and hold this recorder enforces; a change is a line too.
        if self.manifest.enforce(Policy(self.config.retention_days, self.config.legal_hold), self.clock.now()):
            self.log.warning(
                "policy now retention %g days, legal hold %s (recorded in the chain)",
                self.config.retention_days,
                self.config.legal_hold,
            )
        for name in self.manifest.pruned_names():
            # The prune line is written before the file is removed, so these were already past retention.
            (self.segments / name).unlink(missing_ok=True)
        self._recent.extend(
            (segment.size, segment.end - segment.start)
            for segment in self.manifest.live_segments()[-RATE_WINDOW_SEGMENTS:]
            if segment.end > segment.start
        )
        live = self.manifest.live_segments()
        self.log.info("volume %s: %d segments kept, chain head %s", self.config.data_dir, len(live), self.manifest.head)

    def enforce_policy(self, retention_days: float, legal_hold: bool) -> None:
        """A new retention or legal hold while recording (a group member's, read from the mounted members): from
        now on pruning follows it, and an open volume's chain records the change; ffmpeg is not touched."""
        self.config = replace(self.config, retention_days=retention_days, legal_hold=legal_hold)
        self.metrics.retention.set(self.config.retention_seconds)
        self.metrics.legal_hold.set(1 if legal_hold else 0)
        if self._lock_fd is not None and self.manifest.enforce(Policy(retention_days, legal_hold), self.clock.now()):
            self.log.warning("policy now retention %g days, legal hold %s (recorded in the chain)", retention_days,
                             legal_hold)  # fmt: skip

    def close_volume(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    def adopt_unlisted(self) -> list[str]:
        """Record segment files a crash left out of the manifest, so they are protected and later pruned.

        Called only while ffmpeg is stopped, so no file is still being written. Their true times are unknown;
        the end is taken as now, which can only make them kept longer, never shorter.
        """
        adopted = []
        for name in segment_files(self.config.data_dir):
            if self.manifest.knows(name):
                continue
            size, sha256 = _seal(self.segments / name)
            now = self.clock.now()
            self.manifest.record_segment(name, size, sha256, start=now, end=now, recovered=True, written=now)
            self.log.warning(
                "adopted %s (%d bytes) left unrecorded by a crash; chain head %s", name, size, self.manifest.head
            )
            adopted.append(name)
        return adopted

    def prune(self) -> list[str]:
        """Delete the segments whose retention has passed; nothing else, ever."""
        now = self.clock.now()
        retention = self.config.retention_seconds
        expired = expired_segments(self.manifest.live_segments(), now, retention, self.config.legal_hold)
        for segment in expired:
            self.manifest.record_prune(segment.name, pruned_at=now, retention_seconds=retention)
            (self.segments / segment.name).unlink(missing_ok=True)
            self.log.info(
                "pruned %s (ended %s, retention %g days passed)",
                segment.name,
                to_timestamp(segment.end),
                self.config.retention_days,
            )
        return [segment.name for segment in expired]

    def refresh_capacity(self) -> Capacity:
        free, total = volume_space(self.config.data_dir)
        live = self.manifest.live_segments()
        largest = max((size for size, _ in self._recent), default=0)
        previous = self._capacity
        capacity = assess(
            Volume(free_bytes=free, total_bytes=total, recorded_bytes=sum(segment.size for segment in live)),
            write_rate(self._recent) if self.writes else None,
            self.config.retention_days,
            floor_bytes(self.config.reserve_bytes, largest),
            self.config.legal_hold,
            was_full=bool(previous and previous.full),
            reserved_bytes=self.reserved_for_others(),
        )
        change = capacity_change(previous, capacity, free)
        if change is not None:
            self.log.log(*change)
        self._capacity = capacity
        self._publish(capacity, free, live)
        return capacity

    def _publish(self, capacity: Capacity, free: int, live: list[Segment]) -> None:
        now = self.clock.now()
        self.metrics.free_bytes.set(free)
        projected = capacity.projected_days
        self.metrics.projected_capacity_days.set(projected if projected is not None else float("nan"))
        self.metrics.capacity_alarm.set(1 if capacity.alarm else 0)
        self.metrics.volume_full.set(1 if capacity.full else 0)
        self.metrics.segments.set(len(live))
        self.metrics.oldest_segment_age.set(max(now - min(segment.end for segment in live), 0.0) if live else 0.0)

    def outstanding_bytes(self) -> int:
        """Bytes this camera will still add to the volume to hold one full retention at its observed rate.

        Without a legal hold its recorded bytes are part of that retention (pruning returns them), so only the rest
        is outstanding; under a hold nothing is returned, so a whole further retention period is.
        """
        rate = write_rate(self._recent) if self.writes else None
        if not rate:
            return 0
        need = rate * self.config.retention_seconds
        if self.config.legal_hold:
            return int(need)
        recorded = sum(segment.size for segment in self.manifest.live_segments())
        return max(int(need) - recorded, 0)

    @property
    def recording(self) -> bool:
        return self._process is not None and self._process.returncode is None

    def chain_head(self, seq: int | None = None) -> dict[str, object]:
        """What `/chain` serves: the head line and the policy in force (and line `seq`'s hash when asked)."""
        head = self.manifest.head_line()
        at = {"at": {"seq": seq, "head": self.manifest.chain_at(seq)}} if seq is not None else {}
        return {
            **at,
            "seq": head.seq,
            "head": head.chain,
            "written": head.written,
            "retentionDays": self.config.retention_days,
            "legalHold": self.config.legal_hold,
            "recording": self.recording,
        }

    def readiness(self) -> tuple[bool, str]:
        stopped = self._capacity.reason if self._capacity and self._capacity.full else ""
        running = self._process is not None and self._process.returncode is None
        return http.readiness(running, self._last_segment_at, self.clock.now(), self.config.segment_seconds, stopped)

    # -- the process ---------------------------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        """Record until `stop` is set; on stop, ffmpeg finishes and seals the segment it is writing."""
        self.open_volume()
        try:
            runner = await http.start(
                self.metrics, self.readiness, self.config.metrics_host, self.config.metrics_port, self.chain_head
            )
            try:
                await self.record(stop)
            finally:
                await runner.cleanup()
        finally:
            self.close_volume()
        self.log.info("stopped; chain head %s", self.manifest.head)

    async def record(self, stop: asyncio.Event, *, with_ffmpeg: bool = True) -> None:
        """Housekeeping (pruning, capacity) and, unless `with_ffmpeg` is false, recording, until `stop` is set.

        The volume must be open. A camera that only keeps its recordings (a group's `retain` member) runs the
        housekeeping alone.
        """
        housekeeping = asyncio.create_task(self._housekeeping(stop))
        try:
            if with_ffmpeg:
                await self._supervise(stop)
            else:
                await stop.wait()
        finally:
            housekeeping.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await housekeeping

    async def _housekeeping(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                self.prune()
                if self.refresh_capacity().full:
                    self._space_low.set()
            except OSError as error:
                self.log.error("housekeeping failed: %s", error)
            await _sleep_unless(stop, self.config.housekeeping_seconds)

    async def _supervise(self, stop: asyncio.Event) -> None:
        failures = 0
        while not stop.is_set():
            if self.refresh_capacity().full:
                await _sleep_unless(stop, FULL_POLL_SECONDS)
                continue
            self.adopt_unlisted()
            run = await self._run_ffmpeg(stop)
            if stop.is_set() or not run.exited_on_its_own:
                continue
            failures = 0 if run.segments else failures + 1
            delay = restart_delay(failures)
            self.log.warning(
                "ffmpeg exited (code %s) after %d segments; restarting in %g s", run.returncode, run.segments, delay
            )
            await _sleep_unless(stop, delay)
            if not stop.is_set():
                self.metrics.ffmpeg_restarts.inc()

    def _next_segment_number(self) -> int:
        numbers = [segment_number(name) or 0 for name in self.manifest.recorded_names()]
        numbers += [segment_number(name) or 0 for name in segment_files(self.config.data_dir)]
        return max(numbers, default=0) + 1

    async def _run_ffmpeg(self, stop: asyncio.Event) -> FfmpegRun:
        config = self.config
        password = config.password.get_secret_value() if config.password else None
        # The authenticated URL reaches ffmpeg through a pipe, never its argv (see ffmpeg.stream_source).
        source = ffmpeg.stream_source(
            config.stream_url, config.username, password, config.rtsp_timeout_seconds, config.credentials_host
        )
        argv = ffmpeg.command(
            config.ffmpeg, source.args, self.segments, config.segment_seconds, self._next_segment_number()
        )
        self._space_low.clear()
        process = await ffmpeg.spawn(argv, source, read_stdout=True)
        if process is None:
            return FfmpegRun(0, True, None)
        if not source.authenticated and config.password:
            self.log.warning(
                "stream host differs from the camera's (%s): credentials withheld", config.credentials_host
            )
        self._process = process
        self.metrics.recording.set(1)
        self.log.info("ffmpeg started (pid %d): %s", process.pid, redact(" ".join(argv), self._secrets))
        assert process.stdout is not None
        assert process.stderr is not None
        relay = asyncio.create_task(self._relay_log(process.stderr))
        follow = asyncio.create_task(self._follow_segment_list(process.stdout, process.pid))
        exited = asyncio.create_task(process.wait())
        stopping = asyncio.create_task(stop.wait())
        low = asyncio.create_task(self._space_low.wait())
        await asyncio.wait({exited, stopping, low}, return_when=asyncio.FIRST_COMPLETED)
        requested = not exited.done()
        stopping.cancel()
        low.cancel()
        if requested:
            await self._stop_ffmpeg(process)
        segments = await follow
        await relay
        self._process = None
        self.metrics.recording.set(0)
        return FfmpegRun(segments, not requested, process.returncode)

    async def halt(self) -> None:
        """Stop the ffmpeg a failed run may have left running: a second one must never write into this directory."""
        process = self._process
        if process is not None and process.returncode is None:
            await self._stop_ffmpeg(process)
        self._process = None
        self.metrics.recording.set(0)

    async def _stop_ffmpeg(self, process: asyncio.subprocess.Process) -> None:
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signal.SIGINT)  # ffmpeg finishes the current segment and lists it
        try:
            await asyncio.wait_for(process.wait(), timeout=STOP_GRACE_SECONDS)
        except TimeoutError:
            self.log.warning("ffmpeg did not stop within %g s; killing it", STOP_GRACE_SECONDS)
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            await process.wait()

    async def _follow_segment_list(self, stdout: asyncio.StreamReader, pid: int) -> int:
        count = 0
        while line := await _readline(stdout):
            finished = ffmpeg.parse_segment_list_line(line)
            if finished is None:
                continue
            try:
                await self._seal_segment(finished, pid)
                count += 1
            except OSError as error:
                self.log.error("could not record %s (%s); it is adopted when ffmpeg next starts", finished.name, error)
        return count

    async def _seal_segment(self, finished: ffmpeg.FinishedSegment, pid: int) -> None:
        observed = self.clock.now()
        path = self.segments / finished.name
        for _ in range(int(CLOSE_WAIT_SECONDS / CLOSE_POLL_SECONDS)):
            if not ffmpeg.holds_open(pid, path):
                break
            await asyncio.sleep(CLOSE_POLL_SECONDS)
        size, sha256 = await asyncio.to_thread(_seal, path)
        self.manifest.record_segment(
            finished.name,
            size,
            sha256,
            start=observed - finished.duration,
            end=observed,
            recovered=False,
            written=self.clock.now(),
        )
        self._recent.append((size, finished.duration))
        self._last_segment_at = observed
        self.metrics.bytes_written.inc(size)
        self.log.info(
            "segment %s: %d bytes, %.1f s, sha256 %s, chain head %s",
            finished.name,
            size,
            finished.duration,
            sha256,
            self.manifest.head,
        )
        if self.refresh_capacity().full:
            self._space_low.set()

    async def _relay_log(self, stderr: asyncio.StreamReader) -> None:
        while line := await _readline(stderr):
            for part in line.split("\r"):
                if part.strip():
                    self.ffmpeg_log.info("%s", redact(part.rstrip(), self._secrets))


async def _readline(stream: asyncio.StreamReader) -> str:
    """The next line ("" at end of stream); an overlong line is cut rather than ending the stream."""
    while True:
        try:
            return (await stream.readline()).decode("utf-8", errors="replace")
        except ValueError:
            continue  # longer than the limit: the reader dropped it; read on
