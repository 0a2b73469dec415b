"""Which segments an export takes and which parts of the requested time it reports as gaps."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from camfleet.export.selection import (
    GAP_NOT_RECORDED,
    GAP_PRUNED,
    ChainSegment,
    ChainState,
    Gap,
    TimeRange,
    chain_state,
    merge_ranges,
    select,
)

T0 = 1_767_225_600.0  # 2026-01-01T00:00:00Z


def seg(seq: int, start: float, end: float, recovered: bool = False) -> ChainSegment:
    return ChainSegment(seq, f"seg-{seq:09d}.ts", 100 * seq, f"{seq:064x}", T0 + start, T0 + end, recovered)


def span(start: float, end: float) -> TimeRange:
    return TimeRange(T0 + start, T0 + end)


def names(segments: tuple[ChainSegment, ...]) -> list[str]:
    return [segment.name for segment in segments]


# Six 10-second segments from 0 to 60 s.
CONTIGUOUS = ChainState(tuple(seg(n, 10 * (n - 1), 10 * n) for n in range(1, 7)), frozenset())


def test_a_range_inside_one_segment_takes_that_segment() -> None:
    chosen = select(CONTIGUOUS, [span(12, 18)])
    assert names(chosen.segments) == ["seg-000000002.ts"]
    assert chosen.gaps == ()


def test_partly_covered_segments_at_both_ends_are_taken() -> None:
    chosen = select(CONTIGUOUS, [span(15, 35)])
    assert names(chosen.segments) == ["seg-000000002.ts", "seg-000000003.ts", "seg-000000004.ts"]


def test_a_segment_ending_exactly_when_the_range_starts_is_not_taken() -> None:
    assert names(select(CONTIGUOUS, [span(20, 30)]).segments) == ["seg-000000003.ts"]


def test_a_segment_starting_exactly_when_the_range_ends_is_not_taken() -> None:
    assert names(select(CONTIGUOUS, [span(0, 10)]).segments) == ["seg-000000001.ts"]


def test_total_bytes_is_the_sum_of_the_taken_segments() -> None:
    assert select(CONTIGUOUS, [span(0, 30)]).total_bytes == 100 + 200 + 300


def test_overlapping_ranges_take_each_segment_once() -> None:
    chosen = select(CONTIGUOUS, [span(25, 45), span(5, 32)])
    assert names(chosen.segments) == [f"seg-{n:09d}.ts" for n in (1, 2, 3, 4, 5)]
    assert chosen.gaps == ()


def test_ranges_are_merged_when_they_overlap_or_touch() -> None:
    assert merge_ranges([span(20, 30), span(0, 10), span(10, 15), span(40, 50)]) == [
        span(0, 15),
        span(20, 30),
        span(40, 50),
    ]


def test_a_hole_in_the_recording_is_a_gap_not_recorded() -> None:
    state = ChainState((seg(1, 0, 10), seg(2, 10, 20), seg(4, 40, 50)), frozenset())
    chosen = select(state, [span(5, 45)])
    assert names(chosen.segments) == ["seg-000000001.ts", "seg-000000002.ts", "seg-000000004.ts"]
    assert chosen.gaps == (Gap(T0 + 20, T0 + 40, GAP_NOT_RECORDED),)


def test_time_before_the_first_and_after_the_last_segment_are_gaps() -> None:
    chosen = select(CONTIGUOUS, [span(-30, 5), span(55, 90)])
    assert chosen.gaps == (Gap(T0 - 30, T0, GAP_NOT_RECORDED), Gap(T0 + 60, T0 + 90, GAP_NOT_RECORDED))


def test_a_range_without_any_footage_is_one_gap() -> None:
    chosen = select(CONTIGUOUS, [span(100, 200)])
    assert chosen.segments == ()
    assert chosen.gaps == (Gap(T0 + 100, T0 + 200, GAP_NOT_RECORDED),)


def test_pruned_segments_are_not_taken_and_their_time_is_a_pruned_gap() -> None:
    state = ChainState(CONTIGUOUS.segments, frozenset({"seg-000000001.ts", "seg-000000002.ts"}))
    chosen = select(state, [span(5, 35)])
    assert names(chosen.segments) == ["seg-000000003.ts", "seg-000000004.ts"]
    assert names(chosen.pruned) == ["seg-000000001.ts", "seg-000000002.ts"]
    assert chosen.gaps == (Gap(T0 + 5, T0 + 20, GAP_PRUNED),)


def test_pruned_segments_outside_the_range_are_not_listed() -> None:
    state = ChainState(CONTIGUOUS.segments, frozenset({"seg-000000001.ts"}))
    assert select(state, [span(30, 40)]).pruned == ()


def test_timing_jitter_under_the_tolerance_is_not_a_gap() -> None:
    # The recorder times segments by when ffmpeg reports them: consecutive ones are milliseconds apart.
    state = ChainState((seg(1, 0, 9.98), seg(2, 10.01, 20), seg(3, 20.5, 30)), frozenset())
    assert select(state, [span(0, 30)], gap_tolerance=1.0).gaps == ()
    strict = select(state, [span(0, 30)], gap_tolerance=0.0).gaps
    assert [(round(g.start - T0, 2), round(g.end - T0, 2)) for g in strict] == [(9.98, 10.01), (20.0, 20.5)]


def test_a_gap_as_long_as_the_tolerance_is_reported() -> None:
    state = ChainState((seg(1, 0, 10), seg(2, 11, 20)), frozenset())
    assert select(state, [span(0, 20)], gap_tolerance=1.0).gaps == (Gap(T0 + 10, T0 + 11, GAP_NOT_RECORDED),)


def test_a_recovered_segment_without_duration_is_taken_when_its_instant_is_in_range() -> None:
    state = ChainState((seg(1, 0, 10), seg(2, 15, 15, recovered=True)), frozenset())
    assert names(select(state, [span(12, 20)]).segments) == ["seg-000000002.ts"]
    assert names(select(state, [span(15, 20)]).segments) == ["seg-000000002.ts"]
    assert names(select(state, [span(10, 15)]).segments) == []
    # It covers no time: where it lies, the gap stays.
    assert select(state, [span(12, 20)]).gaps == (Gap(T0 + 12, T0 + 20, GAP_NOT_RECORDED),)


def test_segments_come_out_in_time_order_whatever_the_chain_order() -> None:
    state = ChainState((seg(2, 10, 20), seg(1, 0, 10)), frozenset())
    assert names(select(state, [span(0, 20)]).segments) == ["seg-000000001.ts", "seg-000000002.ts"]


def test_a_range_must_start_before_it_ends() -> None:
    with pytest.raises(ValueError, match="start before it ends"):
        TimeRange(T0, T0)


def test_chain_state_reads_segments_prunes_and_recovered_flags() -> None:
    lines = [
        {"seq": 1, "kind": "segment", "name": "seg-000000001.ts", "size": 5, "sha256": "a" * 64,
         "start": "2026-01-01T00:00:00.000000Z", "end": "2026-01-01T00:00:10.000000Z"},
        {"seq": 2, "kind": "segment", "name": "seg-000000002.ts", "size": 6, "sha256": "b" * 64,
         "start": "2026-01-01T00:01:00.000000Z", "end": "2026-01-01T00:01:00.000000Z", "recovered": True},
        {"seq": 3, "kind": "prune", "name": "seg-000000001.ts"},
    ]  # fmt: skip
    state = chain_state(lines)
    assert state.pruned == frozenset({"seg-000000001.ts"})
    first, second = state.segments
    assert (first.seq, first.size, first.start, first.end, first.recovered) == (1, 5, T0, T0 + 10, False)
    assert (second.name, second.recovered, second.start) == ("seg-000000002.ts", True, T0 + 60)


# Segments as (start, length) on a small grid, so that edges coincide often.
_segments = st.lists(st.tuples(st.integers(0, 40), st.integers(0, 8), st.booleans()), max_size=12)
_ranges = st.lists(st.tuples(st.integers(0, 45), st.integers(1, 20)), min_size=1, max_size=4)


@given(_segments, _ranges)
def test_taken_footage_and_gaps_exactly_cover_the_requested_time(
    raw_segments: list[tuple[int, int, bool]], raw_ranges: list[tuple[int, int]]
) -> None:
    segments = tuple(seg(n, start, start + length) for n, (start, length, _) in enumerate(raw_segments, start=1))
    pruned = frozenset(s.name for s, (_, _, gone) in zip(segments, raw_segments, strict=True) if gone)
    ranges = [span(start, start + length) for start, length in raw_ranges]
    chosen = select(ChainState(segments, pruned), ranges, gap_tolerance=0.0)
    merged = merge_ranges(ranges)

    def in_range(s: ChainSegment) -> bool:
        return any((r.start <= s.start < r.end) if s.start == s.end else (s.start < r.end and s.end > r.start)
                   for r in merged)  # fmt: skip

    assert set(chosen.segments) == {s for s in segments if s.name not in pruned and in_range(s)}
    assert set(chosen.pruned) == {s for s in segments if s.name in pruned and in_range(s)}
    # On a one-second grid: every second of every range is either covered by a taken segment or in a gap.
    for r in merged:
        for second in range(int(r.start - T0), int(r.end - T0)):
            moment = T0 + second + 0.5
            covered = any(s.start <= moment < s.end for s in chosen.segments)
            in_gap = any(g.start <= moment < g.end for g in chosen.gaps)
            assert covered != in_gap, f"second {second}: covered={covered}, in a gap={in_gap}"
    # Gaps are maximal: two never touch (one stretch without footage is reported once).
    for before, after in zip(chosen.gaps, chosen.gaps[1:], strict=False):
        assert before.end < after.start
