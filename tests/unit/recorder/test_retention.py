"""Retention: a segment is deletable only once its END is older than the retention, and never under legal hold."""

from __future__ import annotations

from dataclasses import dataclass

from hypothesis import given
from hypothesis import strategies as st

from camfleet.recorder_pod.retention import SECONDS_PER_DAY, expired_segments, is_expired

NOW = 1_800_000_000.0
RETENTION = 30 * SECONDS_PER_DAY


@dataclass(frozen=True)
class Seg:
    name: str
    end: float


ends = st.floats(min_value=NOW - 400 * SECONDS_PER_DAY, max_value=NOW + SECONDS_PER_DAY, allow_nan=False)
segment_lists = st.lists(ends, max_size=60).map(lambda values: [Seg(f"s{i}", end) for i, end in enumerate(values)])
retentions = st.floats(min_value=30 * SECONDS_PER_DAY, max_value=3650 * SECONDS_PER_DAY, allow_nan=False)


@given(segment_lists, retentions)
def test_nothing_inside_retention_is_ever_selected(segments: list[Seg], retention: float) -> None:
    selected = expired_segments(segments, NOW, retention, legal_hold=False)
    inside_retention = [segment for segment in segments if NOW - segment.end <= retention]
    assert not [segment for segment in inside_retention if segment in selected]


@given(segment_lists, retentions)
def test_everything_selected_is_expired(segments: list[Seg], retention: float) -> None:
    selected = expired_segments(segments, NOW, retention, legal_hold=False)
    assert all(NOW - segment.end > retention for segment in selected)


@given(segment_lists, retentions)
def test_exactly_the_expired_segments_are_selected(segments: list[Seg], retention: float) -> None:
    selected = expired_segments(segments, NOW, retention, legal_hold=False)
    assert selected == [segment for segment in segments if segment.end < NOW - retention]


@given(segment_lists, retentions)
def test_selection_is_idempotent(segments: list[Seg], retention: float) -> None:
    selected = expired_segments(segments, NOW, retention, legal_hold=False)
    remaining = [segment for segment in segments if segment not in selected]
    assert expired_segments(remaining, NOW, retention, legal_hold=False) == []
    assert expired_segments(selected, NOW, retention, legal_hold=False) == selected


@given(segment_lists, retentions)
def test_legal_hold_selects_nothing(segments: list[Seg], retention: float) -> None:
    assert expired_segments(segments, NOW + 10_000 * SECONDS_PER_DAY, retention, legal_hold=True) == []


@given(segment_lists, retentions, st.floats(min_value=0, max_value=100 * SECONDS_PER_DAY))
def test_moving_time_forward_never_brings_a_segment_back(segments: list[Seg], retention: float, later: float) -> None:
    before = expired_segments(segments, NOW, retention, legal_hold=False)
    after = expired_segments(segments, NOW + later, retention, legal_hold=False)
    assert set(before) <= set(after)


def test_retention_runs_from_the_end_of_the_segment_not_its_start() -> None:
    # A segment that started 31 days ago but ended 29 days ago still holds footage inside retention.
    assert not is_expired(end=NOW - 29 * SECONDS_PER_DAY, now=NOW, retention_seconds=RETENTION)


def test_the_exact_instant_retention_ends_is_still_kept() -> None:
    assert not is_expired(end=NOW - RETENTION, now=NOW, retention_seconds=RETENTION)
    assert is_expired(end=NOW - RETENTION - 0.001, now=NOW, retention_seconds=RETENTION)
