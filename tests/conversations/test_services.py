from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from conversations import services
from conversations.identity import Identity
from conversations.models import Conversation, Message
from tests.factories import ConversationFactory

Status = Conversation.Status


def _messages(conversation):
    return list(conversation.messages.order_by("seq").values_list("seq", "sender", "body"))


@pytest.mark.parametrize("body", ["", "   ", "\n\t ", None, 42, ["hi"]])
def test_customer_message_refuses_empty_or_non_text(customer, body):
    with pytest.raises(ValidationError) as e:
        services.message_post_from_customer(customer=customer, body=body)
    assert e.value.code == "empty"
    assert not Message.objects.exists()


def test_customer_message_over_limit_is_refused_and_history_kept(customer, settings):
    kept = services.message_post_from_customer(customer=customer, body="first question")
    before = _messages(kept.conversation)
    with pytest.raises(ValidationError) as e:
        services.message_post_from_customer(customer=customer, body="x" * (settings.BATON_MAX_MESSAGE_CHARS + 1))
    assert e.value.code == "too_long"
    assert "4,000" in e.value.messages[0]
    assert _messages(kept.conversation) == before


def test_customer_message_at_limit_is_stored(customer, settings):
    body = "y" * settings.BATON_MAX_MESSAGE_CHARS
    message = services.message_post_from_customer(customer=customer, body=body)
    assert message.body == body


def test_customer_message_is_stored_as_text_with_markup_intact(customer):
    body = "<script>alert('x')</script> & <b>bold</b>"
    message = services.message_post_from_customer(customer=customer, body=body)
    message.refresh_from_db()
    assert message.body == body


def test_first_message_opens_a_conversation_with_the_bot(customer):
    message = services.message_post_from_customer(customer=customer, body="  hello  ")
    assert message.body == "hello"
    assert message.seq == 1
    assert message.conversation.customer == customer


def test_sequence_numbers_are_consecutive_per_conversation(customer):
    conversation = ConversationFactory(customer=customer)
    for i in range(3):
        services._message_create(conversation=conversation, sender=Message.Sender.SYSTEM, body=f"m{i}")
    assert [s for s, _, _ in _messages(conversation)] == [1, 2, 3]


def test_database_refuses_a_duplicate_sequence_number(customer):
    conversation = ConversationFactory(customer=customer)
    Message.objects.create(conversation=conversation, seq=1, sender="system", body="a")
    with pytest.raises(IntegrityError), transaction.atomic():
        Message.objects.create(conversation=conversation, seq=1, sender="system", body="b")


def test_database_refuses_a_second_open_conversation(customer):
    ConversationFactory(customer=customer)
    with pytest.raises(IntegrityError), transaction.atomic():
        ConversationFactory(customer=customer)


def test_handoff_moves_bot_conversation_to_pending(customer):
    conversation = ConversationFactory(customer=customer)
    guesses = [{"id": "refunds", "title": "Refunds", "score": 0.41}]
    assert services.conversation_handoff(
        conversation=conversation, reason="low_confidence", confidence=0.21, sources=guesses
    )
    conversation.refresh_from_db()
    assert conversation.status == Status.PENDING_HANDOFF
    assert conversation.handoff_reason == "low_confidence"
    assert conversation.handoff_confidence == pytest.approx(0.21)
    assert conversation.handoff_sources == guesses
    assert conversation.handed_off_at is not None
    assert conversation.messages.get().sender == Message.Sender.SYSTEM


def test_handoff_is_a_no_op_when_not_with_the_bot(customer):
    conversation = ConversationFactory(customer=customer, pending=True)
    assert not services.conversation_handoff(conversation=conversation, reason="customer_request")
    assert not conversation.messages.exists()


def test_talk_to_a_person_without_a_conversation_opens_one_pending(customer):
    conversation = services.customer_request_handoff(customer=customer)
    assert conversation.status == Status.PENDING_HANDOFF
    assert conversation.handoff_reason == "customer_request"


def test_accept_assigns_to_the_agent(customer, agent):
    conversation = ConversationFactory(customer=customer, pending=True)
    accepted = services.conversation_accept(conversation_id=conversation.pk, agent=agent)
    assert accepted.status == Status.ASSIGNED
    assert accepted.assigned_agent == agent
    assert accepted.assigned_at is not None
    assert "Alice joined" in accepted.messages.last().body


def test_second_accept_is_refused_with_the_winner_named(customer, agent, other_agent):
    conversation = ConversationFactory(customer=customer, pending=True)
    services.conversation_accept(conversation_id=conversation.pk, agent=agent)
    with pytest.raises(services.ConversationAlreadyTaken, match="Alice already accepted"):
        services.conversation_accept(conversation_id=conversation.pk, agent=other_agent)
    conversation.refresh_from_db()
    assert conversation.assigned_agent == agent


def test_accepting_twice_by_the_same_agent_is_harmless(customer, agent):
    conversation = ConversationFactory(customer=customer, pending=True)
    services.conversation_accept(conversation_id=conversation.pk, agent=agent)
    services.conversation_accept(conversation_id=conversation.pk, agent=agent)
    assert conversation.messages.count() == 1


def test_agent_reply_requires_being_the_assignee(customer, agent, other_agent):
    conversation = ConversationFactory(customer=customer, pending=True)
    services.conversation_accept(conversation_id=conversation.pk, agent=agent)
    with pytest.raises(PermissionDenied):
        services.message_post_from_agent(conversation_id=conversation.pk, agent=other_agent, body="hi")
    conversation.refresh_from_db()
    assert conversation.first_agent_reply_at is None
    reply = services.message_post_from_agent(conversation_id=conversation.pk, agent=agent, body="Hi, Alice here")
    assert reply.sender == Message.Sender.AGENT and reply.agent == agent
    conversation.refresh_from_db()
    assert conversation.first_agent_reply_at is not None


def test_agent_reply_refuses_empty_and_oversized(customer, agent, settings):
    conversation = ConversationFactory(customer=customer, pending=True)
    services.conversation_accept(conversation_id=conversation.pk, agent=agent)
    for body in ["  ", "z" * (settings.BATON_MAX_MESSAGE_CHARS + 1)]:
        with pytest.raises(ValidationError):
            services.message_post_from_agent(conversation_id=conversation.pk, agent=agent, body=body)
    assert conversation.messages.filter(sender=Message.Sender.AGENT).count() == 0


def test_first_reply_time_is_kept_from_the_first_reply(customer, agent):
    conversation = ConversationFactory(customer=customer, pending=True)
    services.conversation_accept(conversation_id=conversation.pk, agent=agent)
    services.message_post_from_agent(conversation_id=conversation.pk, agent=agent, body="one")
    conversation.refresh_from_db()
    first = conversation.first_agent_reply_at
    services.message_post_from_agent(conversation_id=conversation.pk, agent=agent, body="two")
    conversation.refresh_from_db()
    assert conversation.first_agent_reply_at == first


def test_resolve_by_the_assignee_and_next_message_starts_with_the_bot(customer, agent):
    conversation = ConversationFactory(customer=customer, pending=True)
    services.conversation_accept(conversation_id=conversation.pk, agent=agent)
    services.conversation_resolve(conversation_id=conversation.pk, agent=agent)
    conversation.refresh_from_db()
    assert conversation.status == Status.RESOLVED and conversation.resolved_at is not None
    message = services.message_post_from_customer(customer=customer, body="one more thing")
    assert message.conversation_id != conversation.pk
    assert message.conversation.status in {Status.BOT, Status.PENDING_HANDOFF}


def test_resolve_by_another_agent_is_refused_but_staff_may(customer, agent, other_agent, admin_user):
    conversation = ConversationFactory(customer=customer, pending=True)
    services.conversation_accept(conversation_id=conversation.pk, agent=agent)
    with pytest.raises(PermissionDenied):
        services.conversation_resolve(conversation_id=conversation.pk, agent=other_agent)
    services.conversation_resolve(conversation_id=conversation.pk, agent=admin_user)
    conversation.refresh_from_db()
    assert conversation.status == Status.RESOLVED


def test_customer_messages_after_handoff_do_not_reach_the_bot(customer):
    conversation = services.customer_request_handoff(customer=customer)
    services.message_post_from_customer(customer=customer, body="are you there?")
    senders = [sender for _, sender, _ in _messages(conversation)]
    assert Message.Sender.BOT not in senders
    assert senders[-1] == Message.Sender.CUSTOMER


@pytest.mark.django_db
def test_asking_the_same_thing_again_hands_off_as_repeated_failure(demo_kb, customer):
    first = services.message_post_from_customer(customer=customer, body="How do I reset my password?")
    assert services.bot_turn(message_id=first.pk) is not None  # answered
    again = services.message_post_from_customer(customer=customer, body="how do i reset my password??")
    assert services.bot_turn(message_id=again.pk) is None
    conversation = again.conversation
    conversation.refresh_from_db()
    assert conversation.status == Status.PENDING_HANDOFF
    assert conversation.handoff_reason == "repeated_failure"


@pytest.mark.django_db
def test_two_unsure_answers_in_a_row_hand_off(demo_kb, customer):
    from knowledge.models import BotConfig

    BotConfig.objects.update_or_create(pk=1, defaults={"confidence_threshold": 0.0})  # answer even when unsure
    first = services.message_post_from_customer(customer=customer, body="Who won the football match yesterday?")
    assert services.bot_turn(message_id=first.pk).confidence < 0.5
    second = services.message_post_from_customer(customer=customer, body="Recommend a pasta recipe")
    assert services.bot_turn(message_id=second.pk) is None
    second.conversation.refresh_from_db()
    assert second.conversation.handoff_reason == "repeated_failure"


@pytest.mark.django_db
def test_a_new_question_after_a_good_answer_is_answered(demo_kb, customer):
    first = services.message_post_from_customer(customer=customer, body="How do I reset my password?")
    services.bot_turn(message_id=first.pk)
    second = services.message_post_from_customer(customer=customer, body="How do I cancel my subscription?")
    reply = services.bot_turn(message_id=second.pk)
    assert reply is not None and reply.sources[0]["id"] == "cancel-subscription"


def test_timeline_records_who_did_what_and_when(customer, agent):
    conversation = ConversationFactory(customer=customer, pending=True)
    earlier = timezone.now() - timedelta(minutes=3)
    services.timeline_record(conversation=conversation, kind="sla.breached", text="First response breached", at=earlier)
    services.timeline_record(
        conversation=conversation, kind="priority.changed", text="P3 → P1", actor=agent, data={"from": 3, "to": 1}
    )
    events = list(conversation.events.values_list("kind", "actor__username", "data", "created_at"))
    assert [e[:3] for e in events] == [("sla.breached", None, {}), ("priority.changed", "alice", {"from": 3, "to": 1})]
    assert events[0][3] == earlier
    assert not conversation.messages.exists()  # the customer never sees the timeline


def test_timeline_text_is_required(customer):
    conversation = ConversationFactory(customer=customer)
    with pytest.raises(ValidationError):
        services.timeline_record(conversation=conversation, kind="routing.offered", text="")


@pytest.mark.parametrize("body", ["a\x00b", "\ud800 lone surrogate", "ok \udfff"])
def test_a_message_postgresql_could_not_store_is_refused_clearly(customer, body):
    with pytest.raises(ValidationError) as e:
        services.message_post_from_customer(customer=customer, body=body)
    assert e.value.code == "bad_request"
    assert not Message.objects.exists()


@pytest.mark.parametrize(
    ("given", "shown"),
    [("a\x00b", "ab"), ("Eve\u202egnp.exe", "Evegnp.exe"), ("lone \ud800 half", "lone  half"), ("  Ada  ", "Ada")],
)
def test_a_display_name_keeps_only_what_reads_as_it_is(db, given, shown):
    assert services.customer_create(name=given).name == shown
    assert services.customer_identify(identity=Identity(external_id="site-1", name=given)).name == shown


def test_a_display_name_is_cut_at_200_characters(db):
    assert len(services.customer_create(name="x" * 500).name) == 200
