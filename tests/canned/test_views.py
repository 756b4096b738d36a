"""The canned responses page and the reply box's suggestions endpoint."""

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from canned.models import CannedResponse
from conversations.models import Conversation
from tests.factories import ConversationFactory, CustomerFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(admin_user):
    client = Client()
    client.force_login(admin_user)
    return client


def _response(owner, shortcut="greet", body="Hi {customer_name}, {agent_first_name} here."):
    return CannedResponse.objects.create(owner=owner, shortcut=shortcut, title=shortcut.title(), body=body)


def test_the_pages_need_a_login(client, agent):
    mine = _response(agent)
    conversation = ConversationFactory()
    for url in (
        reverse("canned-list"),
        reverse("canned-create"),
        reverse("canned-edit", args=[mine.pk]),
        reverse("canned-suggest", args=[conversation.pk]),
    ):
        response = client.get(url)
        assert response.status_code == 302 and response["Location"].startswith("/login/"), url
    assert client.post(reverse("canned-delete", args=[mine.pk])).status_code == 302
    assert CannedResponse.objects.filter(pk=mine.pk).exists()


def test_the_inbox_links_to_the_page(agent_client):
    assert reverse("canned-list") in agent_client.get(reverse("inbox")).content.decode()


def test_the_list_shows_the_shared_and_the_agents_own_editable_only_their_own(agent_client, agent, other_agent):
    mine, shared, theirs = _response(agent, "mine"), _response(None, "team"), _response(other_agent, "theirs")
    page = agent_client.get(reverse("canned-list")).content.decode()
    assert "/mine" in page and "/team" in page and "/theirs" not in page
    assert reverse("canned-edit", args=[mine.pk]) in page
    assert reverse("canned-edit", args=[shared.pk]) not in page
    assert reverse("canned-edit", args=[theirs.pk]) not in page


def test_an_agent_adds_one_of_their_own(agent_client, agent):
    form = agent_client.get(reverse("canned-create")).content.decode()
    assert "csrfmiddlewaretoken" in form and 'name="shared"' not in form
    response = agent_client.post(
        reverse("canned-create"), {"title": "Greeting", "shortcut": "Greet", "body": "Hi!", "shared": "on"}
    )
    assert response.status_code == 302 and response["Location"] == reverse("canned-list")
    made = CannedResponse.objects.get()
    assert (made.owner, made.shortcut) == (agent, "greet")  # "shared" is not theirs to tick


def test_staff_add_shared_ones(staff_client):
    assert 'name="shared"' in staff_client.get(reverse("canned-create")).content.decode()
    staff_client.post(
        reverse("canned-create"), {"title": "Greeting", "shortcut": "greet", "body": "Hi", "shared": "on"}
    )
    assert CannedResponse.objects.get().owner is None


def test_errors_are_shown_on_their_fields_and_nothing_is_saved(agent_client, agent):
    _response(agent, "greet")
    response = agent_client.post(reverse("canned-create"), {"title": "", "shortcut": "greet", "body": "Hi"})
    assert response.status_code == 400
    assert response.context["form"].errors == {"title": ["This field is required."]}
    response = agent_client.post(reverse("canned-create"), {"title": "Again", "shortcut": "greet", "body": "Hi"})
    assert response.status_code == 400
    assert response.context["form"].errors == {"shortcut": ["You already have a response with this shortcut."]}
    response = agent_client.post(reverse("canned-create"), {"title": "Bad", "shortcut": "two words", "body": "Hi"})
    assert "shortcut" in response.context["form"].errors
    assert "lower-case letters" in response.content.decode()
    assert CannedResponse.objects.count() == 1


def test_an_agent_edits_and_deletes_their_own(agent_client, agent):
    mine = _response(agent)
    assert 'value="greet"' in agent_client.get(reverse("canned-edit", args=[mine.pk])).content.decode()
    response = agent_client.post(
        reverse("canned-edit", args=[mine.pk]), {"title": "Hello", "shortcut": "hello", "body": "Hello!"}
    )
    assert response.status_code == 302
    mine.refresh_from_db()
    assert (mine.title, mine.shortcut, mine.body) == ("Hello", "hello", "Hello!")
    assert agent_client.post(reverse("canned-delete", args=[mine.pk])).status_code == 302
    assert not CannedResponse.objects.exists()


def test_another_agents_and_shared_ones_are_not_found_for_an_agent(agent_client, other_agent):
    for response in (_response(other_agent), _response(None)):
        assert agent_client.get(reverse("canned-edit", args=[response.pk])).status_code == 404
        edit = agent_client.post(
            reverse("canned-edit", args=[response.pk]), {"title": "x", "shortcut": "x", "body": "x"}
        )
        assert edit.status_code == 404
        assert agent_client.post(reverse("canned-delete", args=[response.pk])).status_code == 404
    assert set(CannedResponse.objects.values_list("shortcut", flat=True)) == {"greet"}
    assert agent_client.get(reverse("canned-delete", args=[1])).status_code == 405


def test_staff_edit_shared_ones(staff_client):
    shared = _response(None)
    response = staff_client.post(
        reverse("canned-edit", args=[shared.pk]), {"title": "Team hello", "shortcut": "greet", "body": "Hello"}
    )
    assert response.status_code == 302
    shared.refresh_from_db()
    assert (shared.title, shared.owner) == ("Team hello", None)


def test_suggestions_are_json_filled_for_the_conversation_and_the_agent(agent_client, agent, other_agent):
    mine = _response(agent)
    shared = _response(None, "greeting-team", body="Hello {customer_name} from {agent_name}")
    _response(other_agent, "great")
    _response(None, "refund")
    customer = CustomerFactory(name='<img src=x onerror="alert(1)"> {agent_name}')
    conversation = ConversationFactory(
        customer=customer, status=Conversation.Status.ASSIGNED, assigned_agent=agent, handed_off_at=timezone.now()
    )
    response = agent_client.get(reverse("canned-suggest", args=[conversation.pk]), {"q": "gre"})
    assert response.status_code == 200 and response["Content-Type"] == "application/json"
    assert response.json() == [
        {"id": mine.pk, "shortcut": "greet", "title": "Greet", "body": f"Hi {customer.name}, Alice here."},
        {
            "id": shared.pk,
            "shortcut": "greeting-team",
            "title": "Greeting-Team",
            "body": f"Hello {customer.name} from Alice",
        },
    ]
    assert agent_client.get(reverse("canned-suggest", args=[conversation.pk]), {"q": "zzz"}).json() == []


def test_suggestions_for_no_such_conversation_are_not_found(agent_client):
    assert agent_client.get(reverse("canned-suggest", args=[999999]), {"q": "g"}).status_code == 404
