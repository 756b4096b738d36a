"""The timers' job: expire offers, auto-offline silent agents, relax skill waits, then route."""

from datetime import datetime, timedelta

from django.db import transaction

from conversations.models import Conversation
from routing import selectors
from routing.models import RoutingDecision, RoutingSettings, RoutingState
from routing.services.decisions import decision_record
from routing.services.offers import offers_expire
from routing.services.presence import presence_sweep
from routing.services.router import routing_request

Kind = RoutingDecision.Kind
Status = Conversation.Status


def skills_relax(*, now: datetime, settings: RoutingSettings) -> int:
    """Conversations that waited longer than the skill wait may go to any agent."""
    cutoff = now - timedelta(seconds=settings.skill_wait_s)
    due = RoutingState.objects.filter(
        relaxed_at__isnull=True,
        skills_since__lte=cutoff,
        conversation__status=Status.PENDING_HANDOFF,
        required_skills__isnull=False,
    ).values_list("pk", flat=True)
    relaxed = 0
    for conversation_id in set(due):
        with transaction.atomic():
            if not RoutingState.objects.filter(pk=conversation_id, relaxed_at__isnull=True).update(relaxed_at=now):
                continue
            conversation = Conversation.objects.get(pk=conversation_id)
            decision_record(
                conversation=conversation,
                kind=Kind.RELAXED,
                reason=f"No skilled agent took it within {settings.skill_wait_s} s: any agent may take it now",
                now=now,
            )
            relaxed += 1
    return relaxed


def tick(*, now: datetime) -> dict:
    """The timers: expire offers, auto-offline silent agents, relax skill waits,
    then route. Idempotent; safe from any number of processes at once."""
    settings = selectors.routing_settings()
    figures = {
        "expired": offers_expire(now=now),
        "offline": presence_sweep(now=now, settings=settings),
        "relaxed": skills_relax(now=now, settings=settings),
    }
    # Always route: a conversation whose after-commit routing died with its process is
    # picked up here (a few cheap reads when there is nothing to place).
    routing_request()
    figures["grace_s"] = settings.presence_grace_s
    return figures
