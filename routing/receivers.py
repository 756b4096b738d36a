"""Routing's answers to conversations' hooks and inbox frames (connected in apps.py).

Each is one call to a service; the services hold the logic.
"""

from django.core.exceptions import ValidationError
from django.utils import timezone

from routing import services


def on_handed_off(sender, *, conversation, **kwargs):
    services.handoff_received(conversation=conversation)


def on_assigned(sender, *, assigned, reasons=None, **kwargs):
    services.assignments_record(assigned=assigned, reasons=reasons, now=timezone.now())


def on_resolved(sender, *, conversation, **kwargs):
    services.resolution_record(conversation=conversation, now=timezone.now())


def on_inbox_connected(sender, *, user, **kwargs):
    services.presence_heartbeat(user=user, now=timezone.now())


def presence_heartbeat_frame(*, user, content) -> dict | None:
    services.presence_heartbeat(user=user, now=timezone.now())
    return None


def presence_set_frame(*, user, content) -> dict | None:
    status = content.get("status")
    if not isinstance(status, str):
        raise ValidationError("Presence must be online, away or offline.", code="invalid")
    services.presence_set(user=user, status=status, now=timezone.now())
    return None


def offer_decline_frame(*, user, content) -> dict | None:
    offer_id = content.get("offer")
    if not isinstance(offer_id, int) or isinstance(offer_id, bool):
        raise ValidationError("Which offer?", code="invalid")
    services.offer_decline(offer_id=offer_id, agent=user, now=timezone.now())
    return None
