"""`manage.py demo_data`, which `make run` calls on every start: it seeds an empty
database once, with passwords nobody else knows, and never in production."""

import io
import re

import pytest
from django.contrib.auth import authenticate
from django.core.management import CommandError, call_command
from django.test import RequestFactory
from django.utils import timezone

from conversations import services as conversation_services
from conversations.models import Conversation
from knowledge.models import Entry
from routing import services as routing_services
from routing.models import AgentProfile, Offer, RoutingRule
from sla.models import PriorityRule
from tests.factories import CustomerFactory, UserFactory

pytestmark = pytest.mark.django_db

SIGN_IN = re.compile(r"^\s+(\w+)\s+/\s+(\S+)\s+\((.*)\)$", re.MULTILINE)


def _run() -> str:
    out = io.StringIO()
    call_command("demo_data", stdout=out)
    return out.getvalue()


def _skills(username: str) -> set[str]:
    return set(AgentProfile.objects.get(user__username=username).skills.values_list("name", flat=True))


@pytest.fixture
def demo(django_user_model):
    printed = {username: (password, role) for username, password, role in SIGN_IN.findall(_run())}
    return {u.username: u for u in django_user_model.objects.all()}, printed


def _sign_in(username, password):
    return authenticate(RequestFactory().post("/login/"), username=username, password=password)


def test_an_empty_database_gets_the_team_with_fresh_passwords_it_prints(demo):
    users, printed = demo
    assert set(printed) == set(users) == {"admin", "alice", "bob", "carol"}
    assert printed["admin"][1] == "admin" and printed["carol"][1] == "agent: billing, technical, german"
    passwords = [password for password, _ in printed.values()]
    assert len(set(passwords)) == 4 and all(len(p) >= 16 and not p.startswith("baton-") for p in passwords)
    for username, (password, _) in printed.items():  # what the sign-in finds
        assert _sign_in(username, password) == users[username]
    assert users["admin"].is_superuser and not users["alice"].is_staff
    assert _skills("alice") == {"billing", "technical"} and _skills("carol") == {"billing", "technical", "german"}
    assert Entry.objects.exists() and RoutingRule.objects.count() == 3 and PriorityRule.objects.count() == 1


def test_a_deleted_or_changed_user_is_never_made_again(demo):
    users, printed = demo
    users["admin"].delete()
    users["alice"].set_password("alices-own")
    users["alice"].save()
    AgentProfile.objects.get(user=users["bob"]).skills.clear()
    out = _run()
    assert "only loaded into an empty one" in out and not SIGN_IN.search(out)
    assert not users["admin"].__class__.objects.filter(username="admin").exists()
    assert _sign_in(username="alice", password="alices-own") == users["alice"]
    assert _sign_in(username="bob", password=printed["bob"][0]) == users["bob"]
    assert _skills("bob") == set()
    assert RoutingRule.objects.count() == 3 and PriorityRule.objects.count() == 1


def test_a_database_with_any_user_is_left_alone(django_user_model):
    UserFactory(username="owner", is_staff=True)
    assert "only loaded into an empty one" in _run()
    assert list(django_user_model.objects.values_list("username", flat=True)) == ["owner"]
    assert not Entry.objects.exists() and not RoutingRule.objects.exists()


def test_it_refuses_to_run_in_production(settings, django_user_model):
    settings.PRODUCTION = True
    with pytest.raises(CommandError, match="BATON_PRODUCTION=1"):
        _run()
    assert not django_user_model.objects.exists() and not Entry.objects.exists()


def test_a_german_speaking_vip_is_urgent_and_goes_to_the_agent_who_speaks_german(
    demo, django_capture_on_commit_callbacks
):
    users, _ = demo
    for name in ("alice", "carol"):
        routing_services.presence_set(user=users[name], status=AgentProfile.Presence.ONLINE, now=timezone.now())
    customer = CustomerFactory(language="de", segment="vip")
    with django_capture_on_commit_callbacks(execute=True):
        conversation = conversation_services.customer_request_handoff(customer=customer)
    conversation.refresh_from_db()
    assert conversation.priority == Conversation.Priority.P1
    assert list(conversation.routing_state.required_skills.values_list("name", flat=True)) == ["german"]
    assert Offer.objects.get(conversation=conversation).agent == users["carol"]
