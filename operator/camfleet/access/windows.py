"""R14: departments that hold a level only in a season or a declared period.

A recurring window is a range of calendar days, inclusive at both ends, judged on the city's local date
(see `city_time`); it wraps over the new year when its end comes before its start. Days compare as
(month, day) pairs, which settles 29 February without special cases: in a common year a season from
02-29 starts on 1 March and a season up to 02-29 ends on 28 February, and a season of 02-29 alone never
opens. An absolute window is a `Period`, start inclusive and end exclusive, independent of time zones.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import date, datetime, timedelta

from camfleet.access.city_time import DEFAULT_CALENDAR, CityCalendar, require_aware
from camfleet.api.access_tier import AccessTier, RecurringWindow, TierSubject, TimeWindow
from camfleet.api.common import Period

MonthDay = tuple[int, int]

# A 29 February boundary can be eight years from the next one (2096 to 2104), so this many years ahead
# holds every window's next boundary.
_YEARS_AHEAD = 9


def window_active(window: TimeWindow, at: datetime, calendar: CityCalendar = DEFAULT_CALENDAR) -> bool:
    require_aware(at)
    if window.absolute is not None:
        return _in_period(window.absolute, at)
    if window.recurring is not None:
        return in_season(window.recurring, calendar.local_date(at))
    return False  # the API requires one of the two; a window without either opens nothing


def subject_active(subject: TierSubject, at: datetime, calendar: CityCalendar = DEFAULT_CALENDAR) -> bool:
    """A subject holds the level while any of its windows is open; without windows, always."""
    return not subject.windows or any(window_active(window, at, calendar) for window in subject.windows)


def active_departments(tier: AccessTier, at: datetime, calendar: CityCalendar = DEFAULT_CALENDAR) -> list[str]:
    """Departments holding the tier's level at `at` (AccessTier `status.activeDepartments`)."""
    return sorted(subject.department for subject in tier.spec.subjects if subject_active(subject, at, calendar))


def subject_next_change(
    subject: TierSubject, after: datetime, calendar: CityCalendar = DEFAULT_CALENDAR
) -> datetime | None:
    """When the subject next starts or stops holding the level; None if it never does."""
    holds_now = subject_active(subject, after, calendar)
    for boundary in sorted(_boundaries(subject.windows, after, calendar)):
        # Windows may overlap, so a boundary of one window need not change whether the subject holds the level.
        if subject_active(subject, boundary, calendar) != holds_now:
            return boundary
    return None


def tier_next_transition(
    tier: AccessTier, after: datetime, calendar: CityCalendar = DEFAULT_CALENDAR
) -> datetime | None:
    """When the tier's set of active departments next changes (AccessTier `status.nextTransitionTime`)."""
    changes = [subject_next_change(subject, after, calendar) for subject in tier.spec.subjects]
    return min((change for change in changes if change is not None), default=None)


def in_season(window: RecurringWindow, day: date) -> bool:
    start, end, today = _month_day(window.start), _month_day(window.end), (day.month, day.day)
    if start <= end:
        return start <= today <= end
    return today >= start or today <= end


def _in_period(period: Period, at: datetime) -> bool:
    return period.start <= at < period.end


def _month_day(text: str) -> MonthDay:
    month, day = text.split("-")
    return int(month), int(day)


def _boundaries(windows: Iterable[TimeWindow], after: datetime, calendar: CityCalendar) -> Iterator[datetime]:
    """Every time after `after`, within the horizon, at which one of the windows may open or close."""
    for window in windows:
        if window.absolute is not None:
            yield from (t for t in (window.absolute.start, window.absolute.end) if t > after)
        elif window.recurring is not None:
            first_year = calendar.local_date(after).year
            for year in range(first_year, first_year + _YEARS_AHEAD + 1):
                for day in _season_edges(window.recurring, year):
                    boundary = calendar.start_of_day(day)
                    if boundary > after:
                        yield boundary


def _season_edges(window: RecurringWindow, year: int) -> tuple[date, date]:
    """The first day of the season in `year`, and the first day after its end in `year`."""
    return _first_day_on_or_after(_month_day(window.start), year), _first_day_after(_month_day(window.end), year)


def _first_day_on_or_after(month_day: MonthDay, year: int) -> date:
    try:
        return date(year, *month_day)
    except ValueError:  # 29 February in a common year
        return date(year, 3, 1)


def _first_day_after(month_day: MonthDay, year: int) -> date:
    try:
        return date(year, *month_day) + timedelta(days=1)
    except ValueError:  # 29 February in a common year: the last day up to it is 28 February
        return date(year, 3, 1)
