"""Rate limits for the public side: chat messages, conversation starts, chat page
views, and every websocket's frames.

Built on ``limits`` (moving windows over a storage): it is called with plain keys,
so one API serves Django views and websocket frames alike (django-ratelimit
needs an HttpRequest, which a frame does not have). The counts live in Redis
(``REDIS_URL``) so that every process shares them, or in this process's memory in
embedded mode. A socket's own frame budget is always in memory: a socket lives in
one process.

"5 a second with a burst of 20" is a moving window of 20 hits in 4 seconds: up to
20 at once, then 5 a second on average.

The limiter never fails a customer: if its storage is unreachable it logs,
allows, and does not ask the storage again for ``_RETRY_STORAGE_S`` seconds.
"""

import logging
import math
import threading
import time
from dataclasses import dataclass

from django.conf import settings
from django.http import HttpRequest, JsonResponse
from limits import RateLimitItemPerSecond
from limits.storage import MemoryStorage, Storage, storage_from_string
from limits.strategies import MovingWindowRateLimiter

logger = logging.getLogger(__name__)

SLOW_DOWN = "You're sending messages quickly. Please slow down; we'll take it in a moment."
_RETRY_STORAGE_S = 5.0


@dataclass(frozen=True)
class Rule:
    """``amount`` hits in any ``per_s`` seconds, counted per key."""

    name: str
    amount: int
    per_s: int

    @classmethod
    def burst(cls, name: str, *, rate: int, burst: int) -> "Rule":
        """``rate`` a second on average, up to ``burst`` at once."""
        burst = max(burst, rate)
        return cls(name=name, amount=burst, per_s=max(1, round(burst / rate)))


def message_rules() -> tuple[Rule, Rule]:
    """Per visitor and per IP, for a chat message or a request for a person."""
    rate, burst = settings.BATON_RATELIMIT_MESSAGES_PER_S, settings.BATON_RATELIMIT_MESSAGES_BURST
    return (
        Rule.burst("message-visitor", rate=rate, burst=burst),
        Rule.burst(
            "message-ip",
            rate=settings.BATON_RATELIMIT_MESSAGES_PER_IP_S,
            burst=settings.BATON_RATELIMIT_MESSAGES_PER_IP_BURST,
        ),
    )


def start_rule() -> Rule:
    return Rule("start-ip", settings.BATON_RATELIMIT_STARTS_PER_MIN, 60)


def page_rule() -> Rule:
    return Rule("page-ip", settings.BATON_RATELIMIT_PAGES_PER_MIN, 60)


class RateLimited(Exception):
    """Over a limit: come back in ``retry_after`` seconds."""

    def __init__(self, retry_after: int):
        super().__init__(SLOW_DOWN)
        self.retry_after = retry_after


class _Limiter:
    def __init__(self, storage: Storage):
        self.storage = storage
        self.strategy = MovingWindowRateLimiter(storage)
        self.down_until = 0.0

    def hit(self, hits: list[tuple[Rule, str]]) -> int | None:
        """Count one hit under each (rule, key); None if all allow it, else the
        seconds until the first refusing one does. A refused hit is not counted."""
        if not hits or time.monotonic() < self.down_until:
            return None
        try:
            items = [(RateLimitItemPerSecond(r.amount, r.per_s, namespace="baton"), r, key) for r, key in hits]
            for item, rule, key in items:
                if not self.strategy.test(item, rule.name, key):
                    reset = self.strategy.get_window_stats(item, rule.name, key).reset_time
                    return max(1, math.ceil(reset - time.time()))
            for item, rule, key in items:
                self.strategy.hit(item, rule.name, key)
        except Exception:
            # Fail open: a limiter that cannot count must not refuse a customer.
            self.down_until = time.monotonic() + _RETRY_STORAGE_S
            logger.warning("rate limiter storage unavailable: allowing for %s s", _RETRY_STORAGE_S, exc_info=True)
        return None


_lock = threading.Lock()
_shared: _Limiter | None = None
_sockets = _Limiter(MemoryStorage())


def _limiter() -> _Limiter:
    global _shared
    if _shared is None:
        with _lock:
            if _shared is None:
                _shared = _Limiter(_storage())
    return _shared


def _storage() -> Storage:
    if settings.REDIS_URL:
        return storage_from_string(
            settings.REDIS_URL,
            key_prefix=settings.BATON_RATELIMIT_PREFIX,
            socket_connect_timeout=0.5,
            socket_timeout=0.5,
        )
    return MemoryStorage()


def check(hits: list[tuple[Rule, object]]) -> None:
    """Count the hits (keys None are skipped) or raise RateLimited."""
    if not settings.BATON_RATELIMIT_ENABLED:
        return
    retry_after = _limiter().hit([(rule, str(key)) for rule, key in hits if key is not None])
    if retry_after is not None:
        raise RateLimited(retry_after)


def message_check(*, visitor: object, ip: str | None) -> None:
    visitor_rule, ip_rule = message_rules()
    check([(visitor_rule, visitor), (ip_rule, ip)])


def request_ip(request: HttpRequest) -> str | None:
    """The client's address as the ASGI server saw it (behind a proxy, run uvicorn
    with --proxy-headers and --forwarded-allow-ips so that it is the client's)."""
    return request.META.get("REMOTE_ADDR") or None


def scope_ip(scope: dict) -> str | None:
    client = scope.get("client")
    return client[0] if client else None


def too_many(e: RateLimited) -> JsonResponse:
    response = JsonResponse(
        {"error": {"code": "rate_limited", "message": str(e), "retry_after": e.retry_after}}, status=429
    )
    response["Retry-After"] = str(e.retry_after)
    return response


def chat_page_refusal(request: HttpRequest) -> JsonResponse | None:
    """Chat page views, per IP (the page itself writes nothing: crawlers and
    prefetches cost a render, not a row)."""
    return _refusal([(page_rule(), request_ip(request))])


def session_refusal(request: HttpRequest) -> JsonResponse | None:
    """Chat sessions opened (each page view of the widget opens one), per IP: the
    same allowance as page views, counted apart, since each view makes both."""
    return _refusal([(Rule("session-ip", settings.BATON_RATELIMIT_PAGES_PER_MIN, 60), request_ip(request))])


def start_check(*, ip: str | None) -> None:
    """A new visitor's first message, which makes a customer and a conversation."""
    check([(start_rule(), ip)])


def start_refusal(request: HttpRequest) -> JsonResponse | None:
    return _refusal([(start_rule(), request_ip(request))])


def _refusal(hits: list[tuple[Rule, object]]) -> JsonResponse | None:
    try:
        check(hits)
    except RateLimited as e:
        return too_many(e)
    return None


def message_refusal(request: HttpRequest, *, visitor: object) -> JsonResponse | None:
    visitor_rule, ip_rule = message_rules()
    return _refusal([(visitor_rule, visitor), (ip_rule, request_ip(request))])


class FrameBudget:
    """One socket's frames, of every type: ``rate`` a second, up to ``burst`` at
    once. A socket that keeps sending past it (``close_after`` refusals in a row)
    is to be closed."""

    def __init__(self, key: str):
        self.key = key
        self.rule = Rule.burst(
            "frames", rate=settings.BATON_RATELIMIT_WS_FRAMES_PER_S, burst=settings.BATON_RATELIMIT_WS_FRAMES_BURST
        )
        self.refused_in_a_row = 0

    def take(self) -> int | None:
        """None: go on; else the seconds the client should wait."""
        if not settings.BATON_RATELIMIT_ENABLED:
            return None
        retry_after = _sockets.hit([(self.rule, self.key)])
        self.refused_in_a_row = self.refused_in_a_row + 1 if retry_after is not None else 0
        return retry_after

    @property
    def flooding(self) -> bool:
        return self.refused_in_a_row > settings.BATON_RATELIMIT_WS_FLOOD_CLOSE


def reset() -> None:
    """Forget every count (tests)."""
    global _shared
    with _lock:
        if _shared is not None:
            try:
                _shared.storage.reset()
            except Exception:
                logger.warning("rate limiter storage unavailable: counts not reset")
        _shared = None
    _sockets.storage.reset()
