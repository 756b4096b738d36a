"""The one timer mechanism (core/timers.py): one process leads, a job that
fails costs the others nothing and runs again, and the ticker survives it."""

import asyncio
import threading

import pytest
from asgiref.sync import sync_to_async
from django.db import connection

from core import timers

pytestmark = pytest.mark.django_db(transaction=True)


def test_one_process_leads_at_a_time_and_another_takes_over_when_it_goes():
    one, two = timers._Leadership(), timers._Leadership()
    try:
        assert one.take()
        if connection.vendor != "postgresql":
            assert two.take()  # embedded mode is one process: it always leads
            return
        assert one.take()  # still leading
        assert not two.take()
        one.give_up()  # the leader's process stopped (or its session ended)
        assert two.take()
        assert not one.take()
    finally:
        one.give_up()
        two.give_up()


async def test_a_failing_job_is_logged_and_the_others_keep_running(monkeypatch, settings, caplog):
    settings.BATON_TIMERS_TICK_MS = 10
    ran: list[str] = []
    done = asyncio.Event()

    def boom(*, now):
        ran.append("boom")
        raise RuntimeError("the database is restarting")

    def fine(*, now):
        ran.append("fine")
        if ran.count("fine") >= 3 and ran.count("boom") >= 3:
            loop.call_soon_threadsafe(done.set)

    loop = asyncio.get_running_loop()
    monkeypatch.setattr(timers, "_jobs", [timers.Job("boom", boom, 0.0), timers.Job("fine", fine, 0.0)])
    ticker = loop.create_task(timers._tick_forever())
    try:
        await asyncio.wait_for(done.wait(), timeout=20)
    finally:
        ticker.cancel()
        with pytest.raises(asyncio.CancelledError):
            await ticker
    assert "timer job boom failed" in caplog.text
    # Given up as the ticker stopped: another process may lead at once.
    other = timers._Leadership()
    try:
        assert await sync_to_async(other.take, thread_sensitive=False)()
    finally:
        other.give_up()


def test_a_take_still_running_when_the_ticker_closes_leaves_no_lock_behind(monkeypatch):
    """The ticker's await of ``take`` can be cancelled while ``take`` goes on in a
    worker thread; closing must wait for it and release what it took."""
    closing = timers._Leadership()
    if connection.vendor != "postgresql":
        closing.close()
        assert not closing.take()  # a closed ticker does not lead, even embedded
        return
    connecting, go_on = threading.Event(), threading.Event()
    connect = closing._connect

    def slow_connect():
        connecting.set()
        go_on.wait(10)
        return connect()

    monkeypatch.setattr(closing, "_connect", slow_connect)
    in_flight = threading.Thread(target=closing.take)
    in_flight.start()
    assert connecting.wait(10)
    closer = threading.Thread(target=closing.close)
    closer.start()
    go_on.set()
    in_flight.join(10)
    closer.join(10)
    assert not closing.take()  # closed for good, on its way or not
    other = timers._Leadership()
    try:
        assert other.take()
    finally:
        other.give_up()


def test_the_backstop_runs_every_job_once_unless_a_ticker_leads(monkeypatch):
    ran: list[str] = []
    monkeypatch.setattr(timers, "_jobs", [timers.Job("a", lambda *, now: ran.append("a"), 0.0)])
    monkeypatch.setattr("core.tasks.channel_layer_is_process_local", lambda: False)
    if connection.vendor != "postgresql":
        assert timers.backstop() == 1
        return
    leader = timers._Leadership()
    try:
        assert leader.take()
        assert timers.backstop() == 0 and ran == []
        leader.give_up()
        assert timers.backstop() == 1 and ran == ["a"]
    finally:
        leader.give_up()
