import pytest

from canned import selectors
from canned.models import CannedResponse
from tests.factories import ConversationFactory, CustomerFactory

pytestmark = pytest.mark.django_db


def _response(shortcut, owner, title=None, body="Hi"):
    return CannedResponse.objects.create(shortcut=shortcut, owner=owner, title=title or shortcut.title(), body=body)


@pytest.fixture
def responses(agent, other_agent):
    return {
        "mine": _response("greet", agent, title="Hello there"),
        "shared": _response("greet", None, title="Greeting (team)"),
        "refund": _response("refund", None, title="Refund policy"),
        "theirs": _response("gravy", other_agent),
    }


def test_an_agent_uses_the_shared_ones_and_their_own_only(agent, responses):
    usable = list(selectors.canned_usable(user=agent))
    assert usable == [responses["mine"], responses["shared"], responses["refund"]]


def test_a_prefix_matches_the_start_of_a_shortcut_or_a_title(agent, responses):
    assert list(selectors.canned_usable(user=agent, prefix="GR")) == [responses["mine"], responses["shared"]]
    assert list(selectors.canned_usable(user=agent, prefix="hello")) == [responses["mine"]]
    assert list(selectors.canned_usable(user=agent, prefix="policy")) == []  # not the middle of a title
    assert list(selectors.canned_usable(user=agent, prefix="ref")) == [responses["refund"]]


def test_what_each_may_manage(agent, admin_user, responses):
    assert list(selectors.canned_manageable(user=agent)) == [responses["mine"]]
    assert set(selectors.canned_manageable(user=admin_user)) == {responses["shared"], responses["refund"]}


def test_suggestions_are_filled_for_the_conversation(agent):
    _response("greet", agent, body="Hi {customer_name}, {agent_first_name} here.")
    conversation = ConversationFactory(customer=CustomerFactory(name="Casey"))
    [found] = selectors.canned_suggestions(conversation=conversation, user=agent, prefix="gr")
    assert found["body"] == "Hi Casey, Alice here."
    assert set(found) == {"id", "shortcut", "title", "body"}


def test_suggestions_are_few(agent):
    for i in range(selectors.SUGGESTIONS_MAX + 3):
        _response(f"g{i:02d}", agent)
    conversation = ConversationFactory()
    assert (
        len(selectors.canned_suggestions(conversation=conversation, user=agent, prefix="g"))
        == selectors.SUGGESTIONS_MAX
    )
