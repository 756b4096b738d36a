"""on_commit_once: after-commit work asked for several times in one transaction runs once."""

import pytest
from django.db import transaction

from core.db import on_commit_once

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
    from core.db import bulk_insert

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


def test_bulk_insert_splits_rows_one_statement_cannot_carry(customer, monkeypatch):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from django.utils import timezone

    from conversations.models import Conversation, ConversationEvent
    from core import db

    conversation = Conversation.objects.create(customer=customer)
    # PostgreSQL's real cap: 11,000 rows of 6 columns are 66,000 parameters.
    many = [
        ConversationEvent(conversation=conversation, kind="t", text=str(i), created_at=timezone.now())
        for i in range(11_000)
    ]
    db.bulk_insert(many)
    assert ConversationEvent.objects.filter(conversation=conversation).count() == 11_000
    # A cap of 14 parameters: two rows a statement.
    monkeypatch.setattr(db, "MAX_PARAMS", 14)
    few = [
        ConversationEvent(conversation=conversation, kind="u", text=str(i), created_at=timezone.now()) for i in range(5)
    ]
    with CaptureQueriesContext(connection) as queries:
        db.bulk_insert(few)
    stored = dict(ConversationEvent.objects.filter(kind="u").values_list("pk", "text"))
    assert [stored[e.pk] for e in few] == ["0", "1", "2", "3", "4"]
    if connection.vendor == "postgresql":
        assert len([q for q in queries.captured_queries if q["sql"].startswith("INSERT")]) == 3


@pytest.mark.django_db(transaction=True)
def test_a_prepared_read_survives_a_column_another_process_adds(customer):
    """Hot-path reads name their columns: once a migration run elsewhere adds a
    column, a prepared ``SELECT *`` fails ("cached plan must not change result type")."""
    import psycopg
    from django.db import connection

    from conversations import services
    from conversations.models import Conversation

    conversation = Conversation.objects.create(customer=customer)
    for _ in range(3):  # prepared from the second run on (PostgreSQL)
        services._reload_with_customer(conversation)
    table = Conversation._meta.db_table

    def migrate(sql: str) -> None:
        if connection.vendor != "postgresql":  # SQLite prepares nothing: this connection will do
            with connection.cursor() as cursor:
                cursor.execute(sql)
            return
        params = connection.get_connection_params()
        params.pop("cursor_factory", None), params.pop("context", None), params.pop("prepare_threshold", None)
        with psycopg.connect(**params, autocommit=True) as other:  # another process's migration
            other.execute(sql)

    migrate(f"ALTER TABLE {table} ADD COLUMN added_later integer")
    try:
        services._reload_with_customer(conversation)
        assert conversation.customer == customer
    finally:
        migrate(f"ALTER TABLE {table} DROP COLUMN added_later")
