import zoneinfo

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models


def validate_time_zone(value: str) -> None:
    if value not in zoneinfo.available_timezones():
        raise ValidationError(f"{value!r} is not an IANA time zone (e.g. Europe/Berlin).", code="time_zone")


class Preference(models.Model):
    """An admin's own reporting settings; days and presets start at midnight in this zone."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="analytics_preference")
    time_zone = models.CharField(max_length=64, validators=[validate_time_zone], help_text="E.g. Europe/Berlin.")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "reporting preference"

    def __str__(self):
        return f"{self.user} ({self.time_zone})"


class Dashboard(models.Model):
    """No table: gives the dashboard an entry on the admin index."""

    class Meta:
        managed = False
        verbose_name = "dashboard"
        verbose_name_plural = "dashboard"
        default_permissions = ()

    def __str__(self):
        return "Dashboard"


class BreachReport(models.Model):
    """No table: gives the breach list an entry on the admin index."""

    class Meta:
        managed = False
        verbose_name = "breach report"
        verbose_name_plural = "breach report"
        default_permissions = ()

    def __str__(self):
        return "Breach report"
