"""Analytics benchmark: render time and queries of the dashboard over a large history.

    createdb -h 127.0.0.1 -U baton baton_analytics_bench   # once; a scratch database
    DATABASE_URL=postgres://baton:baton@127.0.0.1:5432/baton_analytics_bench \\
        python -m bench.analytics --conversations 100000 --json

Fills the configured database (it must be a scratch one: earlier bench rows are
deleted first) with N conversations spread over the last 60 days, so a 30-day
report covers about half: bot-contained ones, handoffs with agents, replies and
resolutions, bot answers with confidence and sources, SLA timers and breaches,
20 agents with profiles and presence logs. Rows are bulk-inserted (the services
would take hours for this much history; the reports only read the tables).
Then an admin in Europe/Berlin opens the 30-day dashboard ``--runs`` times and a
30-day CSV of every conversation once. The last line is one JSON object.
"""

import argparse
import json
import os
import random
import statistics
import time
from contextlib import contextmanager
from datetime import timedelta

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "helpdesk.settings")

DAYS = 60
AGENTS = 20
ENTRIES = [f"bench-entry-{i}" for i in range(200)]
QUESTIONS = [f"how do i {verb} my {noun}?" for verb in ("reset", "export", "delete") for noun in ("data", "card")]


@contextmanager
def _timestamps_as_given(*models):
    """bulk_create keeps the created_at we set (auto_now_add would overwrite it)."""
    fields = [m._meta.get_field("created_at") for m in models]
    saved = [f.auto_now_add for f in fields]
    for f in fields:
        f.auto_now_add = False
    try:
        yield
    finally:
        for f, value in zip(fields, saved, strict=True):
            f.auto_now_add = value


def _clear():
    from django.contrib.auth import get_user_model

    from conversations.models import Customer

    Customer.objects.filter(name__startswith="bench-").delete()  # cascades to conversations, timers, breaches
    get_user_model().objects.filter(username__startswith="bench-").delete()


def generate(n: int, rng: random.Random, now, *, agents=None, entries=ENTRIES) -> None:
    """N conversations over the last DAYS days; ``agents`` (default: 20 new ones) take the handoffs."""
    from django.contrib.auth import get_user_model

    from analytics.models import HandoffQuestion
    from analytics.services import question_normalise
    from conversations.models import Conversation, Customer, Message
    from routing.models import AgentProfile, PresenceLog
    from sla.models import DEFAULT_TARGETS, Breach, SLAPolicy, SLATimer

    User = get_user_model()
    if agents is None:
        agents = [User.objects.create(username=f"bench-agent-{i}", first_name=f"Agent {i}") for i in range(AGENTS)]
    AgentProfile.objects.bulk_create(
        [AgentProfile(user=a, presence=rng.choice(["online", "away", "offline"]), capacity=5) for a in agents],
        ignore_conflicts=True,
    )
    logs = []
    for a in agents:
        for d in range(DAYS):
            start = now - timedelta(days=d, hours=rng.randint(1, 10))
            logs.append(PresenceLog(agent=a, status="online", started_at=start, ended_at=start + timedelta(hours=7)))
    PresenceLog.objects.bulk_create(logs, batch_size=5000)
    policy = SLAPolicy.objects.get(is_default=True)

    with _timestamps_as_given(Customer, Conversation, Message):
        for offset in range(0, n, 10_000):
            size = min(10_000, n - offset)
            created = [now - timedelta(seconds=rng.randint(60, DAYS * 86400)) for _ in range(size)]
            customers = Customer.objects.bulk_create(
                [Customer(name=f"bench-{offset + i}", created_at=c) for i, c in enumerate(created)], batch_size=5000
            )
            conversations, messages, timers, questions = [], [], [], []
            for customer, c in zip(customers, created, strict=True):
                fate = rng.random()
                conv = Conversation(customer=customer, created_at=c, priority=rng.choice([1, 2, 3, 3, 3, 4]))
                entry = rng.choice(entries)
                messages.append((conv, Message(seq=1, sender="customer", body=rng.choice(QUESTIONS), created_at=c)))
                bot_at = c + timedelta(seconds=2)
                messages.append(
                    (
                        conv,
                        Message(
                            seq=2,
                            sender="bot",
                            body="…",
                            confidence=round(rng.uniform(0.3, 1.0), 3),
                            sources=[{"id": entry, "title": entry, "score": 0.5}],
                            created_at=bot_at,
                        ),
                    )
                )
                if fate < 0.35:
                    conv.status, conv.resolved_at = "resolved", c + timedelta(minutes=3)
                elif fate < 0.45:
                    conv.status = "bot"
                else:
                    h = c + timedelta(minutes=rng.randint(1, 5))
                    conv.handed_off_at = h
                    conv.handoff_reason = rng.choice(["low_confidence", "customer_request", "repeated_failure"])
                    conv.handoff_confidence = (
                        round(rng.uniform(0.0, 0.5), 3) if conv.handoff_reason != "customer_request" else None
                    )
                    conv.handoff_sources = [{"id": entry, "title": entry, "score": 0.4}]
                    if now - h < timedelta(minutes=30):
                        conv.status = "pending_handoff"
                    else:
                        agent = rng.choice(agents)
                        conv.assigned_agent, conv.assigned_at = agent, h + timedelta(seconds=rng.randint(10, 1800))
                        conv.first_agent_reply_at = conv.assigned_at + timedelta(seconds=rng.randint(20, 900))
                        if rng.random() < 0.9 or now - h > timedelta(days=1):  # only recent ones still open
                            conv.status = "resolved"
                            conv.resolved_at = conv.first_agent_reply_at + timedelta(seconds=rng.randint(60, 7200))
                        else:
                            conv.status = "assigned"
                    question = rng.choice(QUESTIONS)
                    messages.append((conv, Message(seq=3, sender="customer", body=question, created_at=h)))
                    timers.append(conv)
                    if conv.handoff_reason == "low_confidence":
                        questions.append((conv, question))
                conversations.append(conv)
            Conversation.objects.bulk_create(conversations, batch_size=5000)
            for conv, m in messages:
                m.conversation = conv
            Message.objects.bulk_create([m for _, m in messages], batch_size=5000)
            HandoffQuestion.objects.bulk_create(
                [
                    HandoffQuestion(conversation=c, text=question_normalise(q), handed_off_at=c.handed_off_at)
                    for c, q in questions
                ],
                batch_size=5000,
            )
            sla_timers = []
            for conv in timers:
                for kind, stop in (("first_response", conv.first_agent_reply_at), ("resolution", conv.resolved_at)):
                    target = DEFAULT_TARGETS[conv.priority][0 if kind == "first_response" else 1]
                    due = conv.handed_off_at + timedelta(seconds=target)
                    state = "running" if stop is None else ("met" if stop <= due else "breached")
                    if stop is None and due < now:
                        state = "breached"
                    sla_timers.append(
                        SLATimer(
                            conversation=conv,
                            kind=kind,
                            policy=policy,
                            priority=conv.priority,
                            target_seconds=target,
                            started_at=conv.handed_off_at,
                            at_risk_at=conv.handed_off_at + timedelta(seconds=target * 0.8),
                            due_at=due,
                            state=state,
                            stopped_at=stop,
                            breached_at=due if state == "breached" else None,
                        )
                    )
            SLATimer.objects.bulk_create(sla_timers, batch_size=5000)
            Breach.objects.bulk_create(
                [
                    Breach(
                        timer=t,
                        conversation=t.conversation,
                        kind=t.kind,
                        priority=t.priority,
                        policy=policy,
                        target_seconds=t.target_seconds,
                        deadline=t.due_at,
                        detected_at=t.due_at + timedelta(seconds=15),
                        agent=t.conversation.assigned_agent,
                    )
                    for t in sla_timers
                    if t.state == "breached"
                ],
                batch_size=5000,
            )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--conversations", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--reuse", action="store_true", help="keep the rows of an earlier run of the same size")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    django.setup()
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext
    from django.urls import reverse
    from django.utils import timezone

    from analytics.services import preference_set
    from conversations.models import Conversation, Message

    call_command("migrate", verbosity=0)
    now = timezone.now()
    started = time.perf_counter()
    bench_rows = Conversation.objects.filter(customer__name__startswith="bench-")
    if not (args.reuse and bench_rows.count() == args.conversations):
        _clear()
        generate(args.conversations, random.Random(args.seed), now)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            for table in ("conversations_conversation", "conversations_message", "sla_slatimer", "sla_breach"):
                cursor.execute(f"VACUUM ANALYZE {table}")  # as autovacuum would have, for index-only scans
    generate_s = time.perf_counter() - started

    admin, _ = get_user_model().objects.get_or_create(username="bench-admin", defaults={"is_staff": True})
    preference_set(user=admin, time_zone="Europe/Berlin")
    client = Client(headers={"host": "127.0.0.1"})
    client.force_login(admin)
    url = reverse("analytics") + "?period=30d"
    for _ in range(2):  # warm caches and connections
        assert client.get(url).status_code == 200
    render_ms, queries = [], []
    for _ in range(args.runs):
        with CaptureQueriesContext(connection) as captured:
            t = time.perf_counter()
            response = client.get(url)
            render_ms.append((time.perf_counter() - t) * 1000)
        assert response.status_code == 200
        queries.append(len(captured))
    t = time.perf_counter()
    response = client.get(reverse("analytics-export", args=["conversations"]) + "?period=30d")
    exported = sum(chunk.count(b"\n") for chunk in response.streaming_content) - 1
    export_s = time.perf_counter() - t
    t = time.perf_counter()
    client.get(reverse("analytics-now"))
    now_ms = (time.perf_counter() - t) * 1000
    figures = {
        "database": connection.vendor,
        "conversations": Conversation.objects.filter(customer__name__startswith="bench-").count(),
        "messages": Message.objects.filter(conversation__customer__name__startswith="bench-").count(),
        "generate_s": round(generate_s, 1),
        "period_days": 30,
        "runs": args.runs,
        "render_ms_p50": round(statistics.median(render_ms), 1),
        "render_ms_p99": round(sorted(render_ms)[min(len(render_ms) - 1, round(0.99 * (len(render_ms) - 1)))], 1),
        "queries": max(queries),
        "now_panel_ms": round(now_ms, 1),
        "export_rows": exported,
        "export_s": round(export_s, 2),
    }
    print(json.dumps(figures) if args.json else "\n".join(f"{k}: {v}" for k, v in figures.items()))


if __name__ == "__main__":
    main()
