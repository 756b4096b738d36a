"""Query-count pins on conversations' hot paths: a handoff, an accept, a resolve and
a customer message with the bot's turn (tests/pins.py says how they count)."""

import pytest
import time_machine
from django.db import transaction

from conversations import services
from conversations.models import Conversation, Message
from routing import services as routing_services
from routing.models import Offer
from routing.selectors import routing_settings
from tests.factories import ConversationFactory
from tests.pins import pin
from tests.routing.conftest import NOW, make_online

pytestmark = pytest.mark.usefixtures("config_kept")

Status = Conversation.Status


@pytest.fixture(autouse=True)
def frozen(db):
    """The clock stopped, and routing's settings row made: its first read creates
    it, which clears the configuration cache (core/config.py) mid-path."""
    routing_settings()
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


def _handoff(capture) -> Conversation:
    """A bot conversation handed off in a transaction of its own, routing's
    after-commit work run (so an online agent is offered it)."""
    conversation = ConversationFactory()
    with capture(execute=True), transaction.atomic():
        services.conversation_handoff(conversation=conversation, reason=Conversation.HandoffReason.CUSTOMER_REQUEST)
    conversation.refresh_from_db()
    return conversation


def test_a_handoff(agent, django_assert_num_queries, django_capture_on_commit_callbacks):
    make_online(agent)
    _handoff(django_capture_on_commit_callbacks)  # the rules and SLA targets read (and cached) once
    conversation = ConversationFactory()
    # UPDATE the conversation if with the bot; SELECT it and its customer back;
    # INSERT the system message, the routing state, the two SLA timers, the
    # sla.started event.
    with (
        django_capture_on_commit_callbacks() as callbacks,
        transaction.atomic(),
        django_assert_num_queries(pin(sqlite=7, postgresql=7)),
    ):
        services.conversation_handoff(conversation=conversation, reason=Conversation.HandoffReason.CUSTOMER_REQUEST)
    assert routing_services.routing_request in callbacks
    conversation.refresh_from_db()
    assert conversation.status == Status.PENDING_HANDOFF


def test_routing_places_a_handoff_after_commit(agent, django_assert_num_queries, django_capture_on_commit_callbacks):
    make_online(agent)
    _handoff(django_capture_on_commit_callbacks)
    conversation = ConversationFactory()
    with django_capture_on_commit_callbacks() as callbacks, transaction.atomic():
        services.conversation_handoff(conversation=conversation, reason=Conversation.HandoffReason.CUSTOMER_REQUEST)
    # PostgreSQL: count the request and take the router lock, release it (2). The
    # round: the queue window, its skills, who was offered each before, the
    # candidates (4); in a savepoint (2), the conversation still pending and its
    # open offers, the profiles locked, the offered count raised, the offer
    # inserted and read back (with the customer's last words for the card), the
    # decision and its event (8).
    with django_assert_num_queries(pin(sqlite=14, postgresql=16)):
        for callback in callbacks:
            callback()
    assert Offer.objects.get(conversation=conversation, state=Offer.State.OPEN).agent == agent


def test_accepting_an_offer(agent, django_assert_num_queries, django_capture_on_commit_callbacks):
    make_online(agent)
    first = _handoff(django_capture_on_commit_callbacks)
    routing_services.conversation_take(conversation_id=first.pk, agent=agent)  # warm
    conversation = _handoff(django_capture_on_commit_callbacks)
    # In a savepoint: the pending conversation locked, UPDATEd to assigned, the
    # system message; the open offer, the profiles locked, the offer closed and its
    # offered count given back, the active count taken, the decision and its event;
    # the conversation read back with its agent.
    with django_assert_num_queries(pin(sqlite=13, postgresql=13)):
        routing_services.conversation_take(conversation_id=conversation.pk, agent=agent)
    conversation.refresh_from_db()
    assert (conversation.status, conversation.assigned_agent) == (Status.ASSIGNED, agent)


def test_a_resolve(agent, django_assert_num_queries, django_capture_on_commit_callbacks):
    make_online(agent)
    conversation = _handoff(django_capture_on_commit_callbacks)
    routing_services.conversation_take(conversation_id=conversation.pk, agent=agent)
    # In a savepoint: the conversation locked, UPDATEd to resolved, the system
    # message; its questions read for labelling; the agent's profile locked and its
    # active count given back; the SLA timers read and stopped as met.
    with django_assert_num_queries(pin(sqlite=10, postgresql=10)):
        services.conversation_resolve(conversation_id=conversation.pk, agent=agent)
    conversation.refresh_from_db()
    assert conversation.status == Status.RESOLVED


def test_a_customer_message_and_the_bots_answer(
    demo_kb, customer, django_assert_num_queries, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        services.message_post_from_customer(customer=customer, body="How do I reset my password?")
    # The message, in two savepoints (4 statements): SQLite UPDATEs the open conversation's
    # last_seq, reads it back, INSERTs the message and its bot turn (4); PostgreSQL
    # does all that in one statement (1). The turn: claimed with up to seven others
    # waiting in a savepoint (two SELECTs, one UPDATE: 5), the claims read back, the
    # question and the previous question and answer (4); the knowledge base's
    # version (chunk count, newest entry), the bot settings (3), PostgreSQL's
    # nearest chunks (1; SQLite searches the in-process index), the sources'
    # entries (1); the answer in a savepoint: the conversation locked, the turn
    # deleted, last_seq raised (SQLite: and read back), the bot's message (6 or 7).
    with (
        django_assert_num_queries(pin(sqlite=28, postgresql=25)),
        django_capture_on_commit_callbacks(execute=True),
        transaction.atomic(),
    ):
        message = services.message_post_from_customer(customer=customer, body="How do I cancel my subscription?")
    reply = Message.objects.get(conversation_id=message.conversation_id, seq=message.seq + 1)
    assert reply.sender == Message.Sender.BOT
    assert reply.sources[0]["id"] == "cancel-subscription"
