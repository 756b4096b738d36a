"""SLA fixtures: the Standard policy (re-created, since transactional tests flush
the migration's seed) and a way to hand a conversation off at a given moment."""

from datetime import UTC, datetime

import pytest
import time_machine

from conversations import services as conversation_services
from conversations.models import Conversation
from sla.models import DEFAULT_TARGETS, SLAPolicy, SLATarget
from tests.factories import ConversationFactory

T0 = datetime(2026, 3, 4, 10, 0, tzinfo=UTC)  # a Wednesday


@pytest.fixture
def policy(db):
    policy, _ = SLAPolicy.objects.update_or_create(
        name="Standard", defaults={"is_default": True, "is_active": True, "uses_business_hours": False}
    )
    for priority, (first_response, resolution) in DEFAULT_TARGETS.items():
        SLATarget.objects.update_or_create(
            policy=policy,
            priority=priority,
            defaults={"first_response_seconds": first_response, "resolution_seconds": resolution},
        )
    return policy


def handoff(*, at: datetime = T0, priority: int = 3, customer=None, **fields) -> Conversation:
    """A bot conversation of the given priority, handed off at ``at``."""
    extra = {"customer": customer} if customer else {}
    conversation = ConversationFactory(priority=priority, **extra, **fields)
    with time_machine.travel(at, tick=False):
        conversation_services.conversation_handoff(
            conversation=conversation, reason=Conversation.HandoffReason.CUSTOMER_REQUEST
        )
    conversation.refresh_from_db()
    return conversation
