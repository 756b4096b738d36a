"""on_commit_once: after-commit work asked for several times in one transaction runs once."""

import pytest
from django.db import transaction

from helpdesk.db import on_commit_once

pytestmark = pytest.mark.django_db


def test_work_asked_twice_at_one_level_runs_once(django_capture_on_commit_callbacks):
    ran = []

    def work():
        ran.append(1)

    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        on_commit_once(work)
        on_commit_once(work)
    assert ran == [1]


def test_work_asked_in_a_rolled_back_savepoint_is_asked_again(django_capture_on_commit_callbacks):
    ran = []

    def work():
        ran.append(1)

    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        try:
            with transaction.atomic():
                on_commit_once(work)
                raise RuntimeError("the change is undone")
        except RuntimeError:
            pass
        on_commit_once(work)  # the first request went with the savepoint
    assert ran == [1]


@pytest.mark.django_db(transaction=True)
def test_outside_a_transaction_the_work_runs_at_once():
    ran = []
    on_commit_once(lambda: ran.append(1))
    assert ran == [1]


def test_postgresql_prepares_what_a_connection_runs_again():
    from django.db import connection

    from conversations.models import Conversation

    if connection.vendor != "postgresql":
        assert "server_side_binding" not in connection.settings_dict["OPTIONS"]  # SQLite: nothing to prepare
        return
    for pk in (1, 2, 3):
        Conversation.objects.filter(pk=pk).exists()
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements")
        prepared = [row[0] for row in cursor.fetchall()]
    assert any("conversations_conversation" in statement for statement in prepared), prepared


def test_bulk_insert_sets_each_id_and_keeps_json_as_given(customer):
    from django.utils import timezone

    from conversations.models import Conversation, ConversationEvent
    from helpdesk.db import bulk_insert

    conversation = Conversation.objects.create(customer=customer)
    now = timezone.now()
    tricky = [{"why": 'said "no" \\ twice', "load": "1/5"}, {"name": "Zoë ✓", "nested": [1, None]}]
    events = [
        ConversationEvent(conversation=conversation, kind="t", text=f"{i}", data={"lines": tricky[:i]}, created_at=now)
        for i in range(3)
    ]
    assert bulk_insert(events) == events
    stored = {e.pk: (e.text, e.data) for e in ConversationEvent.objects.filter(conversation=conversation)}
    assert [stored[e.pk] for e in events] == [(f"{i}", {"lines": tricky[:i]}) for i in range(3)]
    assert bulk_insert([]) == []
