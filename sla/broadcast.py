"""Live events of the SLA app, sent on commit through the agents' inbox socket.

``sla.changed`` goes to the ``inbox`` group with every timer that changed in one
transaction (a sweep sends one event, not one per timer); ``notification.new``
goes to each recipient's ``agent.<id>`` group. Browsers compute countdowns and
badge flips from ``at_risk_at``/``due_at`` themselves; these events confirm them.
"""

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import Count

from conversations.broadcast import INBOX_GROUP, agent_group, send_many_on_commit, send_on_commit
from sla.models import Notification, SLATimer


def _iso(value):
    return value.isoformat() if value else None


def timer_payload(timer: SLATimer) -> dict:
    return {
        "id": timer.pk,
        "conversation": timer.conversation_id,
        "kind": timer.kind,
        "state": timer.state,
        "priority": timer.priority,
        "target_seconds": timer.target_seconds,
        "started_at": _iso(timer.started_at),
        "at_risk_at": _iso(timer.at_risk_at),
        "due_at": _iso(timer.due_at),
        "stopped_at": _iso(timer.stopped_at),
        "breached_at": _iso(timer.breached_at),
    }


def notification_payload(notification: Notification) -> dict:
    return {
        "id": notification.pk,
        "kind": notification.kind,
        "title": notification.title,
        "body": notification.body,
        "url": notification.url,
        "conversation": notification.conversation_id,
        "created_at": _iso(notification.created_at),
        "read_at": _iso(notification.read_at),
    }


def notify_timers(timers: list[SLATimer]) -> None:
    if timers:
        send_on_commit([INBOX_GROUP], {"type": "sla.changed", "timers": [timer_payload(t) for t in timers]})


def notify_notifications(notifications: list[Notification]) -> None:
    """Push new notifications to their users, with each user's unread count, on commit."""
    if not notifications:
        return
    by_user: dict[int, list[dict]] = {}
    for n in notifications:
        by_user.setdefault(n.user_id, []).append(notification_payload(n))
    unread = dict(
        Notification.objects.filter(user_id__in=by_user, read_at__isnull=True)
        .values("user_id")
        .annotate(n=Count("pk"))
        .values_list("user_id", "n")
    )
    send_many_on_commit(
        [
            ([agent_group(user_id)], {"type": "notification.new", "notifications": items, "unread": unread[user_id]})
            for user_id, items in by_user.items()
        ]
    )


def notify_read(*, user_id: int, unread: int) -> None:
    """Other tabs of the same user drop their badge too."""
    send_on_commit([agent_group(user_id)], {"type": "notification.read", "unread": unread})


def email_breaches_on_commit(*, lines: list[str], recipients: list[str]) -> None:
    """One e-mail per sweep to the admins, not one per breach (a catch-up finds many)."""
    if not (settings.BATON_SLA_BREACH_EMAIL and lines and recipients):
        return
    subject = f"[Baton] {len(lines)} SLA breach{'es' if len(lines) > 1 else ''}"
    body = "\n".join(lines)
    transaction.on_commit(lambda: send_mail(subject, body, None, recipients, fail_silently=True), robust=True)
