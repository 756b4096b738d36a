"""Deadline arithmetic: pure functions of a start, a duration and a calendar.

With no calendar a target counts wall-clock time. With one it counts only the
calendar's weekly business hours in its time zone, skipping holidays: 2 business
hours asked at 17:00 on a Friday with 9-18 hours are due at 10:00 on Monday.
Durations inside an opening are real elapsed seconds (UTC arithmetic), so a DST
change inside business hours is counted as the clock on the wall says.
"""

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

AT_RISK_FRACTION = 0.8
# A calendar with a few open hours a year still ends; one with none is a config error.
_MAX_DAYS = 3 * 366


@dataclass(frozen=True)
class Calendar:
    tz: ZoneInfo
    # weekday (Monday = 0) → sorted (start, end) local times
    hours: dict[int, tuple[tuple[time, time], ...]]
    holidays: frozenset[date] = frozenset()


class NoBusinessHours(ValueError):
    """The calendar has no opening hours in which the time could be spent."""


def business_deadline(*, start: datetime, seconds: float, calendar: Calendar | None) -> datetime:
    """The moment ``seconds`` of (business) time have elapsed since ``start``."""
    if calendar is None:
        return start + timedelta(seconds=seconds)
    remaining = timedelta(seconds=seconds)
    day = start.astimezone(calendar.tz).date()
    for _ in range(_MAX_DAYS):
        if day not in calendar.holidays:
            for opens, closes in calendar.hours.get(day.weekday(), ()):
                window_start = datetime.combine(day, opens, tzinfo=calendar.tz).astimezone(UTC)
                window_end = datetime.combine(day, closes, tzinfo=calendar.tz).astimezone(UTC)
                begin = max(window_start, start)
                if window_end <= begin:
                    continue
                if remaining <= window_end - begin:
                    return begin + remaining
                remaining -= window_end - begin
        day += timedelta(days=1)
    raise NoBusinessHours("The SLA policy's business hours leave no time in which to count the target.")


def thresholds(*, start: datetime, seconds: int, calendar: Calendar | None) -> tuple[datetime, datetime]:
    """(at_risk_at, due_at): when 80 % of the target has elapsed, and the deadline."""
    return (
        business_deadline(start=start, seconds=seconds * AT_RISK_FRACTION, calendar=calendar),
        business_deadline(start=start, seconds=seconds, calendar=calendar),
    )
