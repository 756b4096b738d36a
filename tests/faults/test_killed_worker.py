"""``kill -9`` of the django-q2 cluster's workers in the middle of bot turns:
every question is still answered, exactly once, and no conversation stays with
the bot with a question unanswered.

A worker killed while it waits on the cluster's task queue leaves that queue's
lock held (multiprocessing), and the cluster takes no more tasks until it is
restarted: the turns are then answered by the timers' recovery in the ASGI
process (``bot_turns_recover``), which is what this test relies on too."""

import asyncio
import os
import signal

from django.utils import timezone
from django_q.status import Stat

from bench import servers
from conversations.models import BotTurn
from tests.faults.crowd import crowd_plan, nothing_wrong, run


def _claimed_now() -> int:
    return BotTurn.objects.filter(claimed_until__gt=timezone.now()).count()


def _workers(cluster) -> list[int]:
    """The cluster's worker processes, as its sentinel reports them (django-q2's
    cluster status in the broker), not its pusher or monitor."""
    sentinels = set(servers.children(cluster.pid))
    return [pid for stat in Stat.get_all() if stat.sentinel in sentinels for pid in stat.workers]


def test_a_worker_killed_during_bot_turns_leaves_no_question_unanswered(processes):
    plan = crowd_plan(customers=30, agents=4)
    asgi = processes.asgi()
    cluster = processes.qcluster()
    kills: list[dict] = []

    async def kill_workers_mid_turn(crowd):
        while len(kills) < 2:
            # A turn held by a worker right now: kill every worker of the cluster.
            if await asyncio.to_thread(_claimed_now) and (workers := await asyncio.to_thread(_workers, cluster)):
                for pid in workers:
                    os.kill(pid, signal.SIGKILL)
                kills.append({"workers": len(workers), "held": await asyncio.to_thread(_claimed_now)})
                await asyncio.sleep(5)
            await asyncio.sleep(0.01)
        await asyncio.Event().wait()

    out = run(plan, bases=[f"ws://127.0.0.1:{asgi.port}"], rate=20, duration=20, chaos=kill_workers_mid_turn)

    assert nothing_wrong(out) == {}, (out["wrong"], out["detail"], out["errors"], processes.logs_tail())
    assert len(kills) == 2, kills
    # The kills left turns held by dead workers: answered later by someone else.
    assert any(k["held"] for k in kills), kills
    assert all(k["workers"] == 2 for k in kills), kills
    assert out["errors"] == []
