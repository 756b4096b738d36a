"""`manage.py demo_data`, which `make run` calls on every start."""

import io

import pytest
from django.core.management import call_command
from django.utils import timezone

from conversations import services as conversation_services
from conversations.models import Conversation
from routing import services as routing_services
from routing.models import AgentProfile, Offer, RoutingRule
from sla.models import PriorityRule
from tests.factories import CustomerFactory


def _skills(username: str) -> set[str]:
    return set(AgentProfile.objects.get(user__username=username).skills.values_list("name", flat=True))


@pytest.fixture
def demo(demo_kb, django_user_model):
    call_command("demo_data", stdout=io.StringIO())
    return {u.username: u for u in django_user_model.objects.all()}


def test_it_runs_again_without_duplicating_or_undoing_an_admins_changes(demo):
    assert _skills("alice") == {"billing", "technical"} and _skills("carol") == {"billing", "technical", "german"}
    AgentProfile.objects.get(user=demo["bob"]).skills.clear()
    AgentProfile.objects.get(user=demo["alice"]).skills.filter(name="billing").delete()
    RoutingRule.objects.filter(name="Billing questions").update(is_active=False)
    out = io.StringIO()
    call_command("demo_data", stdout=out)
    assert "alice  / baton-alice  (agent: technical)" in out.getvalue()  # what the sign-in will find
    assert _skills("alice") == {"technical"}  # an agent with skills keeps what the admin left
    assert _skills("bob") == {"technical"}  # one without gets the demo's again
    assert RoutingRule.objects.count() == 3 and not RoutingRule.objects.get(name="Billing questions").is_active
    assert PriorityRule.objects.count() == 1


def test_a_german_speaking_vip_is_urgent_and_goes_to_the_agent_who_speaks_german(
    demo, django_capture_on_commit_callbacks
):
    for name in ("alice", "carol"):
        routing_services.presence_set(user=demo[name], status=AgentProfile.Presence.ONLINE, now=timezone.now())
    customer = CustomerFactory(language="de", segment="vip")
    with django_capture_on_commit_callbacks(execute=True):
        conversation = conversation_services.customer_request_handoff(customer=customer)
    conversation.refresh_from_db()
    assert conversation.priority == Conversation.Priority.P1
    assert list(conversation.routing_state.required_skills.values_list("name", flat=True)) == ["german"]
    assert Offer.objects.get(conversation=conversation).agent == demo["carol"]
