"""The database itself refuses what a canned response may not be."""

import pytest
from django.db import IntegrityError, transaction

from canned.models import BODY_MAX, CannedResponse

pytestmark = pytest.mark.django_db


def _refused(**fields):
    with pytest.raises(IntegrityError), transaction.atomic():
        CannedResponse.objects.create(**{"title": "Greeting", "shortcut": "greet", "body": "Hi", **fields})


def test_a_shortcut_is_unique_per_owner_and_among_the_shared(agent, other_agent):
    CannedResponse.objects.create(title="Greeting", shortcut="greet", body="Hi", owner=agent)
    CannedResponse.objects.create(title="Greeting", shortcut="greet", body="Hi", owner=None)
    _refused(owner=agent)
    _refused(owner=None)
    # Another agent's own, of the same shortcut, is theirs to have.
    CannedResponse.objects.create(title="Greeting", shortcut="greet", body="Hello", owner=other_agent)
    assert CannedResponse.objects.filter(shortcut="greet").count() == 3


@pytest.mark.parametrize("field", ["shortcut", "body", "title"])
def test_empty_text_is_refused(agent, field):
    _refused(owner=agent, **{field: ""})


def test_a_body_longer_than_a_message_is_refused(agent):
    CannedResponse.objects.create(title="Long", shortcut="long", body="x" * BODY_MAX, owner=agent)
    _refused(owner=agent, shortcut="longer", body="x" * (BODY_MAX + 1))


def test_an_agents_own_go_with_their_account(agent):
    CannedResponse.objects.create(title="Greeting", shortcut="greet", body="Hi", owner=agent)
    CannedResponse.objects.create(title="Greeting", shortcut="greet", body="Hi", owner=None)
    agent.delete()
    assert list(CannedResponse.objects.values_list("owner", flat=True)) == [None]
