"""analytics.queries: each hand-written statement gives what its ORM twin gives, on
the same rows, on both databases."""

import random
from datetime import timedelta

import pytest
from django.db.models import F, Value

from analytics.percentiles import duration_percentiles
from analytics.queries import (
    TOTAL,
    percentile_positions,
    percentile_positions_orm,
    percentiles_grouped,
    percentiles_grouped_orm,
)
from analytics.selectors import RESPONSE_TIMES
from conversations.models import Conversation
from tests.analytics.scenario import at
from tests.factories import ConversationFactory

pytestmark = pytest.mark.django_db

COUNTS = {"n": None, "answered": "first_agent_reply_at", "resolved": "resolved_at"}


@pytest.fixture
def handed_off():
    """Conversations in four priorities (one of them with a single value), with
    ties, unanswered and unresolved ones, and one resolved from the queue."""
    rng = random.Random(17)
    start = at(3, 9)
    for priority, size in ((1, 1), (2, 7), (3, 12), (4, 10)):
        for i in range(size):
            reply = rng.choice([None, 30, 30, rng.randint(1, 50_000)])
            resolved = rng.choice([None, rng.randint(60, 90_000)])
            assigned = None if (priority == 2 and i == 0) else rng.randint(1, 5_000)
            c = ConversationFactory(pending=True, priority=priority)
            Conversation.objects.filter(pk=c.pk).update(
                handed_off_at=start,
                assigned_at=start + timedelta(seconds=assigned) if assigned is not None else None,
                first_agent_reply_at=start + timedelta(seconds=reply) if reply is not None else None,
                resolved_at=start + timedelta(seconds=resolved) if resolved is not None else None,
            )
    return Conversation.objects.all()


@pytest.mark.parametrize("group", [F("priority"), Value(0)], ids=["per priority", "ungrouped"])
@pytest.mark.parametrize("percents", [(50, 90), (50,)])
def test_percentile_positions_match_their_twin(handed_off, group, percents):
    for value in RESPONSE_TIMES.values():
        got = percentile_positions(qs=handed_off, value=value, group=group, percents=percents)
        assert got
        assert got == percentile_positions_orm(qs=handed_off, value=value, group=group, percents=percents)


@pytest.mark.parametrize("total", [True, False])
def test_grouped_percentiles_match_their_twin(handed_off, total):
    kwargs = {"values": RESPONSE_TIMES, "group": "priority", "percents": (50, 90), "counts": COUNTS, "total": total}
    got = percentiles_grouped(qs=handed_off, **kwargs)
    assert set(got) == ({1, 2, 3, 4, TOTAL} if total else {1, 2, 3, 4})
    assert got == percentiles_grouped_orm(qs=handed_off, **kwargs)


def test_grouped_percentiles_of_no_rows_match_their_twin(handed_off):
    kwargs = {"values": RESPONSE_TIMES, "group": "priority", "percents": (50,), "counts": COUNTS, "total": True}
    nothing = handed_off.filter(priority=99)
    got = percentiles_grouped(qs=nothing, **kwargs)
    assert got == {TOTAL: {"counts": {"n": 0, "answered": 0, "resolved": 0}}}
    assert got == percentiles_grouped_orm(qs=nothing, **kwargs)


def test_the_dashboards_percentiles_are_the_twins_on_either_database(handed_off):
    """Whichever statement the database runs (ROLLUP on PostgreSQL, the window query
    on SQLite), the figures are those the twin computes from every row."""
    kwargs = {"values": RESPONSE_TIMES, "group": "priority", "percents": (50, 90), "counts": COUNTS, "total": True}
    assert duration_percentiles(handed_off, **kwargs) == percentiles_grouped_orm(qs=handed_off, **kwargs)
