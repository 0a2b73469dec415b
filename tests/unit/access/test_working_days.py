"""R11 deadlines: 3 working days, weekends and a configurable holiday calendar skipped."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from camfleet.access import CityCalendar, approval_due, working_days_after
from tests.unit.access.builders import CITY

# China 2030: Labour Day holidays 1-5 May (Wednesday to Sunday), with Sunday 28 April worked instead.
LABOUR_DAY = CityCalendar(
    holidays=frozenset(date(2030, 5, day) for day in range(1, 6)),
    working_weekends=frozenset({date(2030, 4, 28)}),
)


@pytest.mark.parametrize(
    ("start", "n", "calendar", "expected"),
    [
        (date(2030, 4, 22), 3, CityCalendar(), date(2030, 4, 25)),  # Monday -> Thursday
        (date(2030, 4, 26), 3, CityCalendar(), date(2030, 5, 1)),  # Friday -> Wednesday
        (date(2030, 4, 27), 3, CityCalendar(), date(2030, 5, 1)),  # Saturday -> Wednesday
        (date(2030, 4, 26), 0, CityCalendar(), date(2030, 4, 26)),
        # Friday: the worked Sunday 28 April, Monday 29, Tuesday 30
        (date(2030, 4, 26), 3, LABOUR_DAY, date(2030, 4, 30)),
        # Tuesday 30 April: the holidays and the weekend after them are skipped -> 6, 7, 8 May
        (date(2030, 4, 30), 3, LABOUR_DAY, date(2030, 5, 8)),
        (date(2030, 5, 2), 1, LABOUR_DAY, date(2030, 5, 6)),
    ],
)
def test_working_days_after(start: date, n: int, calendar: CityCalendar, expected: date) -> None:
    assert working_days_after(start, n, calendar) == expected


def test_a_negative_count_is_refused() -> None:
    with pytest.raises(ValueError, match="negative"):
        working_days_after(date(2030, 1, 1), -1)


def test_the_answer_is_due_at_the_end_of_the_third_working_day_in_city_time() -> None:
    # Requested on Friday 26 April 2030 at 17:30 city time: due at the end of Wednesday 1 May.
    assert approval_due(datetime(2030, 4, 26, 17, 30, tzinfo=CITY)) == datetime(2030, 5, 2, tzinfo=CITY)
    assert approval_due(datetime(2030, 4, 26, 17, 30, tzinfo=CITY), LABOUR_DAY) == datetime(2030, 5, 1, tzinfo=CITY)


holiday_sets = st.frozensets(st.dates(date(2030, 1, 1), date(2031, 12, 31)), max_size=60)


@given(st.dates(date(2030, 1, 1), date(2030, 12, 31)), st.integers(0, 20), holiday_sets, holiday_sets)
def test_exactly_n_working_days_are_counted(
    start: date, n: int, holidays: frozenset[date], worked: frozenset[date]
) -> None:
    calendar = CityCalendar(holidays=holidays, working_weekends=frozenset(d for d in worked if d.weekday() >= 5))
    end = working_days_after(start, n, calendar)

    def working(day: date) -> bool:
        weekend = day.weekday() >= 5
        return (day in calendar.working_weekends) if weekend else day not in holidays

    days = [start + timedelta(days=i) for i in range(1, (end - start).days + 1)]
    assert sum(working(day) for day in days) == n
    assert n == 0 or working(end)
