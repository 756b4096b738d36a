"""The live path's guarantees at the service level (docs/realtime.md): a message
sent again under its client id is stored once, the bot's turn survives a dead
worker and is answered once, state changes bump the version."""

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from conversations import queries, services
from conversations.models import BotTurn, Conversation, Message
from tests.factories import ConversationFactory

Status = Conversation.Status


def test_a_message_sent_again_under_its_client_id_is_stored_once(customer):
    first = services.message_post_from_customer(customer=customer, body="Where is my parcel?", client_id="c-1")
    again = services.message_post_from_customer(customer=customer, body="Where is my parcel?", client_id="c-1")
    assert again.pk == first.pk and again.seq == first.seq
    assert Message.objects.filter(sender="customer").count() == 1
    assert BotTurn.objects.count() == 1  # one turn, not one per send


def test_different_client_ids_are_different_messages(customer):
    a = services.message_post_from_customer(customer=customer, body="hello", client_id="c-1")
    b = services.message_post_from_customer(customer=customer, body="hello", client_id="c-2")
    assert (a.seq, b.seq) == (1, 2)


def test_a_resend_after_the_conversation_was_resolved_returns_the_stored_message(customer, agent):
    first = services.message_post_from_customer(customer=customer, body="help", client_id="c-1")
    conversation = first.conversation
    services.conversation_handoff(conversation=conversation, reason=Conversation.HandoffReason.CUSTOMER_REQUEST)
    services.conversation_accept(conversation_id=conversation.pk, agent=agent)
    services.conversation_resolve(conversation_id=conversation.pk, agent=agent)
    again = services.message_post_from_customer(customer=customer, body="help", client_id="c-1")
    assert again.pk == first.pk
    assert Conversation.objects.filter(customer=customer).count() == 1  # no new conversation for a resend


def test_an_agent_reply_sent_again_is_stored_once(customer, agent):
    conversation = ConversationFactory(customer=customer, pending=True)
    services.conversation_accept(conversation_id=conversation.pk, agent=agent)
    one = services.message_post_from_agent(conversation_id=conversation.pk, agent=agent, body="On it", client_id="a-1")
    two = services.message_post_from_agent(conversation_id=conversation.pk, agent=agent, body="On it", client_id="a-1")
    assert one.pk == two.pk
    assert Message.objects.filter(sender="agent").count() == 1


@pytest.mark.parametrize("client_id", ["x" * 65, "spaces are out", "<script>", 12, ["a"]])
def test_a_malformed_client_id_is_refused_and_nothing_stored(customer, client_id):
    with pytest.raises(ValidationError) as e:
        services.message_post_from_customer(customer=customer, body="hi", client_id=client_id)
    assert e.value.code == "bad_request"
    assert not Message.objects.exists()


def test_the_written_out_insert_and_its_orm_twin_store_the_same(customer, other_customer):
    now = timezone.now()
    sql = queries.customer_message_insert(customer_id=customer.pk, body="one", client_id="k", now=now)
    orm = queries.customer_message_insert_orm(customer_id=other_customer.pk, body="one", client_id="k", now=now)
    assert (sql is None, orm is None) == (True, True)  # no open conversation: the caller opens one
    services.message_post_from_customer(customer=customer, body="first")
    services.message_post_from_customer(customer=other_customer, body="first")
    sql = queries.customer_message_insert(customer_id=customer.pk, body="two", client_id="k", now=now)
    orm = queries.customer_message_insert_orm(customer_id=other_customer.pk, body="two", client_id="k", now=now)
    assert (sql.seq, sql.status) == (orm.seq, orm.status) == (2, Status.BOT)
    # The same client id again: no message, by either (the caller rolls back the numbering).
    again = queries.customer_message_insert(customer_id=customer.pk, body="two", client_id="k", now=now)
    again_orm = queries.customer_message_insert_orm(customer_id=other_customer.pk, body="two", client_id="k", now=now)
    assert again.message_id is None and again_orm.message_id is None
    for who in (customer, other_customer):
        rows = list(
            Message.objects.filter(conversation__customer=who, sender="customer").order_by("body").values_list("body")
        )
        assert rows == [("first",), ("two",)]


def test_a_turn_whose_worker_died_is_answered_by_the_recovery_once(demo_kb, customer):
    question = services.message_post_from_customer(customer=customer, body="How do I reset my password?")
    BotTurn.objects.filter(pk=question.pk).update(  # a worker took it, then died
        claimed_until=timezone.now() + services.BOT_TURN_LEASE, attempts=1
    )
    BotTurn.objects.exclude(pk=question.pk).delete()
    Message.objects.filter(sender="bot").delete()  # the inline run of the tests answered it already
    assert services.bot_turns_recover(now=timezone.now()) == 0  # its hold has not run out
    later = timezone.now() + services.BOT_TURN_LEASE + timedelta(seconds=1)
    assert services.bot_turns_recover(now=later) == 1
    assert services.bot_turns_recover(now=later) == 0  # done: nothing is answered twice
    assert Message.objects.filter(sender="bot").count() == 1
    assert not BotTurn.objects.exists()


def test_a_turn_never_taken_is_answered_once_it_is_overdue(demo_kb, customer):
    question = services.message_post_from_customer(customer=customer, body="How do I reset my password?")
    BotTurn.objects.filter(pk=question.pk).update(claimed_until=None, created_at=timezone.now())  # queued, lost
    assert services.bot_turns_recover(now=timezone.now()) == 0
    assert services.bot_turns_recover(now=timezone.now() + services.BOT_TURN_OVERDUE + timedelta(seconds=1)) == 1
    assert Message.objects.filter(sender="bot").count() == 1


def test_a_turn_that_keeps_failing_hands_off_to_a_person(customer):
    question = services.message_post_from_customer(customer=customer, body="Anything")
    conversation = question.conversation
    Message.objects.filter(sender="bot").delete()
    Conversation.objects.filter(pk=conversation.pk).update(status=Status.BOT)
    BotTurn.objects.update_or_create(
        message=question,
        defaults={
            "conversation": conversation,
            "created_at": timezone.now(),
            "claimed_until": timezone.now() - timedelta(seconds=1),
            "attempts": services.BOT_TURN_ATTEMPTS,
        },
    )
    assert services.bot_turns_recover(now=timezone.now()) == 1
    conversation.refresh_from_db()
    assert conversation.status == Status.PENDING_HANDOFF
    assert conversation.handoff_reason == Conversation.HandoffReason.BOT_FAILED
    assert not BotTurn.objects.exists()


def test_a_turn_for_a_conversation_a_person_took_meanwhile_stores_no_answer(customer):
    question = services.message_post_from_customer(customer=customer, body="Anything")
    Message.objects.filter(sender="bot").delete()
    conversation = question.conversation
    if conversation.status == Status.BOT:
        services.conversation_handoff(conversation=conversation, reason=Conversation.HandoffReason.CUSTOMER_REQUEST)
    BotTurn.objects.update_or_create(
        message=question, defaults={"conversation": conversation, "created_at": timezone.now()}
    )
    assert services.bot_turn(message_id=question.pk) is None
    assert not Message.objects.filter(sender="bot").exists()
    assert not BotTurn.objects.exists()


def test_every_state_change_bumps_the_version(customer, agent):
    message = services.message_post_from_customer(customer=customer, body="hi")
    conversation = message.conversation
    versions = [Conversation.objects.get(pk=conversation.pk).version]
    services.conversation_handoff(conversation=conversation, reason=Conversation.HandoffReason.CUSTOMER_REQUEST)
    versions.append(Conversation.objects.get(pk=conversation.pk).version)
    services.conversation_accept(conversation_id=conversation.pk, agent=agent)
    versions.append(Conversation.objects.get(pk=conversation.pk).version)
    services.conversation_resolve(conversation_id=conversation.pk, agent=agent)
    versions.append(Conversation.objects.get(pk=conversation.pk).version)
    assert versions == sorted(set(versions))  # strictly increasing
