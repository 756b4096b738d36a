"""The retention sweep, on a daily django-q2 schedule."""

from django.conf import settings
from django.utils import timezone

SCHEDULE_NAME = "privacy-retention"


def retention_sweep() -> int:
    """Delete what is past ``BATON_RETENTION_DAYS`` (0 keeps everything)."""
    from privacy import services

    return services.conversations_purge(now=timezone.now(), days=settings.BATON_RETENTION_DAYS)


def schedule_ensure(**kwargs) -> None:
    """The sweep's schedule (post_migrate: idempotent); it runs daily and does
    nothing while the retention is 0."""
    from django_q.models import Schedule

    Schedule.objects.update_or_create(
        name=SCHEDULE_NAME,
        defaults={"func": "privacy.tasks.retention_sweep", "schedule_type": Schedule.DAILY, "repeats": -1},
    )
