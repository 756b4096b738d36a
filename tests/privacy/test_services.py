"""Erasing one customer: nothing they wrote or that names them is left anywhere, and
the dashboard's figures do not move."""

import json

import pytest
from django.apps import apps
from django.core import serializers
from django.urls import reverse
from django.utils import timezone

from analytics import services as analytics_services
from analytics.models import HandoffQuestion
from conversations import services as conversation_services
from conversations.identity import Identity
from conversations.models import Attachment, Conversation, Customer, Message
from knowledge import services as knowledge_services
from knowledge.models import Chunk, Entry, EvalCase
from privacy import selectors, services
from tests.analytics.pages import read_page
from tests.analytics.scenario import WEEK
from tests.factories import ConversationFactory, MessageFactory
from tests.uploads import pdf_bytes, upload

pytestmark = pytest.mark.django_db

SECRETS = ["Zelda Quux", "site-user-4711", "zelda@example.org", "my card ending 9876", "Quux Ltd"]


@pytest.fixture
def zelda(agent, other_agent):
    """A customer from an embedding site, with traits, a handed-off question an agent
    taught the bot, one the bot answered, and an agent's note about her that
    mentions a colleague."""
    customer = conversation_services.customer_identify(
        identity=Identity(
            external_id="site-user-4711",
            name="Zelda Quux",
            email="zelda@example.org",
            traits={"segment": "vip", "language": "de", "plan": "gold"},
        )
    )
    conversation = ConversationFactory(customer=customer, pending=True, assigned_agent=agent)
    MessageFactory(conversation=conversation, seq=1, body="Refund for my card ending 9876?")
    MessageFactory(conversation=conversation, seq=2, sender=Message.Sender.AGENT, agent=agent, body="Done, Zelda Quux")
    MessageFactory(conversation=conversation, seq=3, sender=Message.Sender.SYSTEM, body="Alice joined")
    conversation_services.note_add(
        conversation_id=conversation.pk, author=agent, body="@bob Zelda Quux says my card ending 9876 was charged twice"
    )
    Conversation.objects.filter(pk=conversation.pk).update(handed_off_at=timezone.now())
    conversation.refresh_from_db()
    analytics_services.handoff_question_record(conversation=conversation)
    knowledge_services.entry_learn(
        question="Refund for my card ending 9876?",
        title="Refunds",
        body="We refund within 5 days.",
        conversation_ref=conversation.pk,
    )
    knowledge_services.eval_case_record(
        question="Quux Ltd invoice?",
        expected=None,
        outcome=EvalCase.Outcome.HANDED_OFF,
        conversation_ref=conversation.pk,
    )
    return customer


def _everything() -> str:
    """Every table as text, the way a curious operator would search the database
    (chunks without their vectors, which do not serialise)."""
    tables = [m for m in apps.get_models() if m._meta.managed and m is not Chunk]
    text = "".join(serializers.serialize("json", m._default_manager.all()) for m in tables)
    return text + json.dumps(list(Chunk.objects.values_list("text", flat=True)))


def test_the_export_holds_what_the_customer_wrote_and_what_was_recorded(zelda):
    document = json.loads(json.dumps(selectors.customer_export(customer=zelda)))
    assert document["customer"]["external_id"] == "site-user-4711"
    assert document["customer"]["attributes"] == {"plan": "gold"}
    assert document["customer"]["email"] == "zelda@example.org"
    (conversation,) = document["conversations"]
    assert [m["body"] for m in conversation["messages"]] == [
        "Refund for my card ending 9876?",
        "Done, Zelda Quux",
        "Alice joined",
    ]
    assert conversation["handoff_question"] == "refund for my card ending 9876?"
    # Agents' internal notes are the team's, never the customer's to see.
    assert "charged twice" not in json.dumps(document)
    assert {c["question"] for c in conversation["evaluation_cases"]} == {
        "Refund for my card ending 9876?",
        "Quux Ltd invoice?",
    }


def test_erasing_leaves_no_trace_of_the_customer_anywhere(zelda):
    assert all(secret in _everything() for secret in SECRETS)  # the search finds them before
    conversation = zelda.conversations.get()
    stand_in = services.customer_erase(customer=zelda)
    text = _everything()
    assert [s for s in SECRETS if s in text] == []
    assert not Customer.objects.filter(pk=zelda.pk).exists()
    # What the reports count stays: the conversation, its messages, its question row.
    conversation.refresh_from_db()
    assert conversation.customer == stand_in and (stand_in.segment, stand_in.language) == ("vip", "de")
    assert stand_in.created_at == zelda.created_at and stand_in.name == stand_in.external_id == ""
    assert list(conversation.messages.values_list("body", flat=True)) == ["[erased]", "[erased]", "Alice joined"]
    assert HandoffQuestion.objects.get(conversation=conversation).text == "[erased]"
    # The note stays (its author, time and mention), its words do not; nor the bell's quote of them.
    note = conversation.notes.get()
    assert note.body == "[erased]" and note.mentions.get().username == "bob"
    assert [n.body for n in note.notifications.all()] == ["[erased]"]
    # The agent's answer stays knowledge; only the customer's phrasing went.
    assert Entry.objects.get(title="Refunds").questions == []


def test_an_erased_customers_embed_id_can_start_afresh(zelda):
    services.customer_erase(customer=zelda)
    again = conversation_services.customer_identify(identity=Identity(external_id="site-user-4711", name="Zelda"))
    assert again.pk != zelda.pk and not again.conversations.exists()
    # Its first message opens a new conversation; the erased one stays with the stand-in.
    conversation_services.message_post_from_customer(customer=again, body="Hi again")
    assert again.conversations.count() == 1 and Conversation.objects.count() == 2


def test_the_dashboard_shows_the_same_figures_after_every_customer_is_erased(week, admin_client):
    def page():
        response = admin_client.get(reverse("analytics"), WEEK)
        assert response.status_code == 200
        return read_page(response.content.decode())

    before = page()
    for customer in Customer.objects.filter(conversations__isnull=False).distinct():
        services.customer_erase(customer=customer)
    after = page()
    assert Customer.objects.filter(name__gt="").count() == 0
    assert after.figures == before.figures
    # The questions' texts were the customers' words: their counts stay, as one erased group.
    questions = before.tables.pop("handoff_questions")
    assert after.tables.pop("handoff_questions") == [
        {"question": "[erased]", "count": str(sum(int(r["count"]) for r in questions))}
    ]
    assert after.tables == before.tables


def _file_sent(customer):
    message = conversation_services.message_post_file_from_customer(
        customer=customer, upload=upload("passport scan.pdf", pdf_bytes())
    )
    return message.attachment


def test_the_export_describes_the_files_sent(customer, media):
    _file_sent(customer)
    exported = selectors.customer_export(customer=customer)
    described = [m["attachment"] for c in exported["conversations"] for m in c["messages"] if "attachment" in m]
    assert [(a["name"], a["content_type"]) for a in described] == [("passport scan.pdf", "application/pdf")]


def test_erasing_deletes_the_files_sent(customer, media, django_capture_on_commit_callbacks):
    stored = media / _file_sent(customer).file.name
    assert stored.exists()
    with django_capture_on_commit_callbacks(execute=True):
        services.customer_erase(customer=customer)
    assert not Attachment.objects.exists()
    assert not stored.exists()
