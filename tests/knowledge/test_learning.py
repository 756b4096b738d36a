"""Learning from agents: their answers become knowledge, and conversations become labelled cases."""

import json

import pytest
from django.test import Client
from django.urls import reverse

from conversations import services
from knowledge import bot
from knowledge.models import Entry, EvalCase
from knowledge.services import entry_learn
from tests.factories import ConversationFactory

pytestmark = pytest.mark.django_db

QUESTION = "Can you help us migrate 40 TB from our old NAS?"


def _handed_off(customer, agent, question=QUESTION):
    """A conversation the bot handed off for ``question``, accepted and answered by ``agent``."""
    conversation = ConversationFactory(customer=customer)
    services._message_create(conversation=conversation, sender="customer", body=question)
    services.conversation_handoff(conversation=conversation, reason="low_confidence", confidence=0.1)
    services.conversation_accept(conversation_id=conversation.pk, agent=agent)
    services.message_post_from_agent(
        conversation_id=conversation.pk, agent=agent, body="Yes: our migration team moves NAS data for Team plans."
    )
    conversation.refresh_from_db()
    return conversation


def test_an_agents_answer_changes_the_bots_next_answer(demo_kb, customer, agent):
    assert bot.answer(QUESTION).handoff_reason == "low_confidence"
    conversation = _handed_off(customer, agent)
    client = Client()
    client.force_login(agent)
    page = client.get(reverse("inbox-conversation", args=[conversation.pk])).content.decode()
    assert QUESTION in page and "our migration team moves NAS data" in page  # the form comes filled in
    response = client.post(
        reverse("inbox-learn", args=[conversation.pk]),
        {"question": QUESTION, "title": "NAS migrations", "body": "Our migration team moves NAS data for Team plans."},
    )
    assert response.status_code == 302
    reply = bot.answer(QUESTION)
    assert reply.handoff_reason is None
    assert reply.sources[0]["id"] == "nas-migrations"
    assert "migration team" in reply.text


def test_a_question_can_join_an_existing_entry(demo_kb):
    entry = Entry.objects.get(external_id="file-size-limit")
    learnt = entry_learn(question=QUESTION, entry=entry)
    assert learnt.pk == entry.pk and QUESTION in learnt.questions
    assert bot.answer(QUESTION).sources[0]["id"] == "file-size-limit"


def test_a_new_entry_needs_a_title_and_an_answer(demo_kb, agent, customer):
    conversation = _handed_off(customer, agent)
    client = Client()
    client.force_login(agent)
    response = client.post(reverse("inbox-learn", args=[conversation.pk]), {"question": QUESTION}, follow=True)
    assert "A new entry needs a title and an answer." in response.content.decode()
    assert not Entry.objects.filter(external_id__startswith="can-you-help").exists()


def test_resolving_labels_what_the_conversation_taught(demo_kb, customer, agent):
    answered = services.message_post_from_customer(customer=customer, body="How do I reset my password?")
    services.bot_turn(message_id=answered.pk)
    conversation = answered.conversation
    services._message_create(conversation=conversation, sender="customer", body=QUESTION)
    services.conversation_handoff(conversation=conversation, reason="low_confidence", confidence=0.1)
    services.conversation_accept(conversation_id=conversation.pk, agent=agent)
    services.conversation_resolve(conversation_id=conversation.pk, agent=agent)
    cases = {c.question: c for c in EvalCase.objects.all()}
    assert cases["How do I reset my password?"].expected.external_id == "reset-password"
    assert cases["How do I reset my password?"].outcome == "answered"
    assert cases[QUESTION].expected is None and cases[QUESTION].outcome == "handed_off"


def test_an_agents_label_beats_the_handoff(demo_kb, customer, agent):
    conversation = _handed_off(customer, agent)
    entry_learn(question=QUESTION, title="Districts", body="40 % off.", conversation_ref=conversation.pk)
    services.conversation_resolve(conversation_id=conversation.pk, agent=agent)
    case = EvalCase.objects.get(question=QUESTION)
    assert case.outcome == "learnt" and case.expected.external_id == "districts"


def test_cases_export_in_the_evaluation_format(demo_kb, admin_user):
    entry_learn(question=QUESTION, title="Districts", body="40 % off.")
    EvalCase.objects.create(question="What's the weather on Mars?", outcome="handed_off")
    client = Client()
    client.force_login(admin_user)
    response = client.post(
        reverse("admin:knowledge_evalcase_changelist"),
        {"action": "export_jsonl", "_selected_action": list(EvalCase.objects.values_list("pk", flat=True))},
    )
    lines = [json.loads(line) for line in b"".join(response.streaming_content).decode().splitlines()]
    assert sorted(lines, key=lambda x: x["question"]) == [
        {"question": QUESTION, "expected": "districts"},
        {"question": "What's the weather on Mars?", "expected": None},
    ]
