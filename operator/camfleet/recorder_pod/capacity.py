"""Will the volume hold a full retention period, and is it full now? Pure arithmetic, no I/O.

Popular recorders (Frigate among them) delete the oldest footage when the disk fills. camfleet must not (R3):
segments inside retention are never deleted to make room. Instead the recorder

- raises an alarm as soon as the volume cannot hold a full retention period at the observed write rate, which on
  an undersized volume is days or weeks before it fills, and
- stops recording when free space drops below a floor (at least two segments' worth, so the segment being
  written can always be finished), resuming only once clearly more than the floor is free again.

"Projected days" is the number of days of footage the volume can hold at the observed rate: the space already
holding recordings plus the free space above the floor. Pruning returns old segments' space, so in steady state a
volume sized for retention keeps projecting at least the retention even when it looks nearly full. Under a legal
hold nothing is ever pruned, so only the free space above the floor counts.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass

from camfleet.recorder_pod.retention import SECONDS_PER_DAY

# Resume only when this many floors are free, so one pruned segment does not make recording flap on and off.
RESUME_FLOORS = 2


@dataclass(frozen=True)
class Volume:
    free_bytes: int
    total_bytes: int
    recorded_bytes: int  # bytes of the segments still on the volume


@dataclass(frozen=True)
class Capacity:
    projected_days: float | None  # None until a write rate has been observed
    alarm: bool
    full: bool
    floor_bytes: int
    reason: str


def write_rate(recent_segments: Iterable[tuple[int, float]]) -> float | None:
    """Bytes per second over recent (size, duration seconds) pairs; durations come from the stream, not the clock."""
    total_bytes = 0
    total_seconds = 0.0
    for size, duration in recent_segments:
        total_bytes += size
        total_seconds += max(duration, 0.0)
    if total_seconds <= 0:
        return None
    return total_bytes / total_seconds


def floor_bytes(reserve_bytes: int, largest_recent_segment: int) -> int:
    """Free space below which recording stops: two segments' worth, or the configured reserve if larger."""
    return max(reserve_bytes, 2 * largest_recent_segment)


def assess(
    volume: Volume,
    rate_bytes_per_second: float | None,
    retention_days: float,
    floor: int,
    legal_hold: bool,
    was_full: bool,
    reserved_bytes: int = 0,
) -> Capacity:
    """`reserved_bytes`: on a volume shared by several cameras (a recorder group), what the others still need to
    hold their own retention; the free space is theirs too, so this camera's projection leaves it out."""
    threshold = floor * RESUME_FLOORS if was_full else floor
    full = volume.free_bytes < threshold
    usable = volume.free_bytes - floor if legal_hold else volume.free_bytes + volume.recorded_bytes - floor
    usable -= reserved_bytes
    projected = None
    if rate_bytes_per_second:
        projected = max(usable, 0) / rate_bytes_per_second / SECONDS_PER_DAY
    short = projected is not None and projected < retention_days
    if full:
        reason = f"volume full: {volume.free_bytes} bytes free, recording needs {threshold}"
    elif short:
        reason = f"volume holds {projected:.1f} days of footage at the current rate, retention is {retention_days:g}"
    else:
        reason = "ok"
    return Capacity(projected_days=projected, alarm=full or short, full=full, floor_bytes=floor, reason=reason)


def capacity_change(previous: Capacity | None, current: Capacity, free_bytes: int) -> tuple[int, str] | None:
    """The log line (level, message) a change of capacity deserves: recording stopped or resumed, alarm raised
    or cleared; None when nothing changed that an operator must hear of."""
    was_full, was_alarm = bool(previous and previous.full), bool(previous and previous.alarm)
    if current.full and not was_full:
        return logging.ERROR, f"recording stopped: {current.reason}; nothing inside retention is deleted to make room"
    if was_full and not current.full:
        return logging.WARNING, f"space is back ({free_bytes} bytes free); recording resumes"
    if current.alarm and not was_alarm:
        return logging.WARNING, f"capacity alarm: {current.reason}"
    if was_alarm and not current.alarm:
        return logging.INFO, "capacity alarm cleared: the volume holds the retention at the current rate"
    return None
