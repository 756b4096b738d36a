"""A crowd of simulated browsers (bench/clients.py) on the real servers, and the
comparison every fault test ends with: what each client holds against the
database."""

import asyncio
import random
import time
from collections import defaultdict
from types import SimpleNamespace

from asgiref.sync import sync_to_async
from django.db import connection
from django.db.models import Count

from bench import realtime
from conversations.models import BotTurn, Conversation, Message


def crowd_plan(*, customers: int, agents: int) -> dict:
    """Agents online, customers half with the bot and half assigned to an agent
    (bench.realtime's set-up), committed for the servers to see."""
    return realtime._setup(SimpleNamespace(customers=customers, agents=agents))


def compare(snapshot: dict) -> dict:
    """What is wrong between the clients' holdings and the database; all zeros
    when every participant holds every message exactly once, in order, every
    send was stored once and acknowledged, and nothing waits for the bot or for
    routing."""
    customers, conversations = snapshot["customers"], snapshot["conversations"]
    expected: dict[int, list[tuple]] = defaultdict(list)
    for message_id, conversation_id, seq, customer_id in (
        Message.objects.filter(conversation__customer_id__in=list(customers))
        .order_by("conversation_id", "seq")
        .values_list("id", "conversation_id", "seq", "conversation__customer_id")
    ):
        expected[customer_id].append((message_id, conversation_id, seq))
    by_conversation: dict[int, list[tuple]] = defaultdict(list)
    for rows in expected.values():
        for row in rows:
            by_conversation[row[1]].append(row)

    found = {"missing": 0, "unknown": 0, "misplaced": 0}

    def check(held: list[tuple], wanted: list[tuple]) -> None:
        held_ids, wanted_ids = {r[0] for r in held}, {r[0] for r in wanted}
        found["missing"] += len(wanted_ids - held_ids)
        found["unknown"] += len(held_ids - wanted_ids)
        at = {r[0]: r for r in wanted}
        found["misplaced"] += sum(1 for r in held if r[0] in at and at[r[0]] != r)

    for customer_id, held in customers.items():
        check(held, expected[customer_id])
    for conversation_id, held in conversations.items():
        check(held, by_conversation[conversation_id])

    mine = Message.objects.filter(conversation__customer_id__in=list(customers))
    twice = [
        *mine.exclude(client_id="").values("client_id").annotate(n=Count("id")).filter(n__gt=1),
        *mine.filter(body__contains="#t", sender="customer").values("body").annotate(n=Count("id")).filter(n__gt=1),
    ]
    if twice:
        snapshot.setdefault("detail", {})["stored_twice"] = [
            list(mine.filter(**{k: v for k, v in row.items() if k != "n"}).values()) for row in twice
        ]
    stored_twice = len(twice)
    open_ones = Conversation.objects.filter(customer_id__in=list(customers))
    return {
        **found,
        "stored_twice": stored_twice,
        "unacked": snapshot["unacked"],
        "bot_turns_owed": BotTurn.objects.filter(conversation__customer_id__in=list(customers)).count(),
        "waiting_for_routing": open_ones.filter(status=Conversation.Status.PENDING_HANDOFF).count(),
        "bot_answers_missing": _bot_answers_missing(open_ones),
    }


def _bot_answers_missing(conversations) -> int:
    """Customer messages of conversations the bot still has, with no bot answer
    after them: each question gets one answer (or the handoff)."""
    owed = 0
    for conversation_id in conversations.filter(status=Conversation.Status.BOT).values_list("pk", flat=True):
        senders = list(
            Message.objects.filter(conversation_id=conversation_id).order_by("seq").values_list("sender", flat=True)
        )
        questions = senders.count(Message.Sender.CUSTOMER)
        answers = senders.count(Message.Sender.BOT)
        owed += max(0, questions - answers)
    return owed


def storm(*, every: tuple[float, float], rng: random.Random | None = None):
    """Chaos: each client's connection is cut (no closing handshake) at random
    intervals in ``every`` seconds, as flaky networks do."""
    rng = rng or random.Random(13)
    cuts = {"n": 0, "clients": 0}

    async def cut_forever(client):
        while True:
            await asyncio.sleep(rng.uniform(*every))
            await client.drop()
            cuts["n"] += 1

    async def chaos(crowd):
        clients = [*crowd["customers"], *crowd["inboxes"], *crowd["conversations"].values()]
        cuts["clients"] = len(clients)
        tasks = [asyncio.create_task(cut_forever(c)) for c in clients]
        try:
            await asyncio.Event().wait()
        finally:
            for task in tasks:
                task.cancel()

    chaos.cuts = cuts
    return chaos


def run(plan: dict, *, bases: list[str], rate: float, duration: float, chaos=None, drain_s: float = 90) -> dict:
    """Drive the crowd and wait (at most ``drain_s``) until the comparison is all
    zeros; returns the load's figures with the final comparison as ``wrong``
    and how long settling took as ``settle_s``."""
    plan = {**plan, "ws_base": bases, "rate": rate, "duration": duration, "seed": 7, "drain_s": drain_s}
    last: dict = {}
    started: dict = {}

    def compare_and_close(snapshot):
        try:
            return compare(snapshot)
        finally:
            connection.close()  # this thread's: the test database is dropped at the end

    async def settled(crowd) -> bool:
        started.setdefault("at", time.monotonic())
        snapshot = realtime.crowd_snapshot(crowd)
        last.update(await sync_to_async(compare_and_close, thread_sensitive=False)(snapshot))
        return not any(last.values())

    out = asyncio.run(realtime._drive(plan, chaos=chaos, settled=settled))
    out["wrong"] = compare(out["snapshot"])
    out["detail"] = out["snapshot"].get("detail")
    out["settle_s"] = round(time.monotonic() - started.get("at", time.monotonic()), 1)
    return out


def nothing_wrong(out: dict) -> dict:
    """The comparison's non-zero entries (empty when all is well)."""
    return {k: v for k, v in out["wrong"].items() if v}
