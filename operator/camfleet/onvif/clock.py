"""Clock-offset arithmetic (pure).

Cameras sign nothing with their clock, but they check the `Created` time of a WS-UsernameToken against
it; a camera one hour off rejects every naive client. We read its clock unauthenticated and sign with
local time plus the offset computed here.
"""

from __future__ import annotations

import datetime as dt

from camfleet.onvif.models import ClockReading

# Devices report whole seconds and truncate; the true instant lies anywhere in that second, so its
# midpoint is the least biased estimate.
_HALF_SECOND = dt.timedelta(milliseconds=500)


def device_utc(year: int, month: int, day: int, hour: int, minute: int, second: int) -> dt.datetime:
    """Build an aware UTC datetime from the fields of an ONVIF tt:DateTime."""
    return dt.datetime(year, month, day, hour, minute, second, tzinfo=dt.UTC)


def clock_reading(device_time: dt.datetime, sent_at: dt.datetime, received_at: dt.datetime) -> ClockReading:
    """Offset of the device clock, assuming it answered halfway through the round trip.

    All three datetimes must be timezone-aware.
    """
    if received_at < sent_at:
        raise ValueError("received_at is before sent_at")
    round_trip = received_at - sent_at
    local_midpoint = sent_at + round_trip / 2
    offset = (device_time + _HALF_SECOND) - local_midpoint
    return ClockReading(device_utc=device_time, offset=offset, round_trip=round_trip)


def is_synced(reading: ClockReading, threshold: dt.timedelta) -> bool:
    """True when the device clock is within `threshold` of ours."""
    return abs(reading.offset) <= threshold
