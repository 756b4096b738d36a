"""Reads for SLA timers, policies and the notification centre."""

from django.contrib.auth import get_user_model
from django.db.models import QuerySet

from sla.models import Notification, SLAPolicy, SLATarget, SLATimer

NOTIFICATIONS_SHOWN = 20


def policy_default() -> SLAPolicy | None:
    return SLAPolicy.objects.filter(is_default=True, is_active=True).first()


def target_for(*, policy: SLAPolicy, priority: int) -> SLATarget | None:
    return SLATarget.objects.filter(policy=policy, priority=priority).first()


def timers_for(*, conversation_ids: list[int]) -> list[SLATimer]:
    return list(SLATimer.objects.filter(conversation_id__in=conversation_ids).order_by("conversation_id", "kind"))


def admins() -> QuerySet:
    """Who is told about breaches: every active staff user."""
    return get_user_model().objects.filter(is_staff=True, is_active=True)


def notifications_for(*, user, limit: int = NOTIFICATIONS_SHOWN) -> list[Notification]:
    return list(Notification.objects.filter(user=user).order_by("-created_at", "-pk")[:limit])


def notifications_unread_count(*, user) -> int:
    return Notification.objects.filter(user=user, read_at__isnull=True).count()
