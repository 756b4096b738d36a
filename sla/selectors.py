"""Reads for SLA timers, policies and the notification centre."""

from django.contrib.auth import get_user_model
from django.db.models import QuerySet

from core import config
from sla.models import Notification, PriorityRule, SLAPolicy, SLATarget, SLATimer
from sla.timing import Calendar

NOTIFICATIONS_SHOWN = 20


def policy_default() -> SLAPolicy | None:
    return SLAPolicy.objects.filter(is_default=True, is_active=True).first()


def target_for(*, policy: SLAPolicy, priority: int) -> SLATarget | None:
    return SLATarget.objects.filter(policy=policy, priority=priority).first()


def default_target_for(*, priority: int) -> tuple[SLATarget, Calendar | None] | None:
    """The default policy's target for this priority (with its policy) and the
    policy's business calendar; cached, see core.config."""
    return config.cached("sla.default_targets", _default_targets_read).get(priority)


def _default_targets_read() -> dict[int, tuple[SLATarget, Calendar | None]]:
    targets = list(SLATarget.objects.select_related("policy").filter(policy__is_default=True, policy__is_active=True))
    calendar = targets[0].policy.calendar() if targets else None
    return {target.priority: (target, calendar) for target in targets}


def priority_rules() -> list[PriorityRule]:
    """The active priority rules in the order they are tried; cached, see core.config."""
    return config.cached(
        "sla.priority_rules", lambda: list(PriorityRule.objects.filter(is_active=True).order_by("position", "pk"))
    )


def timers_for(*, conversation_ids: list[int]) -> list[SLATimer]:
    return list(SLATimer.objects.filter(conversation_id__in=conversation_ids).order_by("conversation_id", "kind"))


def admins() -> QuerySet:
    """Who is told about breaches: every active staff user."""
    return get_user_model().objects.filter(is_staff=True, is_active=True)


def notifications_for(*, user, limit: int = NOTIFICATIONS_SHOWN) -> list[Notification]:
    return list(Notification.objects.filter(user=user).order_by("-created_at", "-pk")[:limit])


def notifications_unread_count(*, user) -> int:
    return Notification.objects.filter(user=user, read_at__isnull=True).count()
