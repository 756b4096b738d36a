"""Events handed to the channel layer after commit: through this process's sender
with Redis (pooled, pipelined), directly on the in-memory layer; each mode runs
these against its own layer."""

import asyncio
import logging

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

from conversations import broadcast
from helpdesk import outbox
from helpdesk.tasks import channel_layer_is_process_local


def _members(layer, group: str, n: int) -> list[str]:
    channels = [async_to_sync(layer.new_channel)() for _ in range(n)]
    for channel in channels:
        async_to_sync(layer.group_add)(group, channel)
    return channels


def _received(layer, counts: dict[str, int]) -> dict[str, list[dict]]:
    """The next events of each channel, read on one event loop: channels-redis keeps
    one receive lock for all of a process's channels, bound to the loop that made it."""

    async def receive():
        return {
            channel: [await asyncio.wait_for(layer.receive(channel), timeout=5) for _ in range(n)]
            for channel, n in counts.items()
        }

    return {
        channel: [{k: v for k, v in e.items() if k != "__asgi_channel__"} for e in events]
        for channel, events in async_to_sync(receive)().items()
    }


def test_each_member_of_each_group_gets_the_events_in_order():
    layer = get_channel_layer()
    one_a, one_b = _members(layer, "test.one", 2)
    [two] = _members(layer, "test.two", 1)
    broadcast._send_many(
        [
            (["test.one", "test.nobody", "test.two"], {"type": "test.event", "n": 1}),
            (["test.one"], {"type": "test.event", "n": 2}),
        ]
    )
    broadcast._send_many([(["test.one", "test.two"], {"type": "test.event", "n": 3})])
    assert outbox.flush()
    received = _received(layer, {one_a: 3, one_b: 3, two: 2})
    assert {channel: [e["n"] for e in events] for channel, events in received.items()} == {
        one_a: [1, 2, 3],
        one_b: [1, 2, 3],
        two: [1, 3],
    }


def test_an_event_that_cannot_be_sent_costs_the_others_nothing(caplog):
    layer = get_channel_layer()
    [member] = _members(layer, "test.after", 1)
    with caplog.at_level(logging.ERROR, logger="helpdesk.outbox"):
        broadcast._send_many(
            [
                (["test.after"], {"type": "test.event", "n": 1, "bad": object()}),  # not serialisable
                (["test.after"], {"type": "test.event", "n": 2}),
            ]
        )
        assert outbox.flush()
    if channel_layer_is_process_local():  # the in-memory layer keeps objects as they are
        assert [e["n"] for e in _received(layer, {member: 2})[member]] == [1, 2]
    else:
        assert [e["n"] for e in _received(layer, {member: 1})[member]] == [2]
        assert "cannot send test.event to test.after" in caplog.text
