"""The city's clock and working days.

Seasons (R14, "flood control in typhoon season") and answer deadlines (R11, "within 3 working days")
are about the city's calendar days, not UTC days: at 07:00 on 1 June in Qingdao it is still 31 May in
UTC. Both are therefore judged on the local date in the city's time zone, Asia/Shanghai unless the
operator is configured otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo
from zoneinfo import ZoneInfo

DEFAULT_TIME_ZONE = ZoneInfo("Asia/Shanghai")

SATURDAY = 5


@dataclass(frozen=True)
class CityCalendar:
    """Time zone and working days of the city whose rules apply."""

    time_zone: tzinfo = DEFAULT_TIME_ZONE
    holidays: frozenset[date] = frozenset()
    """Public holidays: not working days, even on a weekday."""
    working_weekends: frozenset[date] = frozenset()
    """Weekend days that are working days: China moves working days onto weekends around long holidays."""

    def local_date(self, at: datetime) -> date:
        require_aware(at)
        return at.astimezone(self.time_zone).date()

    def start_of_day(self, day: date) -> datetime:
        return datetime.combine(day, time(), tzinfo=self.time_zone)

    def is_working_day(self, day: date) -> bool:
        if day in self.working_weekends:
            return True
        return day.weekday() < SATURDAY and day not in self.holidays


DEFAULT_CALENDAR = CityCalendar()


def require_aware(at: datetime) -> None:
    # A naive time would be read in the host's zone, which is how an expiry silently moves by 8 hours.
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"time {at.isoformat()} has no time zone; access decisions need an absolute time")


def working_days_after(start: date, n: int, calendar: CityCalendar = DEFAULT_CALENDAR) -> date:
    """The `n`-th working day after `start`.

    `start` itself never counts, as in Chinese administrative law (a period does not count the day on which it
    begins): a request made on a Friday and answered within 3 working days is due by the end of Wednesday.
    """
    if n < 0:
        raise ValueError("the number of working days cannot be negative")
    day = start
    counted = 0
    while counted < n:
        day += timedelta(days=1)
        if calendar.is_working_day(day):
            counted += 1
    return day
