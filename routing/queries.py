"""Statements of the routing app written by hand, each beside its ORM twin
(``tests/routing/test_queries.py`` runs both and compares them)."""

from datetime import datetime

from django.db import connection

from helpdesk.db import sql_rows
from routing.models import RoutingState

STATES = RoutingState._meta.db_table


def routing_states_insert(*, states: dict[int, datetime]) -> set[int]:
    """Insert the routing state of these conversations (``{conversation id:
    skills_since}``) unless one exists; returns the ids inserted here.

    Check-then-insert was a race on PostgreSQL: two rounds meeting the same
    conversation both found no state and both inserted it (a duplicate key, issue
    #13). ``ON CONFLICT DO NOTHING`` lets the database decide, and ``RETURNING``
    says which inserts were ours."""
    if not states:
        return set()
    if connection.vendor != "postgresql":
        return routing_states_insert_orm(states=states)
    rows = sql_rows(
        f"INSERT INTO {STATES} (conversation_id, skills_since, relaxed_at, queued_recorded)"
        f" VALUES {', '.join(['(%s, %s, NULL, false)'] * len(states))}"
        " ON CONFLICT (conversation_id) DO NOTHING RETURNING conversation_id",
        [value for pk, since in states.items() for value in (pk, since)],
    )
    return {pk for (pk,) in rows}


def routing_states_insert_orm(*, states: dict[int, datetime]) -> set[int]:
    """The twin of ``routing_states_insert``: safe where one transaction writes at a
    time (SQLite), as the check and the insert happen in it."""
    known = set(RoutingState.objects.filter(pk__in=list(states)).values_list("pk", flat=True))
    new = {pk: since for pk, since in states.items() if pk not in known}
    RoutingState.objects.bulk_create([RoutingState(conversation_id=pk, skills_since=s) for pk, s in new.items()])
    return set(new)
