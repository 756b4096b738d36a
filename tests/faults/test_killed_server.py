"""Two ASGI processes behind one address, as a load balancer has them, and one is
killed with ``kill -9`` under load: its clients reconnect to the other and lose
nothing; its channel-layer memberships do not outlive it in Redis."""

import asyncio
import time

import redis

from tests.faults.crowd import crowd_plan, nothing_wrong, run


def _subscriptions(url: str, prefix: str) -> int:
    return len(redis.Redis.from_url(url).pubsub_channels(f"{prefix}*"))


def test_one_server_killed_under_load_costs_its_clients_nothing(private_redis, processes):
    plan = crowd_plan(customers=20, agents=4)
    one, two = processes.asgi("asgi-1"), processes.asgi("asgi-2")
    processes.qcluster()
    bases = [f"ws://127.0.0.1:{one.port}", f"ws://127.0.0.1:{two.port}"]
    prefix = processes.env["BATON_CHANNELS_PREFIX"]
    seen: dict = {}

    async def kill_one(crowd):
        await asyncio.sleep(8)
        seen["before"] = _subscriptions(private_redis.url, prefix)
        one.kill()
        seen["killed_at"] = time.monotonic()
        await asyncio.Event().wait()

    out = run(plan, bases=bases, rate=20, duration=25, chaos=kill_one)

    assert nothing_wrong(out) == {}, (out["wrong"], out["detail"], out["errors"], processes.logs_tail())
    assert not one.alive() and two.alive()
    assert out["reconnects"] > 0
    assert out["errors"] == []
    # Every socket is closed now: what the killed process subscribed went with it.
    assert seen["before"] > 0
    two.stop()
    assert _subscriptions(private_redis.url, prefix) == 0
