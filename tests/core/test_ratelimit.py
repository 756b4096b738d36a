"""The limiter: moving windows with a burst, keys counted apart, and a storage
that cannot count lets everyone through (fail open)."""

import json
import logging

import pytest
import time_machine
from django.test import RequestFactory

from core import ratelimit
from core.ratelimit import RateLimited, Rule

pytestmark = pytest.mark.usefixtures("rate_limits")


def _take(rule: Rule, key: str, n: int) -> list[bool]:
    allowed = []
    for _ in range(n):
        try:
            ratelimit.check([(rule, key)])
            allowed.append(True)
        except RateLimited:
            allowed.append(False)
    return allowed


def test_a_burst_rule_allows_the_burst_at_once_then_the_rate():
    rule = Rule.burst("t-burst", rate=5, burst=20)
    assert (rule.amount, rule.per_s) == (20, 4)
    with time_machine.travel(1_000_000, tick=False) as clock:
        assert _take(rule, "v", 21) == [True] * 20 + [False]
        clock.shift(1.0)
        assert _take(rule, "v", 1) == [False]  # the window is 4 s: the first 20 count still
        clock.shift(3.1)
        assert _take(rule, "v", 21) == [True] * 20 + [False]


def test_the_refusal_says_how_long_to_wait_and_refused_hits_do_not_count():
    rule = Rule("t-wait", 2, 10)
    with time_machine.travel(2_000_000, tick=False) as clock:
        assert _take(rule, "v", 2) == [True, True]
        clock.shift(3)
        with pytest.raises(RateLimited) as e:
            ratelimit.check([(rule, "v")])
        assert 1 <= e.value.retry_after <= 7
        for _ in range(50):  # hammering while refused does not push the window on
            _take(rule, "v", 1)
        clock.shift(7.1)
        assert _take(rule, "v", 2) == [True, True]


def test_keys_and_rules_are_counted_apart():
    a, b = Rule("t-a", 3, 60), Rule("t-b", 3, 60)
    assert _take(a, "one", 4) == [True, True, True, False]
    assert _take(a, "two", 3) == [True, True, True]
    assert _take(b, "one", 3) == [True, True, True]


def test_a_hit_refused_by_one_rule_is_counted_by_none():
    visitor, ip = Rule("t-visitor", 5, 60), Rule("t-ip", 2, 60)
    ratelimit.check([(visitor, 1), (ip, "10.0.0.1")])
    ratelimit.check([(visitor, 1), (ip, "10.0.0.1")])
    with pytest.raises(RateLimited):
        ratelimit.check([(visitor, 1), (ip, "10.0.0.1")])
    # The visitor's own count is 2, not 3: three more from another address pass.
    assert [_take(visitor, "1", 1)[0] for _ in range(3)] == [True, True, True]


def test_keys_that_are_none_are_not_counted():
    rule = Rule("t-none", 1, 60)
    for _ in range(5):
        ratelimit.check([(rule, None)])


def test_the_off_switch(rate_limits):
    rate_limits.BATON_RATELIMIT_ENABLED = False
    assert _take(Rule("t-off", 1, 60), "v", 5) == [True] * 5


def test_an_unreachable_storage_lets_everyone_through_and_says_so(monkeypatch, caplog):
    limiter = ratelimit._limiter()

    def down(*args, **kwargs):
        raise ConnectionError("storage is down")

    monkeypatch.setattr(limiter.strategy, "test", down)
    with caplog.at_level(logging.WARNING, logger="core.ratelimit"):
        assert _take(Rule("t-down", 1, 60), "v", 5) == [True] * 5
    assert "rate limiter storage unavailable" in caplog.text
    # It does not ask the storage again at once (each send would wait for it).
    assert caplog.text.count("rate limiter storage unavailable") == 1


def test_an_unreachable_redis_fails_open(settings):
    """A real Redis client against a port where nothing listens."""
    settings.REDIS_URL = "redis://127.0.0.1:9/0"
    ratelimit.reset()
    assert _take(Rule("t-redis-down", 1, 60), "v", 3) == [True] * 3
    ratelimit.reset()


def test_the_http_answer_is_429_with_retry_after_and_a_json_error():
    request = RequestFactory().post("/chat/send/", REMOTE_ADDR="10.1.2.3")
    answers = [ratelimit.start_refusal(request) for _ in range(31)]
    assert answers[:30] == [None] * 30  # 30 new visitors a minute from one address
    response = answers[30]
    assert response.status_code == 429
    body = json.loads(response.content)
    assert body["error"]["code"] == "rate_limited"
    assert "slow down" in body["error"]["message"]
    assert int(response["Retry-After"]) == body["error"]["retry_after"] >= 1


def test_page_views_count_under_the_page_limit_only():
    request = RequestFactory().get("/chat/", REMOTE_ADDR="10.1.2.4")
    answers = [ratelimit.chat_page_refusal(request) for _ in range(61)]
    assert answers[:60] == [None] * 60
    assert answers[60].status_code == 429
    # The page writes nothing: its views are not visitor starts.
    assert ratelimit.start_refusal(RequestFactory().post("/chat/send/", REMOTE_ADDR="10.1.2.4")) is None


def test_a_sockets_frame_budget_refuses_then_asks_to_close(rate_limits):
    rate_limits.BATON_RATELIMIT_WS_FRAMES_PER_S = 10
    rate_limits.BATON_RATELIMIT_WS_FRAMES_BURST = 30
    rate_limits.BATON_RATELIMIT_WS_FLOOD_CLOSE = 5
    budget, other = ratelimit.FrameBudget("s1"), ratelimit.FrameBudget("s2")
    with time_machine.travel(3_000_000, tick=False):
        assert [budget.take() for _ in range(30)] == [None] * 30
        refusals = [budget.take() for _ in range(5)]
        assert all(r is not None and r >= 1 for r in refusals)
        assert not budget.flooding
        budget.take()
        assert budget.flooding
        assert other.take() is None  # another socket has its own budget
