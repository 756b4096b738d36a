import pytest
from django.test import Client
from django.urls import reverse

from knowledge.models import BotConfig, Entry, EvalCase

pytestmark = pytest.mark.django_db

URL = "admin:knowledge_botconfig_tradeoff"


@pytest.fixture
def admin_client(admin_user):
    client = Client()
    client.force_login(admin_user)
    return client


def test_the_chart_shows_the_live_bot_on_the_stored_cases(demo_kb, admin_client):
    EvalCase.objects.create(
        question="How do I reset my password?",
        expected=Entry.objects.get(external_id="reset-password"),
        outcome="answered",
    )
    EvalCase.objects.create(question="What's the weather like on Mars tomorrow?", outcome="handed_off")
    response = admin_client.get(reverse(URL))
    assert response.status_code == 200
    rows = {m.threshold: m for m in response.context["tradeoff"].rows}
    assert len(rows) == 21
    assert rows[0.0].in_scope_accuracy == 1.0 and rows[0.0].oos_recall == 0.0
    assert rows[0.5].in_scope_accuracy == 1.0 and rows[0.5].oos_recall == 1.0
    html = response.content.decode()
    assert html.count("<polyline") == 3 and "now 0.27" in html


def test_an_admin_sets_the_threshold_from_the_table(admin_client):
    response = admin_client.post(reverse(URL), {"threshold": "0.35"})
    assert response.status_code == 302
    assert BotConfig.load().confidence_threshold == pytest.approx(0.35)
    admin_client.post(reverse(URL), {"threshold": "7"})
    assert BotConfig.load().confidence_threshold == pytest.approx(0.35)


def test_without_cases_it_says_how_they_come(admin_client):
    assert "No labelled questions yet" in admin_client.get(reverse(URL)).content.decode()


def test_agents_cannot_see_it(agent_client):
    assert agent_client.get(reverse(URL)).status_code == 302
