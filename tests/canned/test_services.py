"""Who may write which canned response, and the validation on the way in."""

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from canned import services
from canned.models import CannedResponse

pytestmark = pytest.mark.django_db


def _make(actor, *, shortcut="greet", shared=False):
    return services.canned_create(
        actor=actor, title="Greeting", shortcut=shortcut, body="Hi {customer_name}", shared=shared
    )


def test_an_agent_creates_their_own_cleaned(agent):
    made = services.canned_create(actor=agent, title=" Greeting ", shortcut=" /Greet ", body=" Hi \n")
    made.refresh_from_db()
    assert (made.owner, made.title, made.shortcut, made.body) == (agent, "Greeting", "greet", "Hi")


def test_an_agent_may_not_create_a_shared_one(agent):
    with pytest.raises(PermissionDenied):
        _make(agent, shared=True)
    assert not CannedResponse.objects.exists()


def test_staff_create_shared_ones(admin_user):
    assert _make(admin_user, shared=True).owner is None


def test_an_agent_may_not_change_another_agents_or_a_shared_one(agent, other_agent, admin_user):
    theirs, shared = _make(other_agent), _make(admin_user, shared=True)
    for response in (theirs, shared):
        with pytest.raises(PermissionDenied):
            services.canned_update(actor=agent, response_id=response.pk, title="Mine now", shortcut="x", body="x")
        with pytest.raises(PermissionDenied):
            services.canned_delete(actor=agent, response_id=response.pk)
    assert set(CannedResponse.objects.values_list("title", flat=True)) == {"Greeting"}


def test_staff_change_and_delete_shared_ones_but_not_an_agents(agent, admin_user):
    shared, agents = _make(admin_user, shared=True), _make(agent)
    services.canned_update(actor=admin_user, response_id=shared.pk, title="Hello", shortcut="hello", body="Hello!")
    shared.refresh_from_db()
    assert (shared.title, shared.shortcut, shared.body, shared.owner) == ("Hello", "hello", "Hello!", None)
    with pytest.raises(PermissionDenied):
        services.canned_update(actor=admin_user, response_id=agents.pk, title="x", shortcut="x", body="x")
    services.canned_delete(actor=admin_user, response_id=shared.pk)
    assert list(CannedResponse.objects.all()) == [agents]


def test_an_agent_edits_and_deletes_their_own(agent):
    mine = _make(agent)
    services.canned_update(actor=agent, response_id=mine.pk, title="Hello", shortcut="hello", body="Hello!")
    mine.refresh_from_db()
    assert (mine.title, mine.shortcut, mine.owner) == ("Hello", "hello", agent)
    services.canned_delete(actor=agent, response_id=mine.pk)
    assert not CannedResponse.objects.exists()


def test_a_taken_shortcut_is_an_error_on_the_shortcut(agent, other_agent, admin_user):
    _make(agent)
    with pytest.raises(ValidationError) as taken:
        _make(agent)
    assert taken.value.message_dict == {"shortcut": ["You already have a response with this shortcut."]}
    _make(admin_user, shared=True)
    with pytest.raises(ValidationError) as shared_taken:
        _make(admin_user, shared=True)
    assert shared_taken.value.message_dict == {"shortcut": ["A shared response already has this shortcut."]}
    _make(other_agent)  # the same shortcut as a shared one and another agent's: allowed


def test_renaming_onto_a_taken_shortcut_is_refused(agent):
    _make(agent, shortcut="greet")
    other = _make(agent, shortcut="bye")
    with pytest.raises(ValidationError) as taken:
        services.canned_update(actor=agent, response_id=other.pk, title="Bye", shortcut="greet", body="Bye")
    assert "shortcut" in taken.value.message_dict


@pytest.mark.parametrize(
    ("fields", "error_on"),
    [
        ({"shortcut": "two words"}, "shortcut"),
        ({"shortcut": "-dash"}, "shortcut"),
        ({"shortcut": "x" * 33}, "shortcut"),
        ({"body": "   "}, "body"),
        ({"title": ""}, "title"),
        ({"body": "x" * 4001}, "body"),
    ],
)
def test_invalid_fields_are_refused_by_name(agent, fields, error_on):
    with pytest.raises(ValidationError) as refused:
        services.canned_create(actor=agent, **{"title": "Greeting", "shortcut": "greet", "body": "Hi", **fields})
    assert error_on in refused.value.message_dict
    assert not CannedResponse.objects.exists()
