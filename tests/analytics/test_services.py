import pytest
from django.core.exceptions import ValidationError

from analytics.models import HandoffQuestion, Preference
from analytics.services import preference_set
from conversations import services as conversation_services
from tests.factories import ConversationFactory, MessageFactory

pytestmark = pytest.mark.django_db


def test_preference_set_creates_then_updates_one_row(agent):
    preference_set(user=agent, time_zone="America/New_York")
    preference_set(user=agent, time_zone=" Asia/Tokyo ")
    assert list(Preference.objects.values_list("user", "time_zone")) == [(agent.pk, "Asia/Tokyo")]


def test_preference_set_refuses_what_is_not_a_time_zone(agent):
    with pytest.raises(ValidationError):
        preference_set(user=agent, time_zone="Mars/Olympus")
    assert not Preference.objects.exists()


def test_a_low_confidence_handoff_keeps_the_question_the_bot_could_not_answer(customer):
    conversation = ConversationFactory(customer=customer, last_seq=2)
    MessageFactory(conversation=conversation, seq=1, body="Hello")
    MessageFactory(conversation=conversation, seq=2, body="  Why is my   INVOICE wrong? ")
    conversation_services.conversation_handoff(conversation=conversation, reason="low_confidence", confidence=0.2)
    assert list(HandoffQuestion.objects.values_list("conversation", "text")) == [
        (conversation.pk, "why is my invoice wrong?")
    ]


def test_other_handoffs_keep_no_question(customer):
    conversation_services.customer_request_handoff(customer=customer)
    assert not HandoffQuestion.objects.exists()
