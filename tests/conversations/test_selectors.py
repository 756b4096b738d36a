"""The pure pick of the agent reply worth teaching the bot (``reply_to_learn``), on
realistic transcripts in English and German; the customer panel's reads (history,
attributes, the bot turns before a handoff)."""

from datetime import UTC, datetime, timedelta

import pytest

from conversations import selectors
from conversations.models import Conversation, Message
from conversations.selectors import LEARN_MIN_WORDS, reply_core, reply_to_learn
from tests.factories import ConversationFactory, CustomerFactory, MessageFactory

CUSTOMER, AGENT, BOT, SYSTEM = "customer", "agent", "bot", "system"


@pytest.mark.parametrize(
    "body",
    [
        "Hi Anna!",
        "Thanks, one moment",
        "You're welcome, have a nice day",
        "You\u2019re welcome, have a nice day!",  # a typographic apostrophe
        "Hallo Herr Müller!",
        "Gern geschehen, schönen Tag noch!",
        "Danke, einen Moment bitte.",
        "Is there anything else I can help you with?",
    ],
)
def test_greetings_acknowledgements_and_pleasantries_have_no_core(body):
    assert reply_core(body) == ""


@pytest.mark.parametrize(
    ("body", "core"),
    [
        (
            "Hi Anna! You can change the delivery address under Account > Orders until the parcel ships."
            " Hope that helps!",
            "You can change the delivery address under Account > Orders until the parcel ships.",
        ),
        (
            "Hallo Herr Müller,\nIhre Rücksendung ist angekommen, die Erstattung kommt in drei bis fünf Werktagen."
            "\n\nViele Grüße\nBob",
            "Ihre Rücksendung ist angekommen, die Erstattung kommt in drei bis fünf Werktagen.",
        ),
        (
            "Good morning Sam, open Settings > Security and choose Reset password. Does that help?",
            "open Settings > Security and choose Reset password.",
        ),
        (
            "Sehr geehrte Frau Schmidt, die Rechnung finden Sie unter Konto > Rechnungen als PDF. Kann ich sonst noch"
            " helfen?",
            "die Rechnung finden Sie unter Konto > Rechnungen als PDF.",
        ),
        # A long sentence that starts with thanks carries content: kept.
        (
            "Thank you for your patience, the refund of 20 EUR has been issued to your card.",
            "Thank you for your patience, the refund of 20 EUR has been issued to your card.",
        ),
        # "Hi" must be a word of its own, and a greeting runs to its punctuation: no content eaten.
        (
            "History of your orders is under Account > Orders, with invoices.",
            "History of your orders is under Account > Orders, with invoices.",
        ),
        (
            "Hey there we shipped your replacement yesterday by DHL, tracking follows.",
            "Hey there we shipped your replacement yesterday by DHL, tracking follows.",
        ),
        (
            "The refund went out today.\n\nBest regards,\nAlice",
            "The refund went out today.",
        ),
    ],
)
def test_the_core_of_a_reply_loses_its_greeting_sign_off_and_closing_only(body, core):
    assert reply_core(body) == core


def test_an_english_transcript_picks_the_answer_not_the_greeting_or_the_goodbye():
    transcript = [
        (CUSTOMER, "How do I change my delivery address?"),
        (BOT, "I'm not sure. Let me get a person for you."),
        (SYSTEM, "Alice joined the conversation."),
        (AGENT, "Hi Anna!"),
        (AGENT, "Thanks, one moment"),
        (CUSTOMER, "The order is 4411, it has not shipped yet"),
        (
            AGENT,
            "Hi Anna, as long as it has not shipped you can change the address under Account > Orders > Edit."
            " Hope that helps!",
        ),
        (CUSTOMER, "Perfect, thank you!"),
        (AGENT, "You're welcome, have a nice day"),
    ]
    assert reply_to_learn(transcript) == (
        6,
        "as long as it has not shipped you can change the address under Account > Orders > Edit.",
    )


def test_a_german_transcript_picks_the_answer():
    transcript = [
        (CUSTOMER, "Wo finde ich meine Rechnung?"),
        (AGENT, "Hallo Frau Schmidt, einen Moment bitte."),
        (
            AGENT,
            "Guten Tag! Ihre Rechnungen liegen unter Konto > Rechnungen, jede als PDF zum Herunterladen.\n\nViele"
            " Grüße\nBob",
        ),
        (CUSTOMER, "Danke!"),
        (AGENT, "Gern geschehen, schönen Tag noch!"),
    ]
    assert reply_to_learn(transcript) == (
        2,
        "Ihre Rechnungen liegen unter Konto > Rechnungen, jede als PDF zum Herunterladen.",
    )


def test_a_question_back_to_the_customer_is_not_an_answer_however_long():
    transcript = [
        (CUSTOMER, "My parcel never arrived"),
        (AGENT, "Hi! Could you send me the order number and the address you ordered it to, please?"),
        (CUSTOMER, "4411, Hauptstraße 1"),
        (AGENT, "Found it: the parcel is at the DHL depot and will be delivered tomorrow."),
    ]
    assert reply_to_learn(transcript) == (3, "Found it: the parcel is at the DHL depot and will be delivered tomorrow.")


def test_the_longest_substantive_reply_wins():
    short = "Your order shipped yesterday by DHL, it arrives tomorrow."
    long = "Your order shipped yesterday by DHL; the tracking number is in the e-mail we sent, it arrives tomorrow."
    assert reply_to_learn([(AGENT, short), (AGENT, long), (AGENT, short)]) == (1, long)


def test_nothing_to_learn_when_every_reply_is_short_or_a_pleasantry():
    few = " ".join(["word"] * (LEARN_MIN_WORDS - 1))
    transcript = [(AGENT, "Hi Anna!"), (AGENT, few), (AGENT, "Thanks, one moment"), (CUSTOMER, few + " " * 3 + few)]
    assert reply_to_learn(transcript) is None
    assert reply_to_learn([(AGENT, few + " more")]) == (0, few + " more")  # exactly the minimum counts
    assert reply_to_learn([]) is None


# The customer panel

Status, Reason = Conversation.Status, Conversation.HandoffReason
T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


def _past(customer, *, days: int, messages: int = 0, **fields) -> Conversation:
    """A conversation of ``customer`` started ``days`` after T0, with ``messages`` messages."""
    fields.setdefault("status", Status.RESOLVED)
    conversation = ConversationFactory(customer=customer, **fields)
    Conversation.objects.filter(pk=conversation.pk).update(created_at=T0 + timedelta(days=days))
    for seq in range(1, messages + 1):
        MessageFactory(conversation=conversation, seq=seq)
    return conversation


@pytest.mark.django_db
def test_history_gives_each_outcome_newest_first_with_message_counts(customer, agent):
    handed = {"handed_off_at": T0, "handoff_reason": Reason.LOW_CONFIDENCE}
    by_bot = _past(customer, days=1, messages=2)
    by_agent = _past(customer, days=2, messages=3, assigned_agent=agent, **handed)
    unanswered = _past(customer, days=3, **handed)
    open_ = _past(customer, days=4, messages=1, status=Status.BOT)
    history = selectors.customer_history(customer=customer)
    assert [(p.pk, p.outcome, p.message_count) for p in history] == [
        (open_.pk, "Open", 1),
        (unanswered.pk, "Handed off (Bot not confident)", 0),
        (by_agent.pk, "Resolved by Alice", 3),
        (by_bot.pk, "Resolved by the bot", 2),
    ]
    assert history[0].created_at == T0 + timedelta(days=4)


@pytest.mark.django_db
def test_history_leaves_out_this_conversation_and_other_customers_and_stops_at_the_limit(customer, other_customer):
    mine = [_past(customer, days=day) for day in range(12)]
    _past(other_customer, days=20)
    history = selectors.customer_history(customer=customer, exclude=mine[-1].pk)
    assert [p.pk for p in history] == [c.pk for c in reversed(mine[1:-1])]
    assert len(selectors.customer_history(customer=customer, limit=3)) == 3


@pytest.mark.django_db
def test_history_is_one_query_however_many_conversations_and_messages(customer, agent, django_assert_num_queries):
    for day in range(10):
        _past(customer, days=day, messages=3, assigned_agent=agent, handed_off_at=T0, handoff_reason=Reason.BOT_FAILED)
    with django_assert_num_queries(1):
        history = selectors.customer_history(customer=customer)
        assert {p.outcome for p in history} == {"Resolved by Alice"}


def test_attributes_are_sorted_text_with_nested_values_as_compact_json_and_a_count_of_the_rest():
    customer = CustomerFactory.build(
        attributes={"plan": "pro", "seats": 12, "tags": ["a", "b"], "billing": {"due": None, "ok": True}}
    )
    assert selectors.customer_attributes(customer=customer) == (
        [("billing", '{"due":null,"ok":true}'), ("plan", "pro"), ("seats", "12"), ("tags", '["a","b"]')],
        0,
    )
    many = CustomerFactory.build(attributes={f"k{n:02}": n for n in range(25)})
    shown, more = selectors.customer_attributes(customer=many)
    assert (len(shown), shown[0], shown[-1], more) == (20, ("k00", "0"), ("k19", "19"), 5)
    assert selectors.customer_attributes(customer=CustomerFactory.build(attributes=["not", "a", "dict"])) == ([], 0)


def _said(conversation, seq, sender, body, confidence=None, *, minutes: int):
    message = MessageFactory(conversation=conversation, seq=seq, sender=sender, body=body, confidence=confidence)
    Message.objects.filter(pk=message.pk).update(created_at=T0 + timedelta(minutes=minutes))
    return message


@pytest.mark.django_db
def test_the_trail_is_the_last_questions_before_the_handoff_with_the_bots_answers(customer, django_assert_num_queries):
    conversation = ConversationFactory(
        customer=customer,
        status=Status.PENDING_HANDOFF,
        handoff_reason=Reason.LOW_CONFIDENCE,
        handed_off_at=T0 + timedelta(minutes=10),
    )
    _said(conversation, 1, "customer", "Old question", minutes=1)
    _said(conversation, 2, "bot", "Old answer", 0.9, minutes=2)
    _said(conversation, 3, "customer", "Where is my parcel?", minutes=3)
    _said(conversation, 4, "bot", "Parcels ship in 2 days.", 0.41, minutes=4)
    _said(conversation, 5, "customer", "It has been a week", minutes=5)
    _said(conversation, 6, "bot", "Try tracking it.", 0.32, minutes=6)
    _said(conversation, 7, "customer", "A person please", minutes=9)
    _said(conversation, 8, "system", "Handed off", minutes=10)
    _said(conversation, 9, "customer", "Hello?", minutes=12)  # after the handoff
    conversation.refresh_from_db()
    with django_assert_num_queries(1):
        trail = selectors.handoff_trail(conversation=conversation, limit=3)
    assert [(t.question.body, [(a.body, a.confidence) for a in t.answers]) for t in trail] == [
        ("Where is my parcel?", [("Parcels ship in 2 days.", 0.41)]),
        ("It has been a week", [("Try tracking it.", 0.32)]),
        ("A person please", []),
    ]
    assert len(selectors.handoff_trail(conversation=conversation, limit=10)) == 4


@pytest.mark.django_db
def test_a_conversation_never_handed_off_has_no_trail_and_a_bot_greeting_stands_alone(customer):
    conversation = ConversationFactory(customer=customer)
    _said(conversation, 1, "bot", "Welcome back", 0.8, minutes=0)
    _said(conversation, 2, "customer", "Hi", minutes=1)
    assert selectors.handoff_trail(conversation=conversation) == []
    Conversation.objects.filter(pk=conversation.pk).update(
        status=Status.PENDING_HANDOFF, handed_off_at=T0 + timedelta(minutes=5)
    )
    conversation.refresh_from_db()
    trail = selectors.handoff_trail(conversation=conversation)
    assert [(t.question and t.question.body, [a.body for a in t.answers]) for t in trail] == [
        (None, ["Welcome back"]),
        ("Hi", []),
    ]


@pytest.mark.django_db
def test_the_inbox_shows_a_file_without_caption_by_its_name(customer, agent, media):
    from conversations import services
    from tests.uploads import pdf_bytes, upload

    services.customer_request_handoff(customer=customer)
    services.message_post_file_from_customer(customer=customer, upload=upload("invoice.pdf", pdf_bytes()))
    [row] = selectors.inbox_conversations(view="pending", user=agent)
    assert row.last_body == "📎 invoice.pdf"
    services.message_post_file_from_customer(customer=customer, upload=upload("b.pdf", pdf_bytes()), caption="see")
    [row] = selectors.inbox_conversations(view="pending", user=agent)
    assert row.last_body == "see"
