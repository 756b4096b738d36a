"""The search page (conversations/views/search.py and forms.py): agents only, bad
input a message on the page, results one row per conversation, 25 a page."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from tests.factories import ConversationFactory, CustomerFactory, MessageFactory

pytestmark = pytest.mark.django_db

URL = reverse("inbox-search")


def _conversation(body, **fields):
    conversation = ConversationFactory(**fields)
    MessageFactory(conversation=conversation, seq=1, body=body)
    return conversation


def test_it_requires_a_signed_in_agent(client):
    _conversation("secret invoice")
    response = client.get(URL, {"q": "invoice"})
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_the_inbox_links_to_it_with_a_search_box(agent_client):
    page = agent_client.get(reverse("inbox")).content.decode()
    assert f'action="{URL}"' in page
    assert 'name="q"' in page and "data-search-box" in page


@pytest.mark.parametrize("params", [{}, {"q": ""}, {"q": "   "}, {"q": "", "priority": "", "agent": "", "from": ""}])
def test_no_text_and_no_filter_shows_the_hint_and_searches_nothing(agent_client, params):
    _conversation("invoice")
    response = agent_client.get(URL, params)
    assert response.status_code == 200
    assert response.context["page"] is None
    assert b'data-testid="search-hint"' in response.content
    assert b'data-testid="search-results"' not in response.content


def test_a_result_links_to_the_conversation_with_its_id_and_the_match_highlighted(agent_client):
    found = _conversation("My invoice is wrong", customer=CustomerFactory(name="Ivy Invoicer"))
    _conversation("password reset")
    response = agent_client.get(URL, {"q": "invoice"})
    assert response.status_code == 200
    page = response.content.decode()
    assert page.count('data-testid="search-result"') == 1
    assert f'href="/inbox/c/{found.pk}/" data-conversation="{found.pk}"' in page
    assert "My <mark>invoice</mark> is wrong" in page


def test_filters_alone_list_conversations(agent_client, agent):
    p1 = _conversation("anything", pending=True, priority=1)
    _conversation("anything", pending=True, priority=3)
    response = agent_client.get(URL, {"priority": "1"})
    assert response.status_code == 200
    assert [c.pk for c, _ in response.context["rows"]] == [p1.pk]


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"q": "x" * 201}, "at most 200 characters"),
        ({"q": "invoice", "priority": "9"}, "Choose a priority (P1 to P4) from the list."),
        ({"q": "invoice", "priority": "P1"}, "Choose a priority (P1 to P4) from the list."),
        ({"q": "invoice", "status": "deleted"}, "Choose a status from the list."),
        ({"q": "invoice", "reason": "<script>"}, "Choose a handoff reason from the list."),
        ({"q": "invoice", "agent": "999999"}, "No such agent."),
        ({"q": "invoice", "agent": "alice"}, "No such agent."),
        ({"q": "invoice", "from": "garbage"}, "Enter a day as YYYY-MM-DD."),
        ({"q": "invoice", "to": "2026-02-30"}, "Enter a day as YYYY-MM-DD."),
        ({"q": "invoice", "date": "resolved"}, "Choose Started or Handed off."),
        ({"q": "invoice", "from": "2026-05-02", "to": "2026-05-01"}, "The “To” day is before the “From” day."),
        ({"q": "in\x00voice"}, "Null characters are not allowed."),
    ],
)
def test_bad_input_is_a_clear_error_on_the_page_and_keeps_what_was_typed(agent_client, params, message):
    _conversation("invoice")
    response = agent_client.get(URL, params)
    assert response.status_code == 400
    page = response.content.decode()
    assert message in page
    assert response.context["page"] is None
    assert 'data-testid="search-results"' not in page
    if "\x00" not in params["q"]:
        assert f'value="{params["q"]}"' in page  # the text stays in the box


def test_an_inactive_agent_is_not_a_filter(agent_client, other_agent):
    other_agent.is_active = False
    other_agent.save()
    response = agent_client.get(URL, {"agent": other_agent.pk})
    assert response.status_code == 400
    assert b"No such agent." in response.content


def test_hostile_text_is_searched_and_shown_escaped(agent_client):
    _conversation("<img src=x onerror=alert(1)> invoice", customer=CustomerFactory(name="<b>Bold</b>"))
    for text in ["&|!:*()", "'; DROP TABLE conversations_message; --", '"<script>alert(1)</script>', "invoice"]:
        response = agent_client.get(URL, {"q": text})
        assert response.status_code == 200, text
        page = response.content.decode()
        assert "<script>alert(1)" not in page and "<img src=x" not in page and "<b>Bold" not in page
    assert "&lt;img src=x onerror=alert(1)&gt; <mark>invoice</mark>" in page
    assert "&lt;b&gt;Bold&lt;/b&gt;" in page


def test_results_are_paginated_25_a_page_keeping_the_search(agent_client):
    for _ in range(30):
        _conversation("invoice please")
    first = agent_client.get(URL, {"q": "invoice", "priority": "3"})
    assert len(first.context["rows"]) == 25
    assert first.context["page"].paginator.count == 30
    page = first.content.decode()
    assert 'href="?q=invoice&amp;priority=3&amp;page=2"' in page
    second = agent_client.get(URL, {"q": "invoice", "priority": "3", "page": "2"})
    assert len(second.context["rows"]) == 5
    assert {c.pk for c, _ in first.context["rows"]}.isdisjoint({c.pk for c, _ in second.context["rows"]})
    # A page number out of range or not a number: the last or the first page, not an error.
    assert agent_client.get(URL, {"q": "invoice", "page": "999"}).context["page"].number == 2
    assert agent_client.get(URL, {"q": "invoice", "page": "abc"}).context["page"].number == 1


def test_the_page_costs_the_same_queries_for_5_results_as_for_25(agent_client):
    for _ in range(5):
        _conversation("invoice", customer=CustomerFactory(email="x@example.com"))
    agent_client.get(URL, {"q": "invoice"})  # the session's and the header's first reads, cached after
    with CaptureQueriesContext(connection) as few:
        assert len(agent_client.get(URL, {"q": "invoice"}).context["rows"]) == 5
    for _ in range(20):
        _conversation("invoice", customer=CustomerFactory(email="x@example.com"))
    with CaptureQueriesContext(connection) as many:
        assert len(agent_client.get(URL, {"q": "invoice"}).context["rows"]) == 25
    assert len(many) == len(few)
