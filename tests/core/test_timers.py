"""The one timer mechanism (core/timers.py): one process leads, a job that
fails costs the others nothing and runs again, and the ticker survives it."""

import asyncio

import pytest
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
    assert not timers._leadership._held  # given up as the ticker stopped


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
