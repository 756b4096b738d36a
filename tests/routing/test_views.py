import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from conversations.models import Conversation
from routing import services
from routing.models import AgentProfile, Offer, Skill
from tests.factories import ConversationFactory
from tests.routing.conftest import make_online


@pytest.mark.parametrize(
    ("name", "args", "method"),
    [
        ("routing-board", [], "get"),
        ("routing-presence", [], "post"),
        ("routing-take", [1], "post"),
        ("routing-transfer", [1], "get"),
        ("routing-decline", [1], "post"),
    ],
)
def test_it_requires_login(client, name, args, method, db):
    response = getattr(client, method)(reverse(name, args=args))
    assert response.status_code == 302
    assert response.url.startswith(reverse("login"))


def test_the_board_shows_an_agent_only_themself_and_an_admin_everyone(agent_client, agent, other_agent, admin_user):
    make_online(agent, capacity=3)
    make_online(other_agent)
    mine = agent_client.get(reverse("routing-board")).json()
    assert [a["name"] for a in mine["agents"]] == ["Alice"]
    assert mine["agents"][0] == {
        "id": agent.pk,
        "name": "Alice",
        "presence": "online",
        "capacity": 3,
        "active": 0,
        "offered": 0,
    }
    admin = Client()
    admin.force_login(admin_user)
    # The admin's own row is made on their first look.
    assert {a["name"] for a in admin.get(reverse("routing-board")).json()["agents"]} == {"Alice", "Bob", "Ada"}


def test_the_board_lists_ones_open_offers(agent_client, agent, django_capture_on_commit_callbacks):
    make_online(agent)
    conversation = ConversationFactory(pending=True)
    with django_capture_on_commit_callbacks(execute=True):
        services.route()
    offers = agent_client.get(reverse("routing-board")).json()["offers"]
    assert [o["conversation"] for o in offers] == [conversation.pk]
    assert 0 < offers[0]["expires_in_ms"] <= 60_000


def test_presence_can_be_set_by_form_and_bad_values_are_refused(agent_client, agent):
    response = agent_client.post(reverse("routing-presence"), {"status": "away", "next": "/inbox/?view=mine"})
    assert response.url == "/inbox/?view=mine"
    assert AgentProfile.objects.get(user=agent).presence == "away"
    agent_client.post(reverse("routing-presence"), {"status": "asleep", "next": "https://evil.example/"})
    assert AgentProfile.objects.get(user=agent).presence == "away"


def test_the_inbox_header_shows_ones_presence(agent_client, agent):
    make_online(agent)
    page = agent_client.get(reverse("inbox")).content.decode()
    assert 'data-testid="presence-select"' in page
    assert '<option value="online" selected>' in page


def test_accept_takes_the_conversation_and_at_capacity_says_why(agent_client, agent):
    make_online(agent, capacity=1)
    first, second = ConversationFactory(pending=True), ConversationFactory(pending=True)
    assert agent_client.post(reverse("routing-take", args=[first.pk])).url == reverse(
        "inbox-conversation", args=[first.pk]
    )
    response = agent_client.post(reverse("routing-take", args=[second.pk]), follow=True)
    assert "already has as many conversations as their capacity allows" in response.content.decode()
    second.refresh_from_db()
    assert second.status == Conversation.Status.PENDING_HANDOFF


def test_the_conversation_pages_accept_button_goes_through_routing(agent_client):
    conversation = ConversationFactory(pending=True)
    page = agent_client.get(reverse("inbox-conversation", args=[conversation.pk])).content.decode()
    assert reverse("routing-take", args=[conversation.pk]) in page


def test_declining_someone_elses_offer_is_refused(agent_client, agent, other_agent, django_capture_on_commit_callbacks):
    make_online(other_agent)
    ConversationFactory(pending=True)
    with django_capture_on_commit_callbacks(execute=True):
        services.route()
    offer = Offer.objects.get()
    response = agent_client.post(reverse("routing-decline", args=[offer.pk]), follow=True)
    assert "made to someone else" in response.content.decode()
    assert Offer.objects.get().state == Offer.State.OPEN


def test_transfer_form_only_for_the_handling_agent(agent_client, agent, other_agent):
    make_online(agent)
    conversation = ConversationFactory(pending=True)
    services.conversation_take(conversation_id=conversation.pk, agent=other_agent)
    assert agent_client.get(reverse("routing-transfer", args=[conversation.pk])).status_code == 204
    bob = Client()
    bob.force_login(other_agent)
    form = bob.get(reverse("routing-transfer", args=[conversation.pk])).content.decode()
    assert f'value="agent:{agent.pk}">' in form
    assert f'value="agent:{other_agent.pk}"' not in form
    services.presence_set(user=agent, status=AgentProfile.Presence.AWAY, now=timezone.now())
    form = bob.get(reverse("routing-transfer", args=[conversation.pk])).content.decode()
    assert f'value="agent:{agent.pk}" disabled>' in form  # shown, but not a target while away


def test_transfer_by_form_to_an_agent_who_went_away_says_so(agent_client, agent, other_agent):
    make_online(agent)
    make_online(other_agent)
    conversation = ConversationFactory(pending=True)
    services.conversation_take(conversation_id=conversation.pk, agent=agent)
    services.presence_set(user=other_agent, status=AgentProfile.Presence.AWAY, now=timezone.now())
    response = agent_client.post(
        reverse("routing-transfer", args=[conversation.pk]), {"target": f"agent:{other_agent.pk}"}, follow=True
    )
    assert "Bob is away: transfer to someone online, or to a skill group." in response.content.decode()
    conversation.refresh_from_db()
    assert conversation.assigned_agent == agent


def test_transfer_by_form_to_an_agent_and_to_a_skill(agent_client, agent, other_agent):
    make_online(agent)
    make_online(other_agent)
    skill = Skill.objects.create(name="billing")
    conversation = ConversationFactory(pending=True)
    services.conversation_take(conversation_id=conversation.pk, agent=agent)
    response = agent_client.post(
        reverse("routing-transfer", args=[conversation.pk]), {"target": f"agent:{other_agent.pk}", "note": "<b>vip</b>"}
    )
    assert response.url == reverse("inbox")
    conversation.refresh_from_db()
    assert conversation.assigned_agent == other_agent
    assert conversation.events.get(kind="routing.transferred").text.endswith(": <b>vip</b>")
    bob = Client()
    bob.force_login(other_agent)
    bob.post(reverse("routing-transfer", args=[conversation.pk]), {"target": f"skill:{skill.pk}"})
    conversation.refresh_from_db()
    assert conversation.status == Conversation.Status.PENDING_HANDOFF
    assert list(conversation.routing_state.required_skills.values_list("name", flat=True)) == ["billing"]


def test_transfer_needs_a_target(agent_client, agent):
    make_online(agent)
    conversation = ConversationFactory(pending=True)
    services.conversation_take(conversation_id=conversation.pk, agent=agent)
    response = agent_client.post(
        reverse("routing-transfer", args=[conversation.pk]), {"target": "agent:abc"}, follow=True
    )
    assert "Choose an agent or a skill group" in response.content.decode()
    conversation.refresh_from_db()
    assert conversation.assigned_agent == agent


def test_admin_pages_of_routing_load(admin_user, agent):
    make_online(agent)
    admin = Client()
    admin.force_login(admin_user)
    for name in ["agentprofile", "skill", "routingrule", "routingsettings", "offer", "routingdecision", "presencelog"]:
        assert admin.get(reverse(f"admin:routing_{name}_changelist")).status_code == 200, name
    profile = AgentProfile.objects.get(user=agent)
    assert admin.get(reverse("admin:routing_agentprofile_change", args=[profile.pk])).status_code == 200


def test_admin_cannot_lower_capacity_below_current_load(admin_user, agent):
    make_online(agent, capacity=3)
    for _ in range(2):
        services.conversation_take(conversation_id=ConversationFactory(pending=True).pk, agent=agent)
    admin = Client()
    admin.force_login(admin_user)
    profile = AgentProfile.objects.get(user=agent)
    response = admin.post(
        reverse("admin:routing_agentprofile_change", args=[profile.pk]), {"presence": "online", "capacity": 1}
    )
    assert response.status_code == 200
    assert "capacity cannot go below that" in response.content.decode()
    assert AgentProfile.objects.get(user=agent).capacity == 3
