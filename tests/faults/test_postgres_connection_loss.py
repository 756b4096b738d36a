"""PostgreSQL ends every session of the servers, three times under load (what a
restart or a failover does to them): requests answer a JSON error or succeed,
clients retry, and nothing is lost, doubled or stuck."""

import asyncio
import signal
import time

from django.db import connection

from tests.faults.crowd import crowd_plan, nothing_wrong, run

SERVERS = "baton-fault-server"  # application_name of the servers' sessions


def _terminate() -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
            " WHERE datname = current_database() AND application_name = %s",
            [SERVERS],
        )
        return cursor.fetchone()[0]


def test_the_servers_sessions_ending_under_load_lose_nothing(processes):
    processes.env["PGAPPNAME"] = SERVERS
    plan = crowd_plan(customers=20, agents=4)
    asgi = processes.asgi()
    cluster = processes.qcluster()
    ended: list[int] = []

    async def cuts(crowd):
        for _ in range(3):
            await asyncio.sleep(6)
            ended.append(await asyncio.to_thread(_terminate))
        await asyncio.Event().wait()

    started = time.monotonic()
    out = run(plan, bases=[f"ws://127.0.0.1:{asgi.port}"], rate=15, duration=25, chaos=cuts)

    assert nothing_wrong(out) == {}, (out["wrong"], out["detail"], out["errors"], processes.logs_tail())
    assert len(ended) == 3 and all(n > 0 for n in ended), ended
    assert out["errors"] == []
    assert time.monotonic() - started < 180
    assert asgi.alive()
    # SIGTERM stops the cluster within seconds: no task runs for minutes any more
    # (the SLA sweep loop held a worker for 85 s and the cluster ignored SIGTERM).
    stopping = time.monotonic()
    assert cluster.stop(timeout=20) != -signal.SIGKILL
    assert time.monotonic() - stopping < 20
