"""R14 windows: yearly seasons (inclusive, wrapping over the new year, 29 February) and absolute periods."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from camfleet.access import CityCalendar, active_departments, subject_next_change, tier_next_transition, window_active
from camfleet.access.windows import in_season
from camfleet.api.access_tier import RecurringWindow, TierSubject, TimeWindow
from tests.unit.access.builders import CITY, tier


def recurring(start: str, end: str) -> TimeWindow:
    return TimeWindow.model_validate({"recurring": {"start": start, "end": end}})


def absolute(start: str, end: str) -> TimeWindow:
    return TimeWindow.model_validate({"absolute": {"start": start, "end": end}})


def local(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=CITY)


FLOOD = recurring("06-01", "09-30")
WINTER = recurring("11-15", "03-15")


@pytest.mark.parametrize(
    ("window", "at", "active"),
    [
        (FLOOD, local(2030, 5, 31, 23, 59), False),
        (FLOOD, local(2030, 6, 1, 0, 0), True),
        (FLOOD, local(2030, 9, 30, 23, 59), True),
        (FLOOD, local(2030, 10, 1, 0, 0), False),
        (WINTER, local(2030, 11, 14, 23, 59), False),
        (WINTER, local(2030, 11, 15, 0, 0), True),
        (WINTER, local(2030, 12, 31, 12, 0), True),
        (WINTER, local(2031, 1, 1, 0, 0), True),
        (WINTER, local(2031, 3, 15, 23, 59), True),
        (WINTER, local(2031, 3, 16, 0, 0), False),
        (WINTER, local(2031, 7, 1, 0, 0), False),
    ],
)
def test_recurring_windows_are_inclusive_and_wrap_over_the_new_year(
    window: TimeWindow, at: datetime, active: bool
) -> None:
    assert window_active(window, at) is active


def test_seasons_are_judged_on_the_city_date_not_the_utc_date() -> None:
    # 07:00 on 1 June in the city is still 31 May in UTC.
    at = datetime(2030, 5, 31, 23, 0, tzinfo=UTC)
    assert window_active(FLOOD, at)
    assert not window_active(FLOOD, at, CityCalendar(time_zone=UTC))


@pytest.mark.parametrize(
    ("start", "end", "day", "active"),
    [
        # a season up to 02-29 ends on 28 February in a common year, on 29 February in a leap year
        ("02-01", "02-29", date(2031, 2, 28), True),
        ("02-01", "02-29", date(2031, 3, 1), False),
        ("02-01", "02-29", date(2032, 2, 29), True),
        ("02-01", "02-29", date(2032, 3, 1), False),
        # a season from 02-29 starts on 1 March in a common year
        ("02-29", "03-10", date(2031, 2, 28), False),
        ("02-29", "03-10", date(2031, 3, 1), True),
        ("02-29", "03-10", date(2032, 2, 28), False),
        ("02-29", "03-10", date(2032, 2, 29), True),
        # a season of 29 February alone opens only in leap years
        ("02-29", "02-29", date(2031, 2, 28), False),
        ("02-29", "02-29", date(2031, 3, 1), False),
        ("02-29", "02-29", date(2032, 2, 29), True),
        # wrapping through 29 February
        ("12-01", "02-29", date(2031, 2, 28), True),
        ("12-01", "02-29", date(2031, 3, 1), False),
        ("12-01", "02-29", date(2032, 2, 29), True),
        # one day
        ("07-01", "07-01", date(2030, 7, 1), True),
        ("07-01", "07-01", date(2030, 7, 2), False),
    ],
)
def test_29_february(start: str, end: str, day: date, active: bool) -> None:
    assert in_season(RecurringWindow(start=start, end=end), day) is active


def test_absolute_periods_include_the_start_and_exclude_the_end() -> None:
    window = absolute("2030-10-01T00:00:00+08:00", "2030-10-08T00:00:00+08:00")
    assert not window_active(window, local(2030, 9, 30, 23, 59, 59))
    assert window_active(window, local(2030, 10, 1))
    assert window_active(window, datetime(2030, 10, 7, 15, 59, 59, tzinfo=UTC))
    assert not window_active(window, local(2030, 10, 8))


def test_a_naive_time_is_refused() -> None:
    with pytest.raises(ValueError, match="time zone"):
        window_active(FLOOD, datetime(2030, 7, 1))


def subject(*windows: TimeWindow) -> TierSubject:
    return TierSubject(department="water-authority", windows=list(windows))


def test_a_subject_without_windows_always_holds_its_level() -> None:
    assert subject_next_change(subject(), local(2030, 1, 1)) is None
    flood_tier = tier(2, {"department": "water-authority", "windows": [FLOOD.to_api()]}, "transport")
    assert active_departments(flood_tier, local(2030, 1, 1)) == ["transport"]
    assert active_departments(flood_tier, local(2030, 7, 1)) == ["transport", "water-authority"]


@pytest.mark.parametrize(
    ("windows", "after", "change"),
    [
        ([FLOOD], local(2030, 1, 1), local(2030, 6, 1)),
        ([FLOOD], local(2030, 7, 1), local(2030, 10, 1)),
        ([FLOOD], local(2030, 10, 1), local(2031, 6, 1)),
        ([WINTER], local(2030, 12, 24), local(2031, 3, 16)),
        # the declared emergency right after the season keeps the level until 8 October
        (
            [FLOOD, absolute("2030-10-01T00:00:00+08:00", "2030-10-08T00:00:00+08:00")],
            local(2030, 7, 1),
            local(2030, 10, 8),
        ),
        ([absolute("2030-10-01T00:00:00+08:00", "2030-10-08T00:00:00+08:00")], local(2030, 10, 9), None),
        ([recurring("02-29", "02-29")], local(2097, 1, 1), local(2104, 2, 29)),
        ([recurring("01-01", "12-31")], local(2030, 5, 5), None),
    ],
)
def test_next_change(windows: list[TimeWindow], after: datetime, change: datetime | None) -> None:
    assert subject_next_change(subject(*windows), after) == change


def test_a_tier_transition_is_the_first_change_of_any_subject() -> None:
    seasonal = tier(
        3,
        {"department": "urban-management", "windows": [WINTER.to_api()]},
        {"department": "water-authority", "windows": [FLOOD.to_api()]},
    )
    assert tier_next_transition(seasonal, local(2030, 8, 1)) == local(2030, 10, 1)
    assert tier_next_transition(tier(1, "public-security"), local(2030, 8, 1)) is None


# Independent judge of seasons: walk the days of each yearly instance of the season.
def season_days(start: str, end: str, year: int) -> set[date]:
    def first_on_or_after(month_day: str, y: int) -> date:
        month, day = map(int, month_day.split("-"))
        probe = date(y, month, 1)
        while (probe.month, probe.day) < (month, day):
            probe += timedelta(days=1)
        return probe

    def last_on_or_before(month_day: str, y: int) -> date:
        month, day = map(int, month_day.split("-"))
        probe = date(y, month, 1)
        last = probe - timedelta(days=1)
        while probe.month == month and probe.day <= day:
            last, probe = probe, probe + timedelta(days=1)
        return last

    days: set[date] = set()
    for first_year in (year - 1, year):
        wraps = (int(end[:2]), int(end[3:])) < (int(start[:2]), int(start[3:]))
        begin = first_on_or_after(start, first_year)
        finish = last_on_or_before(end, first_year + 1 if wraps else first_year)
        while begin <= finish:
            days.add(begin)
            begin += timedelta(days=1)
    return days


month_days = st.dates(date(2000, 1, 1), date(2000, 12, 31)).map(lambda d: d.strftime("%m-%d"))


@given(month_days, month_days, st.dates(date(2001, 1, 1), date(2099, 12, 31)))
def test_seasons_agree_with_walking_the_calendar(start: str, end: str, day: date) -> None:
    assert in_season(RecurringWindow(start=start, end=end), day) == (day in season_days(start, end, day.year))


windows_strategy = st.one_of(
    st.builds(recurring, month_days, month_days),
    st.builds(
        lambda start, hours: absolute(start.isoformat(), (start + timedelta(hours=hours)).isoformat()),
        st.datetimes(datetime(2029, 1, 1), datetime(2032, 1, 1), timezones=st.just(CITY)),
        st.integers(1, 24 * 400),
    ),
)


@given(
    st.lists(windows_strategy, min_size=1, max_size=3),
    st.datetimes(datetime(2029, 1, 1), datetime(2032, 1, 1), timezones=st.just(CITY)),
    st.floats(0, 1, exclude_max=True),
)
def test_nothing_changes_before_the_next_change(windows: list[TimeWindow], after: datetime, fraction: float) -> None:
    holder = subject(*windows)
    holds = any(window_active(w, after) for w in windows)
    change = subject_next_change(holder, after)
    if change is None:
        return
    assert change > after
    just_before = change - timedelta(microseconds=1)
    for probe in (min(after + (change - after) * fraction, just_before), just_before):
        assert any(window_active(w, probe) for w in windows) == holds
    assert any(window_active(w, change) for w in windows) != holds
