import zoneinfo
from datetime import UTC, date, datetime

import pytest

from analytics.periods import period_resolve, user_time_zone
from analytics.services import preference_set

BERLIN = zoneinfo.ZoneInfo("Europe/Berlin")
NOW = datetime(2026, 3, 29, 22, 30, tzinfo=UTC)  # already 30 March in Berlin, after the DST change


def test_today_is_the_local_day_of_now():
    p = period_resolve(preset="today", tz=BERLIN, now=NOW)
    assert (p.first_day, p.last_day) == (date(2026, 3, 30), date(2026, 3, 30))
    assert p.start == datetime(2026, 3, 29, 22, 0, tzinfo=UTC)
    assert p.end == datetime(2026, 3, 30, 22, 0, tzinfo=UTC)


def test_seven_days_include_today_and_span_a_daylight_saving_change():
    p = period_resolve(preset="7d", tz=BERLIN, now=NOW)
    assert p.days[0] == date(2026, 3, 24) and p.days[-1] == date(2026, 3, 30) and len(p.days) == 7
    # Starts at CET midnight, ends at CEST midnight: 6 days and 23 hours.
    assert p.start == datetime(2026, 3, 23, 23, 0, tzinfo=UTC)
    assert (p.end - p.start).total_seconds() == 7 * 86400 - 3600


def test_thirty_days():
    p = period_resolve(preset="30d", tz=zoneinfo.ZoneInfo("UTC"), now=NOW)
    assert (p.first_day, p.last_day, len(p.days)) == (date(2026, 2, 28), date(2026, 3, 29), 30)


@pytest.mark.django_db
def test_time_zone_is_the_users_own_else_the_sites(agent, settings):
    settings.TIME_ZONE = "UTC"
    assert str(user_time_zone(agent)) == "UTC"
    preference_set(user=agent, time_zone="Europe/Berlin")
    agent.refresh_from_db()
    assert str(user_time_zone(agent)) == "Europe/Berlin"
