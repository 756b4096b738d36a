"""The inbox search's reads (conversations/search.py), in both modes: PostgreSQL's
full-text search and SQLite's fallback find the same conversations; only the order
differs (rank, or newest first)."""

from datetime import UTC, date, datetime, timedelta

import pytest
from django.db import connection

from conversations.models import Conversation, Message
from conversations.search import Filters, search_conversations, search_snippets, snippet_highlight, terms_parse
from tests.factories import ConversationFactory, CustomerFactory, MessageFactory

pytestmark = pytest.mark.django_db

HOSTILE = [
    "&|!:*()",
    "invoice & | ! : * ( )",
    "'; DROP TABLE conversations_message; --",
    '"unclosed phrase',
    '""',
    "invoice:*",
    "!!invoice",
    "(invoice | password) & !reset",
    "<->",
    "\\",
    "%_%",
    "or",
    "-",
    "- - -invoice",
    "'\"'\"",
    "ünïcödé 日本語 🙂",
]


def _conversation(*bodies, **fields):
    conversation = ConversationFactory(**fields)
    for seq, body in enumerate(bodies, start=1):
        MessageFactory(conversation=conversation, seq=seq, body=body)
    return conversation


def _found(text, **filters):
    return [c.pk for c in search_conversations(text=text, filters=Filters(**filters))]


def test_a_word_finds_the_conversations_whose_messages_have_it():
    invoice = _conversation("Hello", "My invoice is wrong")
    _conversation("I forgot my password")
    assert _found("invoice") == [invoice.pk]
    assert _found("INVOICE") == [invoice.pk]
    assert _found("refund") == []


def test_every_word_must_match_in_one_message():
    together = _conversation("The invoice is wrong")
    _conversation("An invoice", "Something is wrong")  # the words in two messages
    assert _found("invoice wrong") == [together.pk]


def test_a_conversation_is_listed_once_however_many_of_its_messages_match():
    many = _conversation("invoice one", "invoice two", "invoice three")
    assert _found("invoice") == [many.pk]
    assert search_conversations(text="invoice", filters=Filters()).count() == 1


def test_quotes_ask_for_a_phrase_and_minus_leaves_a_word_out():
    phrase = _conversation("please reset password now")
    reversed_ = _conversation("password reset please")
    assert _found('"reset password"') == [phrase.pk]
    assert sorted(_found("reset password")) == sorted([phrase.pk, reversed_.pk])
    assert _found("password -now") == [reversed_.pk]


def test_the_customers_name_email_and_external_id_find_their_conversations():
    greta = CustomerFactory(name="Greta Gardener", email="greta@example.com", external_id="crm-4711")
    conversation = _conversation("Hello", customer=greta)
    _conversation("Hello, Greta is my colleague's name")  # a message with the name: found too
    assert _found("gardener") == [conversation.pk]
    assert _found("greta@example.com") == [conversation.pk]
    assert _found("crm-4711") == [conversation.pk]
    assert len(_found("greta")) == 2


def test_on_postgres_the_best_match_comes_first_elsewhere_the_newest():
    older = _conversation("refund refund refund, I want a refund for the refund")
    newer = _conversation("a refund maybe")
    customer_named = _conversation("hello", customer=CustomerFactory(name="Refund Refundson"))
    found = _found("refund")
    if connection.vendor == "postgresql":
        assert found[0] == older.pk
        assert set(found) == {older.pk, newer.pk, customer_named.pk}
        ranks = [c.rank for c in search_conversations(text="refund", filters=Filters())]
        assert ranks == sorted(ranks, reverse=True) and ranks[0] > ranks[-1]
    else:
        assert found == [customer_named.pk, newer.pk, older.pk]


def test_a_conversation_matched_by_both_its_messages_and_its_customer_ranks_above_either():
    both = _conversation("my name is Quinn", customer=CustomerFactory(name="Quinn"))
    by_message = _conversation("my name is Quinn")
    by_customer = _conversation("hello", customer=CustomerFactory(name="Quinn"))
    found = _found("quinn")
    assert set(found) == {both.pk, by_message.pk, by_customer.pk}
    if connection.vendor == "postgresql":
        assert found[0] == both.pk


def test_filters_narrow_the_results_with_or_without_text(agent, other_agent):
    now = datetime(2026, 5, 10, 12, tzinfo=UTC)
    p1 = _conversation("invoice", pending=True, priority=1, handed_off_at=now)
    mine = _conversation(
        "invoice",
        status=Conversation.Status.ASSIGNED,
        assigned_agent=agent,
        handed_off_at=now - timedelta(days=3),
        handoff_reason=Conversation.HandoffReason.CUSTOMER_REQUEST,
    )
    theirs = _conversation(
        "invoice",
        status=Conversation.Status.ASSIGNED,
        assigned_agent=other_agent,
        handed_off_at=now,
        handoff_reason=Conversation.HandoffReason.CUSTOMER_REQUEST,
    )
    bot = _conversation("invoice")
    Conversation.objects.filter(pk=bot.pk).update(created_at=now - timedelta(days=30))
    for text in ("", "invoice"):
        assert _found(text, status=Conversation.Status.PENDING_HANDOFF) == [p1.pk]
        assert _found(text, priority=1) == [p1.pk]
        assert _found(text, agent=agent) == [mine.pk]
        assert sorted(_found(text, reason=Conversation.HandoffReason.CUSTOMER_REQUEST)) == sorted([mine.pk, theirs.pk])
        assert _found(text, date_field="handed_off", date_from=date(2026, 5, 7), date_to=date(2026, 5, 7)) == [mine.pk]
        assert sorted(_found(text, date_field="handed_off", date_from=date(2026, 5, 10))) == sorted([p1.pk, theirs.pk])
        assert _found(text, date_to=(now - timedelta(days=29)).date()) == [bot.pk]
        assert _found(text, status=Conversation.Status.ASSIGNED, agent=other_agent, priority=1) == []
    assert _found("password", priority=1) == []


def test_with_no_text_the_filters_list_the_newest_first():
    old = _conversation("a", priority=2)
    new = _conversation("b", priority=2)
    _conversation("c", priority=3)
    Conversation.objects.filter(pk=old.pk).update(created_at=datetime(2026, 1, 1, tzinfo=UTC))
    assert _found("", priority=2) == [new.pk, old.pk]


@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_text_is_a_search_not_an_error(text):
    invoice = _conversation("My invoice is wrong", "password reset")
    found = _found(text)  # evaluates the query: a syntax error would raise here
    snippets = search_snippets(conversation_ids=[invoice.pk], text=text)
    assert set(found) <= {invoice.pk}
    assert set(snippets) <= {invoice.pk}
    assert Message.objects.filter(conversation=invoice).count() == 2


def test_text_with_nothing_to_search_for_finds_nothing():
    _conversation("& | ! : * ( )", "anything")
    for text in ("&|!:*()", "-anything", '""', "or"):
        assert _found(text) == []


def test_snippets_come_from_the_best_message_highlighted_and_escaped():
    conversation = _conversation("<script>alert(1)</script> my invoice", "unrelated", "thanks")
    customer_only = _conversation("hello", customer=CustomerFactory(name="Invoice Person"))
    snippets = search_snippets(conversation_ids=[conversation.pk, customer_only.pk], text="invoice")
    assert snippets == {conversation.pk: "&lt;script&gt;alert(1)&lt;/script&gt; my <mark>invoice</mark>"}


def test_the_snippet_is_the_most_relevant_message_on_postgres_the_latest_elsewhere():
    conversation = _conversation("invoice invoice invoice again", "an invoice")
    snippet = search_snippets(conversation_ids=[conversation.pk], text="invoice")[conversation.pk]
    if connection.vendor == "postgresql":
        assert snippet.count("<mark>") == 3
    else:
        assert snippet == "an <mark>invoice</mark>"


def test_a_snippet_is_cut_around_the_first_match():
    body = "word " * 100 + "the invoice here " + "tail " * 100
    snippet = snippet_highlight(body, ("invoice",), whole_words=True)
    assert snippet.startswith("…") and snippet.endswith("…")
    assert "<mark>invoice</mark>" in snippet
    assert len(snippet) < 250


def test_highlighting_matches_whole_words_as_postgres_does_or_anywhere_as_icontains_does():
    body = "Invoices: one invoice, INVOICE<b>"
    assert snippet_highlight(body, ("invoice",), whole_words=True) == (
        "Invoices: one <mark>invoice</mark>, <mark>INVOICE</mark>&lt;b&gt;"
    )
    assert snippet_highlight(body, ("invoice",), whole_words=False) == (
        "<mark>Invoice</mark>s: one <mark>invoice</mark>, <mark>INVOICE</mark>&lt;b&gt;"
    )
    # A word that is markup once escaped is matched in the text, not in its escape.
    assert snippet_highlight("a &amp; b", ("amp",), whole_words=True) == "a &amp;<mark>amp</mark>; b"


def test_terms_read_the_text_as_websearch_does():
    terms = terms_parse('Invoice "Reset  Password" -spam or x:*  ()')
    assert terms.required == ("invoice", "reset password", "x")
    assert terms.excluded == ("spam",)
    assert terms.words == ("invoice", "reset", "password", "x")
    assert terms_parse("&|!:*()").required == ()
    assert terms_parse("greta@example.com").required == ("greta", "example", "com")


def test_the_gin_indexes_exist_on_postgres_only_and_the_search_uses_them():
    with connection.cursor() as cursor:
        message_indexes = connection.introspection.get_constraints(cursor, Message._meta.db_table)
        customer_indexes = connection.introspection.get_constraints(cursor, "conversations_customer")
    present = {"message_body_search_idx" in message_indexes, "customer_search_idx" in customer_indexes}
    if connection.vendor != "postgresql":
        assert present == {False}
        return
    assert present == {True}
    _conversation("invoice")
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")  # a tiny table: make the planner show its options
    plan = search_conversations(text="invoice", filters=Filters()).explain()
    assert "message_body_search_idx" in plan
    assert "customer_search_idx" in plan
