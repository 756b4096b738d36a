import zoneinfo

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models

from conversations.models import Conversation


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


class HandoffQuestion(models.Model):
    """The question a low-confidence handoff left unanswered, normalised for grouping.

    Recorded when the handoff happens (see receivers), keyed by the conversation, so
    "questions that most often led to a handoff" is one indexed GROUP BY over the
    period instead of a message lookup per handed-off conversation.
    """

    conversation = models.OneToOneField(Conversation, on_delete=models.CASCADE, primary_key=True, related_name="+")
    text = models.CharField(max_length=200)
    handed_off_at = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["handed_off_at", "text"], name="analytics_question_time_idx")]

    def __str__(self):
        return self.text
