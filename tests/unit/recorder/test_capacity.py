"""Capacity: alarm well before the volume fills; stop recording when it is full; never make room by deleting."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from camfleet.recorder_pod.capacity import Volume, assess, floor_bytes, write_rate
from camfleet.recorder_pod.retention import SECONDS_PER_DAY

MB = 1_000_000
RATE = 64_000.0  # bytes per second, about 512 kbit/s: 5.5 GB a day
DAY_BYTES = RATE * SECONDS_PER_DAY
FLOOR = 2 * 320_000


def test_rate_comes_from_segment_sizes_and_stream_durations() -> None:
    assert write_rate([(320_000, 5.0), (640_000, 10.0)]) == 64_000.0
    assert write_rate([]) is None
    assert write_rate([(100, 0.0)]) is None


def test_floor_is_two_segments_or_the_reserve() -> None:
    assert floor_bytes(reserve_bytes=1 * MB, largest_recent_segment=320_000) == 1 * MB
    assert floor_bytes(reserve_bytes=0, largest_recent_segment=320_000) == 640_000


def test_an_empty_volume_too_small_for_the_retention_alarms_on_day_one() -> None:
    volume = Volume(free_bytes=int(20 * DAY_BYTES), total_bytes=int(20 * DAY_BYTES), recorded_bytes=0)
    capacity = assess(volume, RATE, retention_days=30, floor=FLOOR, legal_hold=False, was_full=False)
    assert capacity.alarm
    assert not capacity.full
    assert capacity.projected_days is not None
    assert 19 < capacity.projected_days < 20


def test_a_volume_sized_for_retention_does_not_alarm_in_steady_state() -> None:
    """31 days of footage kept and 2 days free: nearly full, yet pruning keeps it going forever."""
    volume = Volume(free_bytes=int(2 * DAY_BYTES), total_bytes=int(33 * DAY_BYTES), recorded_bytes=int(31 * DAY_BYTES))
    capacity = assess(volume, RATE, retention_days=30, floor=FLOOR, legal_hold=False, was_full=False)
    assert not capacity.alarm
    assert capacity.reason == "ok"


def test_under_legal_hold_only_free_space_counts() -> None:
    volume = Volume(free_bytes=int(10 * DAY_BYTES), total_bytes=int(41 * DAY_BYTES), recorded_bytes=int(31 * DAY_BYTES))
    held = assess(volume, RATE, retention_days=30, floor=FLOOR, legal_hold=True, was_full=False)
    assert held.alarm
    assert held.projected_days is not None
    assert held.projected_days < 10


def test_below_the_floor_the_volume_is_full_and_alarms() -> None:
    volume = Volume(free_bytes=FLOOR - 1, total_bytes=100 * MB, recorded_bytes=90 * MB)
    capacity = assess(volume, RATE, retention_days=30, floor=FLOOR, legal_hold=False, was_full=False)
    assert capacity.full
    assert capacity.alarm
    assert "volume full" in capacity.reason


def test_recording_resumes_only_when_clearly_more_than_the_floor_is_free() -> None:
    just_above = Volume(free_bytes=FLOOR + 1, total_bytes=100 * MB, recorded_bytes=90 * MB)
    assert assess(just_above, RATE, 30, FLOOR, legal_hold=False, was_full=True).full
    assert not assess(just_above, RATE, 30, FLOOR, legal_hold=False, was_full=False).full
    roomy = Volume(free_bytes=2 * FLOOR, total_bytes=100 * MB, recorded_bytes=90 * MB)
    assert not assess(roomy, RATE, 30, FLOOR, legal_hold=False, was_full=True).full


def test_no_rate_yet_means_no_projection_and_no_alarm() -> None:
    volume = Volume(free_bytes=100 * MB, total_bytes=100 * MB, recorded_bytes=0)
    capacity = assess(volume, None, retention_days=30, floor=FLOOR, legal_hold=False, was_full=False)
    assert capacity.projected_days is None
    assert not capacity.alarm


@given(
    free=st.integers(min_value=0, max_value=10**13),
    recorded=st.integers(min_value=0, max_value=10**13),
    rate=st.floats(min_value=1, max_value=10**8),
    retention=st.floats(min_value=30, max_value=3650),
)
def test_the_alarm_fires_whenever_the_volume_cannot_hold_the_retention(
    free: int, recorded: int, rate: float, retention: float
) -> None:
    volume = Volume(free_bytes=free, total_bytes=free + recorded, recorded_bytes=recorded)
    capacity = assess(volume, rate, retention, FLOOR, legal_hold=False, was_full=False)
    holds_days = max(free + recorded - FLOOR, 0) / rate / SECONDS_PER_DAY
    assert capacity.alarm == (holds_days < retention or free < FLOOR)
    # full implies alarm: recording never stops silently
    assert capacity.alarm or not capacity.full
