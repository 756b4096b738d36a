"""Internal notes (conversations/services/notes.py and their reads): stored beside
the messages, never among them; a note leaves its conversation as it was; its
@mentions name agents by id and notify each once, never the author or a stranger."""

import pytest
from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext

from conversations import broadcast, selectors, services
from conversations.models import Conversation, Message, Note
from sla.models import Notification, SLATimer
from tests.factories import ConversationFactory, CustomerFactory, UserFactory
from tests.sla.conftest import policy  # noqa: F401  (the default SLA policy: handoffs start timers)

pytestmark = pytest.mark.django_db


@pytest.fixture
def handed_off(policy):  # noqa: F811
    """A conversation waiting for an agent, its SLA timers running, one customer message in."""
    customer = CustomerFactory()
    services.message_post_from_customer(customer=customer, body="My sync is stuck")
    return services.customer_request_handoff(customer=customer)


def _state(conversation: Conversation) -> tuple:
    conversation.refresh_from_db()
    timers = sorted(SLATimer.objects.filter(conversation=conversation).values_list("kind", "state", "stopped_at"))
    return (
        conversation.status,
        conversation.last_seq,
        conversation.version,
        conversation.first_agent_reply_at,
        conversation.updated_at,
        conversation.messages.count(),
        timers,
    )


def test_any_agent_notes_a_conversation_without_changing_it(handed_off, agent):
    before = _state(handed_off)
    note = services.note_add(conversation_id=handed_off.pk, author=agent, body="  Looks like the 2.3 bug  ")
    assert (note.body, note.author, note.conversation_id) == ("Looks like the 2.3 bug", agent, handed_off.pk)
    # Drawn after the last message there was; no number of its own taken.
    assert note.after_seq == handed_off.last_seq
    assert _state(handed_off) == before
    assert before[0] == Conversation.Status.PENDING_HANDOFF
    assert {state for _kind, state, _stopped in before[6]} == {SLATimer.State.RUNNING}


def test_a_resolved_conversation_takes_notes_too(agent):
    conversation = ConversationFactory(status=Conversation.Status.RESOLVED)
    note = services.note_add(conversation_id=conversation.pk, author=agent, body="Customer called back by phone")
    conversation.refresh_from_db()
    assert conversation.status == Conversation.Status.RESOLVED and conversation.notes.get() == note


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ("", "empty"),
        ("   \n ", "empty"),
        (None, "empty"),
        (42, "empty"),
        ("a\x00b", "bad_request"),
        ("\ud800", "bad_request"),
    ],
)
def test_a_note_that_cannot_be_stored_says_why_and_stores_nothing(agent, body, code):
    conversation = ConversationFactory()
    with pytest.raises(ValidationError) as raised:
        services.note_add(conversation_id=conversation.pk, author=agent, body=body)
    assert raised.value.code == code
    assert not Note.objects.exists()


def test_a_note_over_the_message_limit_is_refused_with_the_limit(agent, settings):
    settings.BATON_MAX_MESSAGE_CHARS = 50
    conversation = ConversationFactory()
    services.note_add(conversation_id=conversation.pk, author=agent, body="x" * 50)
    with pytest.raises(ValidationError) as raised:
        services.note_add(conversation_id=conversation.pk, author=agent, body="x" * 51)
    assert raised.value.code == "too_long"
    assert "at most 50 characters (this one has 51)" in raised.value.messages[0]
    assert Note.objects.count() == 1


def test_a_note_on_a_conversation_that_does_not_exist_is_not_found(agent):
    with pytest.raises(Conversation.DoesNotExist):
        services.note_add(conversation_id=987654, author=agent, body="hello")


def test_only_signed_in_active_agents_write_notes(agent):
    conversation = ConversationFactory()
    agent.is_active = False
    for author in (AnonymousUser(), agent, None):
        with pytest.raises(PermissionDenied):
            services.note_add(conversation_id=conversation.pk, author=author, body="hello")
    assert not Note.objects.exists()


def test_sent_twice_with_its_client_id_it_is_stored_once(agent, other_agent):
    conversation = ConversationFactory()
    first = services.note_add(conversation_id=conversation.pk, author=agent, body="@bob look", client_id="n-1")
    again = services.note_add(conversation_id=conversation.pk, author=agent, body="@bob look", client_id="n-1")
    assert again.pk == first.pk and Note.objects.count() == 1
    assert Notification.objects.filter(user=other_agent).count() == 1
    with pytest.raises(ValidationError):
        services.note_add(conversation_id=conversation.pk, author=agent, body="x", client_id="bad id!")


@pytest.mark.parametrize(
    ("body", "names"),
    [
        ("@bob can you look?", ["bob"]),
        ("ping @Bob, then @carol.", ["bob", "carol"]),
        ("(@bob) and @bob again and @BOB", ["bob"]),
        ("mail bob@example.com or x@bob", []),
        ("@ alone, @@bob, a@b", []),
        ("@first.last+x-y_z", ["first.last+x-y_z"]),
    ],
)
def test_mentions_are_read_as_the_server_resolves_them(body, names):
    assert services.mention_names(body) == names


def test_mentions_keep_the_agents_by_id_and_notify_each_once(agent, other_agent):
    carol = UserFactory(username="carol", first_name="Carol", is_active=False)
    conversation = ConversationFactory()
    note = services.note_add(
        conversation_id=conversation.pk,
        author=agent,
        body="@bob and @BOB again, @alice (me), @carol (gone), @nobody",
    )
    assert list(note.mentions.all()) == [other_agent]
    (notification,) = Notification.objects.all()
    assert (notification.user, notification.kind, notification.note, notification.conversation) == (
        other_agent,
        Notification.Kind.MENTION,
        note,
        conversation,
    )
    assert notification.title == f"Alice mentioned you on conversation #{conversation.pk}"
    assert notification.url == f"/inbox/c/{conversation.pk}/"
    assert notification.body == note.body and notification.read_at is None
    # Renaming the agent keeps the mention: it is the user, not the text.
    other_agent.username = "robert"
    other_agent.save()
    assert list(Note.objects.get(pk=note.pk).mentions.all()) == [other_agent]
    assert not Notification.objects.filter(user__in=[agent, carol]).exists()


def test_a_note_naming_nobody_known_notifies_nobody(agent):
    conversation = ConversationFactory()
    services.note_add(conversation_id=conversation.pk, author=agent, body="@alice note to self, @ghost")
    assert not Notification.objects.exists()


def test_a_long_note_is_quoted_short_in_the_bell(agent, other_agent):
    conversation = ConversationFactory()
    services.note_add(conversation_id=conversation.pk, author=agent, body="@bob " + "word " * 200)
    body = Notification.objects.get().body
    assert len(body) <= 200 and body.endswith("…") and body.startswith("@bob word")


def test_notes_never_reach_the_customers_reads(agent):
    """The customer's history and catch-up read messages only."""
    customer = CustomerFactory()
    services.message_post_from_customer(customer=customer, body="hello")
    conversation = customer.conversations.get()
    services.note_add(conversation_id=conversation.pk, author=agent, body="VIP, be careful: secret-note-text")
    history = selectors.customer_messages(customer=customer)
    caught_up = selectors.customer_catch_up(customer=customer, conversation_id=conversation.pk, after_seq=0)
    assert [m.body for m in history] == ["hello"] == [m.body for m in caught_up.messages]
    assert not Message.objects.filter(body__contains="secret-note-text").exists()


def test_the_page_reads_notes_oldest_first_with_authors_and_mentions_in_two_queries(agent, other_agent):
    conversation = ConversationFactory()
    for i in range(5):
        services.note_add(conversation_id=conversation.pk, author=agent, body=f"note {i} @bob")
    with CaptureQueriesContext(connection) as queries:
        notes = selectors.conversation_notes(conversation=conversation)
        payloads = [broadcast.note_payload(n) for n in notes]
    assert len(queries) == 2  # the notes with their authors, then every note's mentions
    assert [p["body"] for p in payloads] == [f"note {i} @bob" for i in range(5)]
    assert payloads[0]["author"] == "Alice" and payloads[0]["author_id"] == agent.pk
    assert payloads[0]["mentions"] == [{"id": other_agent.pk, "username": "bob", "name": "Bob"}]


def test_only_the_latest_notes_are_read_when_there_are_many(agent):
    conversation = ConversationFactory()
    for i in range(4):
        services.note_add(conversation_id=conversation.pk, author=agent, body=f"note {i}")
    assert [n.body for n in selectors.conversation_notes(conversation=conversation, limit=2)] == ["note 2", "note 3"]


def test_mention_suggestions_match_username_or_first_name_of_active_agents(agent, other_agent):
    UserFactory(username="bobby", first_name="Roberta")
    UserFactory(username="zed", first_name="Bobcat")
    UserFactory(username="boris", first_name="Boris", is_active=False)
    assert [u.username for u in selectors.mention_candidates(query="BOB")] == ["bob", "bobby", "zed"]
    assert [u.username for u in selectors.mention_candidates(query="rob")] == ["bobby"]
    assert [u.username for u in selectors.mention_candidates(query="", limit=2)] == ["alice", "bob"]
    assert selectors.mention_candidates(query="'; DROP TABLE --") == []
