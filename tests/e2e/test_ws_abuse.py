"""Abuse of the customer socket against a real uvicorn (in a thread, sharing the
test's database and settings), in both modes: see tests/ws_abuse.py. Prints one
JSON line of figures."""

import asyncio
import json

import pytest

from conversations.identity import customer_token_make
from demo.management.commands.demo_data import DEMO_KB
from knowledge.services import kb_import_jsonl
from tests.factories import CustomerFactory
from tests.ws_abuse import abuse_scenario

pytestmark = pytest.mark.e2e

# The other customer's answer while one socket floods: the bound held (the
# printed figures show what this machine did).
ANSWER_BOUND_S = 15.0


def test_bad_frames_a_flood_and_bad_handshakes_leave_another_customer_served(live_url, rate_limits):
    kb_import_jsonl(path=DEMO_KB)
    names = ("first", "baseline", "abuser", "other")
    tokens = {n: customer_token_make(customer_id=CustomerFactory(name=n).pk) for n in names}
    figures = asyncio.run(
        abuse_scenario(
            base=live_url.replace("http://", "ws://"),
            tokens=tokens,
            burst=rate_limits.BATON_RATELIMIT_WS_FRAMES_BURST,
            flood_close=rate_limits.BATON_RATELIMIT_WS_FLOOD_CLOSE,
            answer_bound=ANSWER_BOUND_S,
        )
    )
    print(json.dumps({"bench": "ws_abuse_in_process", **figures}))
    assert figures["answer_during_flood_s"] < ANSWER_BOUND_S
