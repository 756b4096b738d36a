"""Deadlines in wall-clock and in business time: pure functions, no database."""

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from sla.timing import Calendar, NoBusinessHours, business_deadline, thresholds

BERLIN = ZoneInfo("Europe/Berlin")
WEEKDAYS_9_TO_17 = {day: ((time(9), time(17)),) for day in range(5)}


def _berlin(*args) -> datetime:
    return datetime(*args, tzinfo=BERLIN)


def test_without_a_calendar_the_deadline_is_wall_clock():
    start = datetime(2026, 3, 7, 23, 0, tzinfo=UTC)  # a Saturday night
    assert business_deadline(start=start, seconds=3600, calendar=None) == start + timedelta(hours=1)


def test_at_risk_is_80_percent_of_the_target():
    start = datetime(2026, 3, 4, 10, 0, tzinfo=UTC)
    at_risk, due = thresholds(start=start, seconds=300, calendar=None)
    assert at_risk == start + timedelta(seconds=240)
    assert due == start + timedelta(seconds=300)


def test_business_time_skips_the_weekend():
    calendar = Calendar(tz=BERLIN, hours=WEEKDAYS_9_TO_17)
    # Friday 16:00 + 2 business hours: 1 h on Friday, 1 h from Monday 09:00.
    due = business_deadline(start=_berlin(2026, 3, 6, 16, 0), seconds=7200, calendar=calendar)
    assert due == _berlin(2026, 3, 9, 10, 0)


def test_business_time_skips_a_holiday_after_the_weekend():
    calendar = Calendar(tz=BERLIN, hours=WEEKDAYS_9_TO_17, holidays=frozenset({date(2026, 3, 9)}))
    due = business_deadline(start=_berlin(2026, 3, 6, 16, 0), seconds=7200, calendar=calendar)
    assert due == _berlin(2026, 3, 10, 10, 0)


def test_a_start_outside_hours_counts_from_the_next_opening():
    calendar = Calendar(tz=BERLIN, hours=WEEKDAYS_9_TO_17)
    at_risk, due = thresholds(start=_berlin(2026, 3, 7, 12, 0), seconds=3600, calendar=calendar)  # Saturday
    assert at_risk == _berlin(2026, 3, 9, 9, 48)
    assert due == _berlin(2026, 3, 9, 10, 0)


def test_split_days_and_the_policy_time_zone():
    calendar = Calendar(tz=BERLIN, hours={2: ((time(9), time(12)), (time(13), time(17)))})
    # Wednesday 11:30 Berlin (10:30 UTC) + 1 h: 30 min before lunch, 30 min after.
    due = business_deadline(start=datetime(2026, 3, 4, 10, 30, tzinfo=UTC), seconds=3600, calendar=calendar)
    assert due == _berlin(2026, 3, 4, 13, 30)
    assert due.astimezone(UTC) == datetime(2026, 3, 4, 12, 30, tzinfo=UTC)


def test_a_target_longer_than_a_day_spans_days_exactly():
    calendar = Calendar(tz=BERLIN, hours=WEEKDAYS_9_TO_17)
    # 24 business hours from Monday 09:00 = three 8 h days: Wednesday 17:00.
    assert business_deadline(start=_berlin(2026, 3, 2, 9, 0), seconds=24 * 3600, calendar=calendar) == _berlin(
        2026, 3, 4, 17, 0
    )


def test_a_calendar_without_hours_is_an_error_not_a_hang():
    with pytest.raises(NoBusinessHours):
        business_deadline(start=_berlin(2026, 3, 2, 9, 0), seconds=60, calendar=Calendar(tz=BERLIN, hours={}))
