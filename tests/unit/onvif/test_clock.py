"""Clock-offset arithmetic: a camera an hour off must be signed for with its own time."""

from __future__ import annotations

import datetime as dt

import pytest

from camfleet.onvif.clock import clock_reading, device_utc, is_synced

T0 = dt.datetime(2025, 3, 1, 12, 0, 0, tzinfo=dt.UTC)


def test_device_one_hour_ahead() -> None:
    sent, received = T0, T0 + dt.timedelta(milliseconds=200)
    device = device_utc(2025, 3, 1, 13, 0, 0)  # answered at local 12:00:00.100, reading 13:00:00.x
    reading = clock_reading(device, sent, received)
    # whole-second device resolution: the estimate lies within half a second of the truth
    assert abs(reading.offset - dt.timedelta(hours=1)) <= dt.timedelta(milliseconds=500)
    assert reading.drift_seconds == pytest.approx(3600, abs=0.5)
    assert reading.round_trip == dt.timedelta(milliseconds=200)


def test_device_behind_gives_negative_offset() -> None:
    reading = clock_reading(device_utc(2025, 3, 1, 11, 59, 0), T0, T0)
    assert reading.offset.total_seconds() == pytest.approx(-59.5)
    assert reading.drift_seconds == pytest.approx(59.5)


def test_offset_uses_the_midpoint_of_the_round_trip() -> None:
    slow = clock_reading(device_utc(2025, 3, 1, 12, 0, 5), T0, T0 + dt.timedelta(seconds=10))
    assert slow.offset.total_seconds() == pytest.approx(0.5)


def test_reversed_timestamps_are_rejected() -> None:
    with pytest.raises(ValueError, match="before"):
        clock_reading(T0, T0, T0 - dt.timedelta(seconds=1))


def test_synced_within_threshold_only() -> None:
    reading = clock_reading(device_utc(2025, 3, 1, 12, 0, 1), T0, T0)
    assert is_synced(reading, dt.timedelta(seconds=2))
    assert not is_synced(reading, dt.timedelta(seconds=1))
