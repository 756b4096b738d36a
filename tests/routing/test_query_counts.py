"""Query-count pins on routing's tick: a round places any number of queued
conversations in the same statements (tests/pins.py says how they count)."""

import pytest
import time_machine

from conversations import services as conversation_services
from conversations.models import Conversation
from routing import services
from routing.models import Offer, RoutingSettings
from tests.factories import ConversationFactory, UserFactory
from tests.pins import pin
from tests.routing.conftest import NOW, make_online

pytestmark = pytest.mark.usefixtures("config_kept")


@pytest.fixture(autouse=True)
def frozen():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


def _queue(n: int) -> list[Conversation]:
    """``n`` handed-off conversations nobody has placed (their after-commit
    routing never runs: the test's transaction does not commit)."""
    conversations = [ConversationFactory() for _ in range(n)]
    for conversation in conversations:
        conversation_services.conversation_handoff(
            conversation=conversation, reason=Conversation.HandoffReason.CUSTOMER_REQUEST
        )
    return conversations


@pytest.mark.parametrize("queued", [1, 4, 9])
def test_a_tick_assigns_the_queue_in_the_same_statements_however_long(auto_assign, queued, django_assert_num_queries):
    agents = [UserFactory(username=f"agent-{i}") for i in range(3)]
    for user in agents:
        make_online(user, capacity=3)
    conversations = _queue(queued)
    # The settings row (1; saved by the fixture, so read again); offers due to
    # expire, silent agents, skill waits to relax (3). PostgreSQL: count the
    # request, take and release the router lock (2). The round: the queue window
    # and its skills, the candidates (3); in a savepoint (2), the pending
    # conversations locked, one UPDATE assigning them all, one INSERT of their
    # system messages; their open offers, the profiles locked, one UPDATE of the
    # active counts, the decisions, their events (8).
    with django_assert_num_queries(pin(sqlite=17, postgresql=19)):
        services.tick(now=NOW)
    assigned = Conversation.objects.filter(pk__in=[c.pk for c in conversations], status=Conversation.Status.ASSIGNED)
    assert assigned.count() == queued


@pytest.mark.parametrize("queued", [1, 3])
def test_a_tick_offers_the_queue_in_the_same_statements_however_long(routing_config, queued, django_assert_num_queries):
    assert routing_config.mode == RoutingSettings.Mode.OFFER
    for i in range(3):
        make_online(UserFactory(username=f"agent-{i}"), capacity=3)
    conversations = _queue(queued)
    # Offers due to expire, silent agents, skill waits to relax (3; the settings
    # row is cached). PostgreSQL: count the request, take and release the router
    # lock (2). The round: the queue window, its skills, who was offered each
    # before, the candidates (4); in a savepoint (2), the conversations still
    # pending and their open offers, the profiles locked, one UPDATE of the offered
    # counts, one INSERT of the offers and their read-back, the decisions, their
    # events (8).
    with django_assert_num_queries(pin(sqlite=17, postgresql=19)):
        services.tick(now=NOW)
    assert Offer.objects.filter(conversation__in=conversations, state=Offer.State.OPEN).count() == queued
