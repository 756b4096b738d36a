import random
import statistics
from datetime import timedelta

import pytest
import time_machine

from analytics.percentiles import duration_percentiles
from analytics.selectors import RESPONSE_TIMES
from conversations.models import Conversation
from tests.analytics.scenario import at
from tests.factories import ConversationFactory

pytestmark = pytest.mark.django_db


def _handed_off(seconds_to_reply: list[int | None], priority: int = 3):
    for seconds in seconds_to_reply:
        with time_machine.travel(at(3, 9), tick=False):
            c = ConversationFactory(pending=True, priority=priority)
        Conversation.objects.filter(pk=c.pk).update(
            handed_off_at=at(3, 9),
            first_agent_reply_at=at(3, 9) + timedelta(seconds=seconds) if seconds is not None else None,
        )


def _expected(values: list[float], percent: int) -> float:
    # statistics' "inclusive" method is the same definition as percentile_cont.
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[percent - 1]


def test_percentiles_interpolate_between_the_nearest_values_and_leave_out_nulls():
    _handed_off([10, 20, 30, 40, None])
    figures = duration_percentiles(Conversation.objects.all(), values={"r": RESPONSE_TIMES["first_response"]})
    # Median of 4 values: the mean of the middle two; p90: 30 + 0.7 * 10.
    assert figures[None]["r"] == {50: timedelta(seconds=25), 90: timedelta(seconds=37)}


def test_percentiles_match_the_definition_on_random_samples_per_group():
    rng = random.Random(7)
    samples = {p: [rng.randint(1, 100_000) for _ in range(rng.randint(1, 40))] for p in (1, 2, 4)}
    for priority, values in samples.items():
        _handed_off(values, priority=priority)
    figures = duration_percentiles(
        Conversation.objects.all(), values={"r": RESPONSE_TIMES["first_response"]}, group="priority"
    )
    assert set(figures) == {1, 2, 4}  # no group without values
    for priority, values in samples.items():
        for percent in (50, 90):
            got = figures[priority]["r"][percent].total_seconds()
            assert got == pytest.approx(_expected(values, percent), abs=1e-6)


def test_no_values_means_no_figure_not_zero():
    _handed_off([None])
    assert duration_percentiles(Conversation.objects.all(), values={"r": RESPONSE_TIMES["first_response"]}) == {}
