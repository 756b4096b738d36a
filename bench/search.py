"""Search benchmark: the search page's reads over 100,000 messages, with and without
the GIN index on the message bodies (migration conversations 0007).

    createdb -h 127.0.0.1 -U baton baton_search_bench   # once; a scratch database
    DATABASE_URL=postgres://baton:baton@127.0.0.1:5432/baton_search_bench \\
        python -m bench.search --messages 100000 --json

PostgreSQL only (SQLite's fallback has no index to measure). Fills the configured
database (a scratch one: earlier bench rows, customers "bench-search-…", are
deleted first and at the end) with ``--messages`` messages, ``--per`` a
conversation, one customer each, bodies drawn from a help-desk vocabulary with a
long tail (Zipf), so common words match thousands of messages and rare ones a few.
Then each query of QUERIES is searched as the page does it (the count, the first
page of 25, its snippets), ``--runs`` times: latency p50/p95 per query and over
all, first with the indexes, then with the message index dropped inside a
transaction that is rolled back (the index comes back unchanged, not rebuilt).
The plan of one search is checked for the index. The last line is one JSON object.
"""

import argparse
import json
import os
import random
import time

import django
import numpy as np

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "helpdesk.settings")

PREFIX = "bench-search-"
BATCH = 5000
INDEX = "message_body_search_idx"
COMMON = [
    "my",
    "the",
    "a",
    "to",
    "is",
    "it",
    "and",
    "i",
    "not",
    "can",
    "you",
    "please",
    "help",
    "with",
    "on",
    "for",
    "this",
    "when",
    "after",
    "sync",
    "file",
    "folder",
    "account",
    "password",
    "invoice",
    "payment",
    "app",
    "phone",
    "laptop",
    "error",
    "login",
    "share",
    "link",
    "upload",
    "download",
    "plan",
    "card",
    "team",
]
# Rare words: a long tail, so some queries match a handful of messages.
TAIL = [f"{a}{b}" for a in ("zor", "vex", "qua", "mip", "dul", "kan", "rho", "tsi") for b in range(250)]
NAMES = ["Greta", "Jonas", "Amira", "Li", "Pedro", "Sofia", "Noah", "Yuki", "Lena", "Omar"]
QUERIES = {
    "common_word": "sync",
    "two_words": "invoice payment",
    "phrase": '"reset password"',
    "rare_word": "vex17",
    "excluded": "login -error",
    "customer_name": "greta",
    "no_match": "nonexistentword",
}


def _cleanup():
    """Delete the bench's rows in three statements (the ORM's cascade would read every message first)."""
    from django.db import connection

    bench = (
        "SELECT c.id FROM conversations_conversation c"
        " JOIN conversations_customer u ON u.id = c.customer_id WHERE u.external_id LIKE %s"
    )
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM conversations_message WHERE conversation_id IN ({bench})", [PREFIX + "%"])
        cursor.execute(f"DELETE FROM conversations_conversation WHERE id IN ({bench})", [PREFIX + "%"])
        cursor.execute("DELETE FROM conversations_customer WHERE external_id LIKE %s", [PREFIX + "%"])


def _body(rng: random.Random, weights) -> str:
    words = rng.choices(COMMON, weights=weights, k=rng.randint(6, 24))
    if rng.random() < 0.3:
        words.insert(rng.randrange(len(words)), rng.choice(TAIL))
    if rng.random() < 0.02:
        words[rng.randrange(len(words)) :] = ["reset", "password"]
    return " ".join(words).capitalize() + "."


def _seed(*, messages: int, per: int, rng: random.Random) -> None:
    from conversations.models import Conversation, Customer, Message

    weights = [1 / (rank + 1) for rank in range(len(COMMON))]
    statuses = [Conversation.Status.RESOLVED] * 8 + [Conversation.Status.BOT] * 2
    made = 0
    while made < messages:
        size = min(BATCH // per, (messages - made + per - 1) // per)
        customers = Customer.objects.bulk_create(
            [
                Customer(
                    external_id=f"{PREFIX}{made + i}",
                    name=f"{rng.choice(NAMES)} {rng.choice(TAIL).title()}",
                    email=f"user{made + i}@example.com",
                )
                for i in range(size)
            ]
        )
        conversations = Conversation.objects.bulk_create(
            [Conversation(customer=c, status=rng.choice(statuses), priority=rng.randint(1, 4)) for c in customers]
        )
        rows = []
        for c in conversations:
            for seq in range(1, per + 1):
                sender = Message.Sender.CUSTOMER if seq % 2 else Message.Sender.BOT
                rows.append(Message(conversation=c, seq=seq, sender=sender, body=_body(rng, weights)))
        Message.objects.bulk_create(rows)
        made += len(rows)


def _search_page(text: str) -> float:
    """One search as the page reads it; ms."""
    from django.core.paginator import Paginator

    from conversations import search
    from conversations.views.search import PAGE_SIZE

    started = time.perf_counter()
    page = Paginator(search.search_conversations(text=text, filters=search.Filters()), PAGE_SIZE).get_page(1)
    search.search_snippets(conversation_ids=[c.pk for c in page], text=text)
    return (time.perf_counter() - started) * 1000


def _timed(runs: int) -> dict:
    figures, every = {}, []
    for name, text in QUERIES.items():
        _search_page(text)  # warm: the plan, the pages it reads
        ms = [_search_page(text) for _ in range(runs)]
        every += ms
        figures[name] = {
            "p50_ms": round(float(np.percentile(ms, 50)), 1),
            "p95_ms": round(float(np.percentile(ms, 95)), 1),
        }
    figures["all"] = {
        "p50_ms": round(float(np.percentile(every, 50)), 1),
        "p95_ms": round(float(np.percentile(every, 95)), 1),
    }
    return figures


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--per", type=int, default=10, help="messages a conversation")
    parser.add_argument("--runs", type=int, default=20, help="searches of each query, each way")
    parser.add_argument("--seed", type=int, default=15)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    django.setup()
    from django.core.management import call_command
    from django.db import connection, transaction

    from conversations import search
    from conversations.models import Message

    if connection.vendor != "postgresql":
        raise SystemExit("bench.search measures PostgreSQL's full-text search: set DATABASE_URL to a scratch database")
    call_command("migrate", verbosity=0)
    _cleanup()
    rng = random.Random(args.seed)
    started = time.perf_counter()
    _seed(messages=args.messages, per=args.per, rng=rng)
    seed_s = time.perf_counter() - started
    with connection.cursor() as cursor:
        for table in ["conversations_customer", "conversations_conversation", "conversations_message"]:
            cursor.execute(f"VACUUM (ANALYZE) {table}")  # as autovacuum would soon after the load
        cursor.execute("SELECT count(*) FROM conversations_message")
        total = cursor.fetchone()[0]
        cursor.execute("SELECT pg_relation_size(%s)", [INDEX])
        index_bytes = cursor.fetchone()[0]
    matches = {
        name: Message.objects.annotate(v=search.message_vector()).filter(v=search._tsquery(text)).count()
        for name, text in QUERIES.items()
    }
    plan = search.search_conversations(text=QUERIES["rare_word"], filters=search.Filters()).explain()
    with_index = _timed(args.runs)
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(f"DROP INDEX {INDEX}")
        plan_without = search.search_conversations(text=QUERIES["rare_word"], filters=search.Filters()).explain()
        without_index = _timed(max(args.runs // 4, 3))
        transaction.set_rollback(True)
    _cleanup()
    figures = {
        "database": connection.vendor,
        "messages": total,
        "messages_seeded": args.messages,
        "conversations_seeded": args.messages // args.per,
        "seed_s": round(seed_s, 1),
        "index_mb": round(index_bytes / 2**20, 1),
        "plan_uses_index": INDEX in plan,
        "plan_without_index_uses_it": INDEX in plan_without,
        "matching_messages": matches,
        "with_index": with_index,
        "without_index": without_index,
        "speedup_p50": round(without_index["all"]["p50_ms"] / max(with_index["all"]["p50_ms"], 0.1), 1),
    }
    print(json.dumps(figures) if args.json else "\n".join(f"{k}: {v}" for k, v in figures.items()))


if __name__ == "__main__":
    main()
