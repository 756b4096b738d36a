"""Races between real threads on real database connections."""

import threading

import pytest
from django.db import connection

from conversations import services
from conversations.models import Conversation, Message
from tests.factories import ConversationFactory, CustomerFactory, UserFactory

pytestmark = pytest.mark.django_db(transaction=True)


def _race(workers):
    """Run each callable in its own thread, released together; return results or exceptions."""
    barrier = threading.Barrier(len(workers))
    results = [None] * len(workers)

    def run(i, work):
        try:
            barrier.wait(timeout=10)
            results[i] = work()
        except Exception as e:
            results[i] = e
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i, w)) for i, w in enumerate(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    return results


@pytest.mark.parametrize("round_", range(5))
def test_two_agents_accepting_at_once_exactly_one_wins(round_):
    alice, bob = UserFactory(username="alice"), UserFactory(username="bob")
    conversation = ConversationFactory(pending=True)
    results = _race(
        [
            lambda: services.conversation_accept(conversation_id=conversation.pk, agent=alice),
            lambda: services.conversation_accept(conversation_id=conversation.pk, agent=bob),
        ]
    )
    winners = [r for r in results if isinstance(r, Conversation)]
    losers = [r for r in results if isinstance(r, services.ConversationAlreadyTaken)]
    assert len(winners) == 1 and len(losers) == 1, results
    conversation.refresh_from_db()
    assert conversation.assigned_agent_id == winners[0].assigned_agent_id
    assert conversation.messages.filter(body__contains="joined").count() == 1


def test_concurrent_messages_get_distinct_consecutive_sequence_numbers():
    customer = CustomerFactory()
    conversation = services.customer_request_handoff(customer=customer)
    results = _race(
        [(lambda i=i: services.message_post_from_customer(customer=customer, body=f"burst {i}")) for i in range(8)]
    )
    assert all(isinstance(r, Message) for r in results), results
    seqs = sorted(conversation.messages.values_list("seq", flat=True))
    assert seqs == list(range(1, len(seqs) + 1))
    assert conversation.messages.filter(body__startswith="burst").count() == 8


def test_first_messages_at_once_open_a_single_conversation():
    customer = CustomerFactory()
    results = _race(
        [(lambda i=i: services.message_post_from_customer(customer=customer, body=f"hi {i}")) for i in range(4)]
    )
    assert all(isinstance(r, Message) for r in results), results
    assert Conversation.objects.filter(customer=customer).count() == 1


@pytest.mark.parametrize("round_", range(5))
def test_an_agents_first_reply_racing_the_customers_messages_does_not_deadlock(round_):
    """Two UPDATEs of the reply against the customer's FOR UPDATE ended in
    DeadlockDetected (issue #13); one lock, taken once, cannot."""
    agent = UserFactory(username=f"agent{round_}")
    conversation = ConversationFactory(pending=True)
    services.conversation_accept(conversation_id=conversation.pk, agent=agent)
    customer = conversation.customer
    results = _race(
        [
            lambda: services.message_post_from_agent(conversation_id=conversation.pk, agent=agent, body="Hello!"),
            lambda: services.message_post_from_customer(customer=customer, body="Are you there?"),
            lambda: services.message_post_from_customer(customer=customer, body="Hello?"),
        ]
    )
    assert [type(r).__name__ for r in results if isinstance(r, Exception)] == []
    conversation.refresh_from_db()
    assert conversation.first_agent_reply_at is not None
    seqs = list(conversation.messages.order_by("seq").values_list("seq", flat=True))
    assert seqs == list(range(1, len(seqs) + 1)) and len(seqs) >= 3


def test_the_same_message_sent_twice_at_once_is_stored_once():
    """A resend racing the original (a reconnect while the first is in flight)."""
    customer = CustomerFactory()
    services.message_post_from_customer(customer=customer, body="first")
    results = _race(
        [lambda: services.message_post_from_customer(customer=customer, body="again", client_id="same")] * 4
    )
    assert [type(r).__name__ for r in results if isinstance(r, Exception)] == []
    assert len({r.pk for r in results}) == 1
    assert Message.objects.filter(conversation__customer=customer, client_id="same").count() == 1
    seqs = list(Message.objects.filter(conversation__customer=customer).order_by("seq").values_list("seq", flat=True))
    assert seqs == list(range(1, len(seqs) + 1))
