"""Events handed to the channel layer after commit (core/outbox.py): in order,
one bad event costing the others nothing, and with Redis a failing layer retried
until it answers, never dropping what waits."""

import logging

import pytest

from conversations import broadcast
from core import outbox
from core.tasks import channel_layer_is_process_local


def test_each_member_of_each_group_gets_the_events_in_order(layer_listener):
    one = layer_listener.listen("test.one")["test.one"]
    one_b = layer_listener.listen("test.one")["test.one"]
    two = layer_listener.listen("test.two")["test.two"]
    broadcast._send_many(
        [
            (["test.one", "test.nobody", "test.two"], {"type": "test.event", "n": 1}),
            (["test.one"], {"type": "test.event", "n": 2}),
        ]
    )
    broadcast._send_many([(["test.one", "test.two"], {"type": "test.event", "n": 3})])
    assert outbox.flush()
    assert [e["n"] for e in layer_listener.receive(one, 3)] == [1, 2, 3]
    assert [e["n"] for e in layer_listener.receive(one_b, 3)] == [1, 2, 3]
    assert [e["n"] for e in layer_listener.receive(two, 2)] == [1, 3]


def test_an_event_that_cannot_be_sent_costs_the_others_nothing(caplog, layer_listener):
    member = layer_listener.listen("test.after")["test.after"]
    with caplog.at_level(logging.WARNING, logger="core.outbox"):
        broadcast._send_many(
            [
                (["test.after"], {"type": "test.event", "n": 1, "bad": object()}),  # not serialisable
                (["test.after"], {"type": "test.event", "n": 2}),
            ]
        )
        assert outbox.flush()
    if channel_layer_is_process_local():  # the in-memory layer keeps objects as they are
        assert [e["n"] for e in layer_listener.receive(member, 2)] == [1, 2]
    else:
        assert [e["n"] for e in layer_listener.receive(member, 1)] == [2]
        assert "cannot send test.event to test.after" in caplog.text


class _FlakyLayer:
    """A layer that fails its first ``failures`` sends, as Redis restarting does."""

    def __init__(self, failures: int):
        self.failures = failures
        self.sent: list[tuple[str, int]] = []

    async def group_send(self, group, event):
        if self.failures:
            self.failures -= 1
            raise ConnectionError("Connection closed by server.")
        self.sent.append((group, event["n"]))


@pytest.fixture
def sender(monkeypatch):
    """A sender of its own, retrying fast, so these tests do not touch the process's."""
    monkeypatch.setattr(outbox, "RETRY_FIRST_S", 0.001)
    monkeypatch.setattr(outbox, "RETRY_MAX_S", 0.002)
    return outbox._Sender()


def test_a_send_that_fails_is_retried_until_it_goes_through_once_and_in_order(sender, caplog):
    layer = _FlakyLayer(failures=3)
    with caplog.at_level(logging.WARNING, logger="core.outbox"):
        sender.submit(layer, [(["a", "b"], {"n": 1}), (["a"], {"n": 2})])
        sender.submit(layer, [(["a"], {"n": 3})])
        assert sender.flush()
    assert layer.sent == [("a", 1), ("b", 1), ("a", 2), ("a", 3)]
    assert sender.retries == 3
    assert sender.dropped == 0
    assert "retrying" in caplog.text


def test_a_send_half_done_when_it_fails_does_not_send_the_first_half_twice(sender):
    class FailsOnSecond(_FlakyLayer):
        async def group_send(self, group, event):
            if event["n"] == 2 and self.failures:
                self.failures -= 1
                raise ConnectionError("reset")
            self.sent.append((group, event["n"]))

    layer = FailsOnSecond(failures=2)
    sender.submit(layer, [(["a"], {"n": 1}), (["a"], {"n": 2}), (["a"], {"n": 3})])
    assert sender.flush()
    assert layer.sent == [("a", 1), ("a", 2), ("a", 3)]


def test_what_waits_for_a_layer_that_never_answers_is_bounded(sender, monkeypatch, caplog):
    monkeypatch.setattr(outbox, "BACKLOG", 5)
    layer = _FlakyLayer(failures=10**9)
    with caplog.at_level(logging.WARNING, logger="core.outbox"):
        for n in range(8):
            sender.submit(layer, [(["a"], {"n": n})])
        assert not sender.flush(timeout=0.2)
    assert sender.dropped == 3
    assert "queued events dropped" in caplog.text
    layer.failures = 0  # the layer is back: what is left goes out, oldest first
    assert sender.flush()
    assert [n for _group, n in layer.sent] == [3, 4, 5, 6, 7]
