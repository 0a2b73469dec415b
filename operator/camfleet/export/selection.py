"""Which recorded segments a footage export takes, and which parts of the requested time has no footage.

Pure: works on the entries of a verified hash chain and on time ranges, all times as epoch seconds.

Every interval is half-open, [start, end). A segment is taken when it shares any instant with a requested
range, so a segment that ends exactly when a range starts is not taken, and neither is one that starts exactly
when it ends. A zero-length segment (the recorder adopted a file after a crash and did not know its times) is
taken when its instant lies inside a range.

A gap is a stretch of a requested range that no taken segment covers. The recorder times a segment by when
ffmpeg reports it finished, so consecutive segments are separated by a few milliseconds of jitter; stretches
shorter than the tolerance are not gaps, and the tolerance is written into the export manifest so a reader
knows what "no gap" means. A gap says why when it can: a pruned segment covered part of it (its retention
passed and the recorder deleted it) or nothing was recorded then.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from camfleet.recorder_pod.manifest import PRUNE, SEGMENT, Segment, segment_from_line

DEFAULT_GAP_TOLERANCE_SECONDS = 1.0
GAP_PRUNED = "pruned"
GAP_NOT_RECORDED = "not recorded"


@dataclass(frozen=True, order=True)
class TimeRange:
    start: float
    end: float

    def __post_init__(self) -> None:
        if not self.start < self.end:
            raise ValueError("a time range must start before it ends")


ChainSegment = Segment
"""A segment as the hash chain records it (the recorder's own type: one reading of a manifest line)."""


@dataclass(frozen=True)
class ChainState:
    """Everything the chain holds up to one head: its segments in chain order and the names it pruned."""

    segments: tuple[ChainSegment, ...]
    pruned: frozenset[str]


@dataclass(frozen=True)
class Gap:
    start: float
    end: float
    reason: str


@dataclass(frozen=True)
class Selection:
    segments: tuple[ChainSegment, ...]  # to copy, oldest first
    pruned: tuple[ChainSegment, ...]  # would have been taken but their retention passed and they are gone
    gaps: tuple[Gap, ...]

    @property
    def total_bytes(self) -> int:
        return sum(segment.size for segment in self.segments)


def chain_state(lines: Iterable[Mapping[str, Any]]) -> ChainState:
    """The segments and prunes of already verified manifest lines."""
    segments: list[ChainSegment] = []
    pruned: set[str] = set()
    for line in lines:
        if line["kind"] == SEGMENT:
            segments.append(segment_from_line(line))
        elif line["kind"] == PRUNE:
            pruned.add(str(line["name"]))
    return ChainState(tuple(segments), frozenset(pruned))


def merge_ranges(ranges: Iterable[TimeRange]) -> list[TimeRange]:
    """Sorted, with overlapping or touching ranges joined, so a segment in two ranges is copied once."""
    merged: list[TimeRange] = []
    for current in sorted(ranges):
        if merged and current.start <= merged[-1].end:
            merged[-1] = TimeRange(merged[-1].start, max(merged[-1].end, current.end))
        else:
            merged.append(current)
    return merged


def overlaps(segment: ChainSegment, time_range: TimeRange) -> bool:
    if segment.start == segment.end:
        return time_range.start <= segment.start < time_range.end
    return segment.start < time_range.end and segment.end > time_range.start


def select(
    state: ChainState, ranges: Sequence[TimeRange], gap_tolerance: float = DEFAULT_GAP_TOLERANCE_SECONDS
) -> Selection:
    merged = merge_ranges(ranges)

    def wanted(segment: ChainSegment) -> bool:
        return any(overlaps(segment, time_range) for time_range in merged)

    def by_time(segment: ChainSegment) -> tuple[float, int]:
        return segment.start, segment.seq

    taken = sorted((s for s in state.segments if s.name not in state.pruned and wanted(s)), key=by_time)
    gone = sorted((s for s in state.segments if s.name in state.pruned and wanted(s)), key=by_time)
    gaps = [gap for time_range in merged for gap in _gaps(time_range, taken, gone, gap_tolerance)]
    return Selection(tuple(taken), tuple(gone), tuple(gaps))


def _gaps(
    time_range: TimeRange, taken: Sequence[ChainSegment], gone: Sequence[ChainSegment], tolerance: float
) -> list[Gap]:
    uncovered: list[tuple[float, float]] = []
    cursor = time_range.start
    for segment in taken:  # sorted by start
        if segment.end <= segment.start:
            continue  # a recovered segment of unknown times covers no time; it must not split a gap in two
        if segment.start > cursor:
            uncovered.append((cursor, min(segment.start, time_range.end)))
        cursor = max(cursor, segment.end)
        if cursor >= time_range.end:
            break
    if cursor < time_range.end:
        uncovered.append((cursor, time_range.end))
    gaps = []
    for start, end in uncovered:
        if end - start < tolerance:
            continue
        was_pruned = any(s.start < end and s.end > start for s in gone)
        gaps.append(Gap(start, end, GAP_PRUNED if was_pruned else GAP_NOT_RECORDED))
    return gaps
