"""Abuse of the customer socket against Baton's real processes (uvicorn with the
default rate limits, a django-q2 cluster answering as the bot) on PostgreSQL and
Redis: see tests/ws_abuse.py. A flood here used to end, after 40 s, in a 1011
close with its frames dropped unanswered. Prints one JSON line of figures."""

import asyncio
import json

from django.conf import settings

from conversations.identity import customer_token_make
from demo.management.commands.demo_data import DEMO_KB
from knowledge.services import kb_import_jsonl
from tests.factories import CustomerFactory
from tests.ws_abuse import abuse_scenario

# The other customer's answer while one socket floods (through the cluster).
ANSWER_BOUND_S = 15.0


def test_bad_frames_a_flood_and_bad_handshakes_leave_another_customer_served(processes):
    kb_import_jsonl(path=DEMO_KB)
    names = ("first", "baseline", "abuser", "other")
    tokens = {n: customer_token_make(customer_id=CustomerFactory(name=n).pk) for n in names}
    processes.env["BATON_RATELIMIT_ENABLED"] = "1"  # the defaults, as in production
    asgi = processes.asgi()
    processes.qcluster()
    figures = asyncio.run(
        abuse_scenario(
            base=f"ws://127.0.0.1:{asgi.port}",
            tokens=tokens,
            burst=settings.BATON_RATELIMIT_WS_FRAMES_BURST,
            flood_close=settings.BATON_RATELIMIT_WS_FLOOD_CLOSE,
            answer_bound=ANSWER_BOUND_S,
        )
    )
    print(json.dumps({"bench": "ws_abuse_processes", **figures}))
    assert figures["answer_during_flood_s"] < ANSWER_BOUND_S
