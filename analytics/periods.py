"""Reporting periods: whole days in the admin's time zone, stored and compared in UTC."""

import zoneinfo
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo

from django.conf import settings

PRESETS = {"today": "Today", "7d": "Last 7 days", "30d": "Last 30 days", "custom": "Custom"}
PRESET_DAYS = {"today": 1, "7d": 7, "30d": 30}
MAX_DAYS = 366


@dataclass(frozen=True)
class Period:
    preset: str
    first_day: date
    last_day: date  # inclusive
    tz: tzinfo

    @property
    def start(self) -> datetime:
        return local_midnight(self.first_day, self.tz)

    @property
    def end(self) -> datetime:
        """Exclusive: midnight after the last day."""
        return local_midnight(self.last_day + timedelta(days=1), self.tz)

    @property
    def days(self) -> list[date]:
        return [self.first_day + timedelta(days=i) for i in range((self.last_day - self.first_day).days + 1)]

    @property
    def label(self) -> str:
        if self.first_day == self.last_day:
            return self.first_day.isoformat()
        return f"{self.first_day.isoformat()} to {self.last_day.isoformat()}"


def local_midnight(day: date, tz: tzinfo) -> datetime:
    """In UTC: arithmetic between two local times of one zone ignores DST changes."""
    return datetime.combine(day, time(), tzinfo=tz).astimezone(UTC)


def period_resolve(
    *, preset: str, tz: tzinfo, now: datetime, first_day: date | None = None, last_day: date | None = None
) -> Period:
    """The period a preset names on ``now``'s local date (today included), or the
    custom days given. Callers validate custom days (see forms)."""
    if preset == "custom":
        return Period(preset, first_day, last_day, tz)
    today = now.astimezone(tz).date()
    return Period(preset, today - timedelta(days=PRESET_DAYS[preset] - 1), today, tz)


def user_time_zone(user) -> zoneinfo.ZoneInfo:
    """The user's reporting time zone, else the site's."""
    preference = getattr(user, "analytics_preference", None) if user.is_authenticated else None
    try:
        return zoneinfo.ZoneInfo(preference.time_zone if preference else settings.TIME_ZONE)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return zoneinfo.ZoneInfo(settings.TIME_ZONE)
