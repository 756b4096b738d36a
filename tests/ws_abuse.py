"""Abuse of the customer socket through real websocket clients against a real
server, shared by the in-process server test (tests/e2e/test_ws_abuse.py, both
modes) and the real-processes one (tests/faults/test_ws_abuse.py, PostgreSQL +
Redis): every bad frame is answered with an error frame, a flood of 1,000 frames
a second is refused frame by frame and then closed with 1008, a forged Origin and
a missing token are refused at the handshake, and meanwhile another customer is
served as ever. Returns figures, each timing with the load average beside it.
"""

import asyncio
import json
import time
from pathlib import Path

import pytest
import websockets

from bench.clients import customer_subprotocols

QUESTION = "How do I reset my password?"
FLOOD_FRAMES = 1000
FLOOD_RATE = 1000  # frames a second


def open_customer_socket(base: str, token: str | None, *, origin: str | None = None):
    """The one place these tests open a customer's socket: the token in a
    subprotocol, as chat.js sends it."""
    return websockets.connect(
        f"{base}/ws/chat/",
        origin=origin or base.replace("ws://", "http://"),
        subprotocols=customer_subprotocols(token) if token else ["baton"],
        max_size=None,
    )


def loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


async def _answer(ws, timeout: float = 30) -> dict:
    """The next answer to a frame this socket sent, past live events."""
    while True:
        frame = json.loads(await asyncio.wait_for(ws.recv(), timeout=timeout))
        if frame["type"] in ("error", "message.ack"):
            return frame


async def _ask(ws, client_id: str, *, bound: float) -> float:
    """Seconds from sending the question to the bot's answer."""
    started = time.monotonic()
    await ws.send(json.dumps({"type": "message", "body": QUESTION, "client_id": client_id}))
    while True:
        left = bound - (time.monotonic() - started)
        frame = json.loads(await asyncio.wait_for(ws.recv(), timeout=max(left, 0.01)))
        if frame["type"] == "conversation.message" and frame["message"]["sender"] == "bot":
            return time.monotonic() - started


async def _flood(ws) -> dict:
    """FLOOD_FRAMES frames at FLOOD_RATE a second, reading every answer until the
    server closes the socket."""
    codes: list[str] = []
    closed_at: list[float] = []

    async def read():
        try:
            async for raw in ws:
                frame = json.loads(raw)
                if frame["type"] == "error":
                    codes.append(frame["code"])
        except websockets.ConnectionClosed:
            pass
        closed_at.append(time.monotonic())

    reader = asyncio.create_task(read())
    started = time.monotonic()
    sent = 0
    try:
        for i in range(FLOOD_FRAMES):
            await ws.send(json.dumps({"type": "nope", "client_id": f"f{i}"}))
            sent += 1
            if i % 10 == 9:  # paced, not a synchronisation: the rate a flooding client sends at
                await asyncio.sleep(max(0.0, started + (i + 1) / FLOOD_RATE - time.monotonic()))
            if reader.done():
                break
    except websockets.ConnectionClosed:
        pass
    await asyncio.wait_for(reader, timeout=60)
    return {"codes": codes, "sent": sent, "to_close_s": closed_at[0] - started, "close": ws.close_code}


async def abuse_scenario(*, base: str, tokens: dict, burst: int, flood_close: int, answer_bound: float) -> dict:
    """``tokens``: customer tokens for "first" (warms the bot up), "baseline" (an
    answer without a flood, to compare), "abuser" and "other"."""
    figures = {}
    async with open_customer_socket(base, tokens["first"]) as warm:  # the model loads before the clock starts
        figures["first_answer_s"] = round(await _ask(warm, "warm", bound=120), 3)
    async with open_customer_socket(base, tokens["baseline"]) as calm:
        figures["baseline_load"] = loadavg()
        figures["answer_without_flood_s"] = round(await _ask(calm, "calm", bound=answer_bound), 3)
    async with (
        open_customer_socket(base, tokens["abuser"]) as bad,
        open_customer_socket(base, tokens["other"]) as good,
    ):
        # Each bad frame, answered with an error frame on a socket that stays open.
        cases = [
            ("not json", "bad_request"),
            (b"\x00\x01binary", "bad_request"),
            (json.dumps({"type": "message", "body": "x" * 1_000_000}), "too_large"),
            (json.dumps({"type": 7}), "bad_request"),
            (json.dumps({"type": "message", "body": 12, "client_id": "w"}), "empty"),
            (json.dumps({"type": "delete_everything"}), "bad_request"),
        ]
        for frame, code in cases:
            await bad.send(frame)
            answer = await _answer(bad)
            assert (answer["type"], answer["code"]) == ("error", code), (frame[:40], answer)
        # The flood, while the other customer asks the bot.
        flood_task = asyncio.create_task(_flood(bad))
        figures["answer_load"] = loadavg()
        figures["answer_during_flood_s"] = round(await _ask(good, "during", bound=answer_bound), 3)
        flood = await flood_task
        figures["flood_load"] = loadavg()
        figures["flood_to_close_s"] = round(flood["to_close_s"], 3)
        figures["flood_sent_before_close"] = flood["sent"]
        figures["flood_answers"] = len(flood["codes"])
        assert flood["close"] == 1008, flood["close"]
        assert flood["codes"][-flood_close:] == ["rate_limited"] * flood_close
        assert set(flood["codes"]) == {"bad_request", "rate_limited"}
        # The socket's budget (less the bad frames above) served as ever, first.
        served = flood["codes"].count("bad_request")
        assert flood["codes"][:served] == ["bad_request"] * served
        assert served >= burst - len(cases)
        # The other customer's socket is untouched by it.
        await good.send(json.dumps({"type": "message", "body": "still here?", "client_id": "after"}))
        assert (await _answer(good))["type"] == "message.ack"
    # The flooding customer may come back (a socket was closed, not the customer).
    async with open_customer_socket(base, tokens["abuser"]) as again:
        await again.send(json.dumps({"type": "message", "body": "sorry", "client_id": "back"}))
        assert (await _answer(again))["type"] == "message.ack"
    # Handshakes refused: a forged Origin, and no token at all.
    for token, origin in ((tokens["other"], "https://evil.example"), (None, None)):
        with pytest.raises(websockets.InvalidStatus) as refused:
            async with open_customer_socket(base, token, origin=origin):
                pass
        assert refused.value.response.status_code == 403
    return figures
