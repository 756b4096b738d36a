"""The write path of the conversations app: one function per domain action.

Each validates, locks what it changes, writes, and schedules its broadcasts on
commit (``check → do → notify``, as Zulip's actions). Lock order: customer row,
then conversation row (see docs/concurrency.md).
"""

import contextvars
import json
import logging
import re
from contextlib import contextmanager
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from conversations import broadcast, queries, selectors, signals
from conversations.identity import Identity, Visitor
from conversations.models import BotTurn, Conversation, ConversationEvent, Customer, Message, display_name
from conversations.selectors import conversation_open_for, queue_position
from helpdesk.db import bulk_insert, sql_case, sql_for_update, sql_get, sql_in, sql_rows, sql_run, sql_time
from helpdesk.tasks import task_enqueue
from knowledge import bot
from knowledge import services as knowledge_services
from knowledge.models import Entry, EvalCase

logger = logging.getLogger(__name__)

Status = Conversation.Status
CONVERSATIONS = Conversation._meta.db_table
MESSAGES = Message._meta.db_table


class ConversationAlreadyTaken(Exception):
    """Another agent accepted the conversation first."""

    def __init__(self, conversation: Conversation):
        self.conversation = conversation
        agent = conversation.assigned_agent
        who = display_name(agent) if agent else "someone else"
        if conversation.status == Status.RESOLVED:
            super().__init__("This conversation is already resolved.")
        else:
            super().__init__(f"{who} already accepted this conversation.")


def _utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate, which JSON's \ud800 escapes can carry
        return False
    return True


def message_body_clean(body: object) -> str:
    """The body to store, or a ValidationError a customer or agent can read."""
    if not isinstance(body, str) or not body.strip():
        raise ValidationError("Please type a message first.", code="empty")
    body = body.strip()
    if "\x00" in body or not _utf8(body):
        # PostgreSQL refuses both in text (a 500 before); nothing a person types.
        raise ValidationError("Messages cannot contain NUL or unpaired surrogate characters.", code="bad_request")
    limit = settings.BATON_MAX_MESSAGE_CHARS
    if len(body) > limit:
        raise ValidationError(
            f"Messages can be at most {limit:,} characters (this one has {len(body):,}). "
            "Please shorten it or split it in two.",
            code="too_long",
        )
    return body


_CLIENT_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")


def client_id_clean(client_id: object) -> str:
    """The id a browser gave its message ("" if none), or a ValidationError."""
    if client_id is None or client_id == "":
        return ""
    if not isinstance(client_id, str) or not _CLIENT_ID.fullmatch(client_id):
        raise ValidationError("A message's client id is 1 to 64 letters, digits, - or _.", code="bad_request")
    return client_id


class _Repeated(Exception):
    """A message with this client id is stored already: roll back, return that one."""


# Characters a display name never needs: control characters (NUL is refused by
# PostgreSQL: a 500 before) and the bidirectional overrides that make a name
# read as something else in the agent's list.
_NAME_DROPPED = re.compile("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")


def display_name_clean(name: str) -> str:
    """A name as the agents will see it: printable, without unpaired surrogates, at most 200 characters."""
    return _NAME_DROPPED.sub("", name).strip()[:200]


def customer_create(*, name: str = "", external_id: str = "") -> Customer:
    customer = Customer(name=display_name_clean(name), external_id=external_id[:200])
    customer.full_clean()
    customer.save()
    return customer


def customer_for_visitor(*, visitor: Visitor) -> Customer:
    """The customer a visitor's first message (or handoff request) makes, or the one
    it made before: one row per visitor key however many first messages race
    (the key's unique constraint; ``get_or_create`` retries on its conflict)."""
    if visitor.customer_id is not None:
        return Customer.objects.get(pk=visitor.customer_id)
    customer, _ = Customer.objects.get_or_create(
        visitor_key=visitor.visitor_key, defaults={"name": display_name_clean(visitor.name)}
    )
    return customer


@transaction.atomic
def customer_identify(*, identity: Identity) -> Customer:
    """The customer an embedding site vouches for, made or updated from what it
    proved: the verified name and e-mail replace what the visitor's page said,
    and its traits (when it sent some) replace the earlier ones."""
    customer, _ = Customer.objects.select_for_update().get_or_create(external_id=identity.external_id[:200])
    before = _identity_fields(customer)
    customer.verified = True
    if identity.name:
        customer.name = display_name_clean(identity.name)
    if identity.email:
        customer.email = identity.email.strip()[:254]
    if identity.traits is not None:
        segment, language = identity.traits.get("segment", ""), identity.traits.get("language", "")
        # segment and language go to their fields: priority and routing rules match on them.
        customer.segment = segment[:50] if isinstance(segment, str) else ""
        customer.language = language[:10] if isinstance(language, str) else ""
        customer.attributes = {k: v for k, v in identity.traits.items() if k not in ("segment", "language")}
    try:
        customer.full_clean(validate_unique=False, validate_constraints=False)
    except ValidationError:
        customer.email = ""  # a malformed address from the site is dropped, not a refusal
        customer.full_clean(validate_unique=False, validate_constraints=False)
    if _identity_fields(customer) != before:  # every page load verifies: most change nothing
        customer.save(update_fields=["verified", "name", "email", "segment", "language", "attributes"])
    return customer


def _identity_fields(customer: Customer) -> tuple:
    c = customer
    return (c.verified, c.name, c.email, c.segment, c.language, c.attributes)


def customer_rename(*, customer: Customer, name: str) -> Customer:
    """An unverified visitor's name, as their page gives it; never a verified one."""
    name = display_name_clean(name)
    if name and not customer.verified and customer.name != name:
        Customer.objects.filter(pk=customer.pk, verified=False).update(name=name)
        customer.name = name
    return customer


def _message_create(
    *,
    conversation: Conversation,
    sender: str,
    body: str,
    seq: int | None = None,
    agent: AbstractBaseUser | None = None,
    confidence: float | None = None,
    sources: list | None = None,
) -> Message:
    """Store a message with the conversation's next sequence number.

    The conditional ``UPDATE ... SET last_seq = last_seq + 1`` takes the row lock,
    so concurrent writers to one conversation get consecutive numbers. A caller
    whose own UPDATE of the row already took the number (a status change that
    also sets ``last_seq = last_seq + 1``) passes it as ``seq``.
    """
    if seq is None:
        seq = queries.conversation_seq_next(conversation_id=conversation.pk, now=timezone.now())
    conversation.last_seq = seq
    message = Message(
        conversation=conversation,
        seq=seq,
        sender=sender,
        body=body,
        agent=agent,
        confidence=confidence,
        sources=sources or [],
    )
    # Constraints are the database's to enforce; validating them here costs queries.
    message.full_clean(exclude=["conversation", "agent"], validate_unique=False, validate_constraints=False)
    bulk_insert([message])
    broadcast.notify_message(message, conversation=conversation)
    return message


def _system_messages_create(messages: list[tuple[Conversation, int, str]]) -> list[Message]:
    """System messages (conversation, seq, body) for several locked conversations
    whose own UPDATE took each number, in one INSERT."""
    created = bulk_insert(
        [
            Message(conversation=conversation, seq=seq, sender=Message.Sender.SYSTEM, body=body, sources=[])
            for conversation, seq, body in messages
        ]
    )
    for message in created:
        broadcast.notify_message(message, conversation=message.conversation)
    return created


def _conversation_open(*, customer: Customer) -> None:
    """Open a conversation with the bot for the customer, unless one is open: the
    unique constraint on open conversations decides between concurrent openers."""
    Conversation.objects.bulk_create([Conversation(customer=customer)], ignore_conflicts=True)


def message_post_from_customer(*, customer: Customer, body: object, client_id: object = "") -> Message:
    """Store the customer's message; the bot answers it if the bot has the conversation.

    ``client_id`` (the browser's id for the message) makes sending again safe: a
    message already stored under it is returned instead of storing another.
    """
    body = message_body_clean(body)
    client_id = client_id_clean(client_id)
    try:
        return _customer_message_store(customer=customer, body=body, client_id=client_id)
    except _Repeated:
        return selectors.customer_message_by_client_id(customer=customer, client_id=client_id)


@transaction.atomic
def _customer_message_store(*, customer: Customer, body: str, client_id: str) -> Message:
    now = timezone.now()
    stored = queries.customer_message_insert(customer_id=customer.pk, body=body, client_id=client_id, now=now)
    if stored is None:
        # No open conversation: the one it was sent to may have been resolved since.
        earlier = client_id and selectors.customer_message_by_client_id(customer=customer, client_id=client_id)
        if earlier:
            return earlier
        _conversation_open(customer=customer)
        stored = queries.customer_message_insert(customer_id=customer.pk, body=body, client_id=client_id, now=now)
    if stored.message_id is None:
        raise _Repeated
    message = _message_stored(stored, sender=Message.Sender.CUSTOMER, body=body, client_id=client_id, now=now)
    if stored.status == Status.BOT:
        message_id = message.pk
        # The turn is in the database already: if this enqueue fails (Redis down),
        # the timers find the turn overdue and answer it.
        transaction.on_commit(lambda: bot_turn_schedule(message_id=message_id), robust=True)
    return message


def _message_stored(stored: queries.Stored, *, sender: str, body: str, client_id: str, now: datetime, agent=None):
    """The message a ``queries`` write stored, as an instance, pushed on commit."""
    message = Message(
        pk=stored.message_id,
        conversation_id=stored.conversation_id,
        seq=stored.seq,
        sender=sender,
        agent=agent,
        body=body,
        sources=[],
        client_id=client_id,
        created_at=now,
    )
    message._state.adding, message._state.db = False, "default"
    conversation = Conversation(
        pk=stored.conversation_id, customer_id=stored.customer_id, status=stored.status, last_seq=stored.seq
    )
    broadcast.notify_message(message, conversation=conversation)
    return message


def bot_turn_schedule(*, message_id: int) -> None:
    task_enqueue("conversations.tasks.bot_turn", message_id, task_name=f"bot-turn-{message_id}")


# A bot turn normally takes well under a second. A worker holds the turns it
# took this long; a turn nobody took within OVERDUE (its task never ran: Redis
# was down, the queue lost it) or whose worker's hold ran out (killed mid-turn) is
# taken by the timers (``bot_turns_recover``). After ATTEMPTS tries that never
# finished, a person takes over instead.
BOT_TURN_LEASE = timedelta(seconds=15)
BOT_TURN_OVERDUE = timedelta(seconds=10)
BOT_TURN_ATTEMPTS = 3
# Questions answered in one embedding pass: a worker takes its own turn and the
# oldest others waiting, up to this many.
BOT_TURN_BATCH = 8


def _previous_turn(message: Message) -> bot.Turn | None:
    """The customer's previous question in this conversation and the bot's answer to it."""
    earlier = Message.objects.filter(conversation_id=message.conversation_id, seq__lt=message.seq).order_by("-seq")
    answer = earlier.first()
    if answer is None or answer.sender != Message.Sender.BOT:
        return None
    question = earlier.filter(sender=Message.Sender.CUSTOMER).first()
    return bot.Turn(question.body, answer.confidence or 0.0) if question else None


def bot_turn(*, message_id: int) -> Message | None:
    """Answer one customer message (the bot's answer, or None if it handed off or
    the turn was done already), and the others waiting with it."""
    return bot_turns_run(message_ids=[message_id], others=BOT_TURN_BATCH - 1, now=timezone.now()).get(message_id)


@transaction.atomic
def _bot_turns_claim(*, message_ids: list[int], others: int, now: datetime) -> list[int]:
    """Take these turns and up to ``others`` of the oldest waiting, unless another
    worker holds them (its hold unexpired, or its claim in progress)."""
    free = BotTurn.objects.filter(Q(claimed_until__isnull=True) | Q(claimed_until__lt=now))
    taken = list(free.filter(pk__in=message_ids).select_for_update(skip_locked=True).values_list("pk", flat=True))
    if others:
        more = free.exclude(pk__in=taken).order_by("created_at").select_for_update(skip_locked=True)
        taken += list(more.values_list("pk", flat=True)[:others])
    if taken:
        BotTurn.objects.filter(pk__in=taken).update(claimed_until=now + BOT_TURN_LEASE, attempts=F("attempts") + 1)
    return taken


def bot_turns_run(*, message_ids: list[int], others: int = 0, now: datetime) -> dict[int, Message | None]:
    """Answer the turns of these messages (and up to ``others`` more), their
    questions embedded together. Retrieval runs outside any transaction (it is the
    slow part); each answer is stored, with its turn deleted, in a transaction of
    its own, only if the bot still has the conversation and the turn is still owed."""
    taken = _bot_turns_claim(message_ids=message_ids, others=others, now=now)
    if not taken:
        return {}
    attempts = dict(BotTurn.objects.filter(pk__in=taken).values_list("pk", "attempts"))
    work, results = [], {}
    for message in Message.objects.filter(pk__in=taken).select_related("conversation").order_by("pk"):
        if message.conversation.status != Status.BOT:
            results[message.pk] = _bot_turn_finish(message=message, reply=None)
        elif attempts.get(message.pk, 0) > BOT_TURN_ATTEMPTS:
            failed = bot.BotAnswer(text="", confidence=None, handoff_reason=Conversation.HandoffReason.BOT_FAILED)
            results[message.pk] = _bot_turn_finish(message=message, reply=failed)
        else:
            work.append((message, _previous_turn(message)))
    replies = bot.answer_many([(message.body, previous) for message, previous in work]) if work else []
    for (message, _previous), reply in zip(work, replies, strict=True):
        results[message.pk] = _bot_turn_finish(message=message, reply=reply)
    return results


@transaction.atomic
def _bot_turn_finish(*, message: Message, reply: bot.BotAnswer | None) -> Message | None:
    """Store the answer (or hand off), deleting the turn; nothing if the turn was
    done meanwhile (another worker, after this one's hold ran out) or the bot no
    longer has the conversation. Lock order: the conversation, then the turn."""
    conversation = Conversation.objects.select_for_update(no_key=True).get(pk=message.conversation_id)
    if not BotTurn.objects.filter(pk=message.pk).delete()[0]:
        return None
    if reply is None or conversation.status != Status.BOT:
        return None
    if reply.handoff_reason:
        conversation_handoff(
            conversation=conversation, reason=reply.handoff_reason, confidence=reply.confidence, sources=reply.sources
        )
        return None
    return _message_create(
        conversation=conversation,
        sender=Message.Sender.BOT,
        body=reply.text,
        confidence=reply.confidence,
        sources=reply.sources,
    )


def bot_turns_recover(*, now: datetime) -> int:
    """Answer the turns nobody is answering: never taken within BOT_TURN_OVERDUE,
    or held by a worker whose hold ran out. Returns how many were answered."""
    overdue = BotTurn.objects.filter(
        Q(claimed_until__isnull=True, created_at__lt=now - BOT_TURN_OVERDUE) | Q(claimed_until__lt=now)
    ).order_by("created_at")
    done = 0
    while ids := list(overdue.values_list("pk", flat=True)[:BOT_TURN_BATCH]):
        ran = bot_turns_run(message_ids=ids, now=now)
        if not ran:
            return done  # all taken by others meanwhile
        done += len(ran)
    return done


def _reload_with_customer(conversation: Conversation) -> None:
    """``refresh_from_db`` with the customer, as two written-out reads (about 200 µs
    of CPU here against 330 through the ORM: every handoff runs it)."""
    fresh = sql_get(Conversation, conversation.pk)
    for field in Conversation._meta.concrete_fields:
        setattr(conversation, field.attname, getattr(fresh, field.attname))
    conversation.customer = sql_get(Customer, fresh.customer_id)


_HANDOFF_TEXT = {
    Conversation.HandoffReason.CUSTOMER_REQUEST: "Of course, a person from our team will take over.",
    Conversation.HandoffReason.REPEATED_FAILURE: (
        "It looks like my answers aren't helping, so I'm passing you to a person from our team."
    ),
    Conversation.HandoffReason.LOW_CONFIDENCE: (
        "I'm not sure about this one, so I'm passing you to a person from our team."
    ),
    Conversation.HandoffReason.BOT_FAILED: (
        "I couldn't get to your question, so I'm passing you to a person from our team."
    ),
}


@transaction.atomic(savepoint=False)
def conversation_handoff(
    *, conversation: Conversation, reason: str, confidence: float | None = None, sources: list | None = None
) -> bool:
    """Move a bot conversation to Pending Handoff. False if it was not with the bot."""
    now = sql_time(timezone.now())
    updated = sql_run(
        f"UPDATE {CONVERSATIONS} SET status = %s, handoff_reason = %s, handoff_confidence = %s, handoff_sources = %s,"
        " handed_off_at = %s, updated_at = %s, version = version + 1,"
        " last_seq = last_seq + 1"  # the number of the system message below
        " WHERE id = %s AND status = %s",
        [Status.PENDING_HANDOFF, reason, confidence, json.dumps(sources or []), now, now, conversation.pk, Status.BOT],
    )
    if not updated:
        return False
    # The customer too: the receivers' rules match on segment and language.
    _reload_with_customer(conversation)
    _message_create(
        conversation=conversation,
        seq=conversation.last_seq,
        sender=Message.Sender.SYSTEM,
        body=_HANDOFF_TEXT[Conversation.HandoffReason(reason)] + " You'll see their reply here.",
    )
    # Before the hook: routing runs after commit and its events (an offer, the
    # queue's places) must follow this one. A priority rule's change follows too.
    # No place in the queue here: most handoffs are placed at once; routing pushes
    # the places of those that wait.
    broadcast.notify_conversation(conversation, event="handed_off")
    with _timeline_batch():
        signals.conversation_handed_off.send(sender=Conversation, conversation=conversation)
    return True


@transaction.atomic
def customer_request_handoff(*, customer: Customer) -> Conversation:
    """The "Talk to a person" button: hand off at once, opening a conversation if needed."""
    conversation = conversation_open_for(customer=customer)
    if conversation is None:
        _conversation_open(customer=customer)
        conversation = conversation_open_for(customer=customer)
    conversation_handoff(conversation=conversation, reason=Conversation.HandoffReason.CUSTOMER_REQUEST)
    conversation.refresh_from_db()
    return conversation


def conversation_accept(*, conversation_id: int, agent: AbstractBaseUser, reasons: dict | None = None) -> Conversation:
    """Assign a pending conversation to ``agent``; exactly one of racing agents wins.

    Raises ConversationAlreadyTaken, outside the transaction and with nothing
    written, so a caller inside a transaction of its own may carry on.
    ``reasons``: as for ``conversations_assign``.
    """
    if conversations_assign(assignments={conversation_id: agent}, reasons=reasons):
        return Conversation.objects.select_related("assigned_agent").get(pk=conversation_id)
    conversation = Conversation.objects.select_related("assigned_agent").get(pk=conversation_id)
    if conversation.status == Status.ASSIGNED and conversation.assigned_agent_id == agent.pk:
        return conversation  # a double click, not a race
    raise ConversationAlreadyTaken(conversation)


@transaction.atomic(savepoint=False)
def conversations_assign(
    *, assignments: dict[int, AbstractBaseUser], skip_locked: bool = False, reasons: dict | None = None
) -> list[Conversation]:
    """Assign pending conversations to agents: ``{conversation id: agent}``, one
    (an agent accepting) or many (routing placing a batch).

    Each conversation is locked and assigned only if still pending, so of racing
    assignments exactly one wins; ``skip_locked`` passes over rows another
    transaction holds instead of waiting (routing). Returns those assigned. The
    ``conversations_assigned`` hook lets routing count them against capacity in
    this same transaction; it raises if an agent has no room, which rolls all back.
    ``reasons``: the caller's account of why (routing's), handed to that hook as is.
    """
    now = timezone.now()
    pending = list(
        Conversation.objects.raw(
            f"SELECT id, customer_id, status, priority, handoff_reason, last_seq, version FROM {CONVERSATIONS}"
            f" WHERE id IN ({sql_in(assignments)}) AND status = %s ORDER BY id"
            + sql_for_update(of=CONVERSATIONS, skip_locked=skip_locked),
            [*assignments, Status.PENDING_HANDOFF],
        )
    )
    if not pending:
        return []
    ids = [c.pk for c in pending]
    agent_of, agent_params = sql_case("id", {pk: assignments[pk].pk for pk in ids})
    sql_run(
        f"UPDATE {CONVERSATIONS} SET status = %s, assigned_agent_id = {agent_of}, assigned_at = %s, updated_at = %s,"
        f" last_seq = last_seq + 1, version = version + 1 WHERE id IN ({sql_in(ids)})",
        [Status.ASSIGNED, *agent_params, sql_time(now), sql_time(now), *ids],
    )
    for conversation in pending:
        agent = assignments[conversation.pk]
        conversation.status, conversation.assigned_agent, conversation.assigned_at = Status.ASSIGNED, agent, now
        conversation.last_seq += 1
        conversation.version += 1
    _system_messages_create(
        [(c, c.last_seq, f"{display_name(assignments[c.pk])} joined the conversation.") for c in pending]
    )
    signals.conversations_assigned.send(
        sender=Conversation, assigned=[(c, assignments[c.pk]) for c in pending], reasons=reasons
    )
    for conversation in pending:
        broadcast.notify_conversation(conversation, event="assigned")
    broadcast.notify_queue_positions()
    return pending


@transaction.atomic(savepoint=False)
def conversation_release(*, conversation_id: int, agent: AbstractBaseUser, body: str) -> bool:
    """Put ``agent``'s assigned conversation back to Pending Handoff (a transfer, or
    its agent went offline); it keeps its place by handoff time. False if it was
    no longer assigned to them. ``body`` is what the customer is told."""
    updated = Conversation.objects.filter(
        pk=conversation_id, status=Status.ASSIGNED, assigned_agent_id=agent.pk
    ).update(
        status=Status.PENDING_HANDOFF,
        assigned_agent=None,
        assigned_at=None,
        updated_at=timezone.now(),
        last_seq=F("last_seq") + 1,
        version=F("version") + 1,
    )
    if not updated:
        return False
    conversation = Conversation.objects.get(pk=conversation_id)
    _message_create(conversation=conversation, seq=conversation.last_seq, sender=Message.Sender.SYSTEM, body=body)
    broadcast.notify_conversation(
        conversation, queue_position=queue_position(conversation=conversation), event="released"
    )
    broadcast.notify_queue_positions()
    return True


def timeline_record(
    *,
    conversation: Conversation,
    kind: str,
    text: str,
    actor: AbstractBaseUser | None = None,
    data: dict | None = None,
    at: datetime | None = None,
) -> ConversationEvent:
    """Add an entry to the conversation's internal timeline (agents only) and push it
    to the agents who have the conversation open, on commit.

    The one write path for routing decisions, priority changes, SLA events and
    transfers; ``at`` is when it happened, if not now (a breach found late).
    """
    event = _timeline_event(conversation_id=conversation.pk, kind=kind, text=text, actor=actor, data=data, at=at)
    pending = _timeline_pending.get()
    if pending is not None:
        pending.append(event)
        return event
    bulk_insert([event])
    broadcast.notify_timeline(event)
    return event


# Entries recorded inside ``_timeline_batch``, written when it ends.
_timeline_pending: contextvars.ContextVar[list[ConversationEvent] | None] = contextvars.ContextVar(
    "timeline_pending", default=None
)


@contextmanager
def _timeline_batch():
    """Write the timeline entries recorded inside (a handoff's receivers: the SLA
    start, the skills needed) in one INSERT as it ends, then push each to its
    conversation's page. The entries have no id until then."""
    if _timeline_pending.get() is not None:
        yield
        return
    token = _timeline_pending.set([])
    try:
        yield
        events = _timeline_pending.get()
    finally:
        _timeline_pending.reset(token)
    bulk_insert(events)
    for event in events:
        broadcast.notify_timeline(event)


def _timeline_event(
    *,
    conversation_id: int,
    kind: str,
    text: str,
    actor: AbstractBaseUser | None = None,
    data: dict | None = None,
    at: datetime | None = None,
) -> ConversationEvent:
    event = ConversationEvent(
        conversation_id=conversation_id,
        kind=kind,
        text=text[:500],
        actor=actor,
        data=data or {},
        created_at=at or timezone.now(),
    )
    event.full_clean(exclude=["conversation", "actor"], validate_unique=False, validate_constraints=False)
    return event


def timeline_record_many(*, entries: list[dict], batched: bool = True) -> list[ConversationEvent]:
    """``timeline_record`` for many conversations in one INSERT; each entry holds its
    keyword arguments, with ``conversation_id`` instead of ``conversation``.
    ``batched``: pushed as one event to every inbox (an SLA sweep that finds a
    thousand breaches at once), else each to its conversation's page (a routing
    round, whose entries only those pages show)."""
    events = [_timeline_event(**entry) for entry in entries]
    pending = _timeline_pending.get()
    if pending is not None and not batched:
        pending.extend(events)
        return events
    bulk_insert(events)
    if batched:
        broadcast.notify_timelines(events)
    else:
        for event in events:
            broadcast.notify_timeline(event)
    return events


@transaction.atomic
def conversation_priority_set(
    *, conversation: Conversation, priority: int, actor: AbstractBaseUser | None = None, rule: str = ""
) -> bool:
    """Change an open conversation's priority, by an agent (``actor``) or a priority
    rule (its name); recorded on the timeline. False if it already had that priority."""
    try:
        priority = Conversation.Priority(priority)
    except ValueError:
        raise ValidationError("Priority must be 1, 2, 3 or 4.", code="invalid_priority") from None
    locked = Conversation.objects.select_for_update().get(pk=conversation.pk)
    if not locked.is_open:
        raise ValidationError("A resolved conversation's priority cannot change.", code="resolved")
    old = locked.priority
    if old == priority:
        return False
    updated = Conversation.objects.filter(pk=locked.pk, priority=old).update(
        priority=priority, updated_at=timezone.now(), version=F("version") + 1
    )
    if not updated:
        return False
    conversation.priority = priority
    # The timeline shows the actor beside the text; a rule is named in it.
    timeline_record(
        conversation=conversation,
        kind="priority.changed",
        text=f"Priority P{old} → P{priority.value}" + (f" by rule “{rule}”" if rule else ""),
        actor=actor,
        data={"from": old, "to": priority.value, "rule": rule},
    )
    signals.conversation_priority_changed.send(
        sender=Conversation, conversation=conversation, old=old, new=priority.value, actor=actor, rule=rule
    )
    locked.refresh_from_db()
    broadcast.notify_conversation(locked, event="priority_changed")
    if locked.status == Status.PENDING_HANDOFF:
        broadcast.notify_queue_positions()
    return True


def _check_assigned_to(conversation: Conversation, agent: AbstractBaseUser) -> None:
    if conversation.status != Status.ASSIGNED or conversation.assigned_agent_id != agent.pk:
        raise PermissionDenied("Only the agent who accepted this conversation can do that.")


def message_post_from_agent(
    *, conversation_id: int, agent: AbstractBaseUser, body: object, client_id: object = ""
) -> Message:
    """Store the assigned agent's reply; PermissionDenied for anyone else. A
    ``client_id`` already stored returns that message (a reply sent again)."""
    body = message_body_clean(body)
    client_id = client_id_clean(client_id)
    try:
        return _agent_message_store(conversation_id=conversation_id, agent=agent, body=body, client_id=client_id)
    except _Repeated:
        return selectors.message_by_client_id(conversation_id=conversation_id, client_id=client_id)


@transaction.atomic
def _agent_message_store(*, conversation_id: int, agent: AbstractBaseUser, body: str, client_id: str) -> Message:
    now = timezone.now()
    stored = queries.agent_message_insert(
        conversation_id=conversation_id, agent_id=agent.pk, body=body, client_id=client_id, now=now
    )
    if stored is None:
        if not Conversation.objects.filter(pk=conversation_id).exists():
            raise Conversation.DoesNotExist(f"No conversation {conversation_id}.")
        # Sent before the conversation was resolved or transferred, and sent again since.
        earlier = client_id and selectors.message_by_client_id(conversation_id=conversation_id, client_id=client_id)
        if earlier:
            return earlier
        raise PermissionDenied("Only the agent who accepted this conversation can do that.")
    if stored.message_id is None:
        raise _Repeated
    message = _message_stored(stored, sender=Message.Sender.AGENT, body=body, client_id=client_id, now=now, agent=agent)
    conversation = Conversation(
        pk=stored.conversation_id,
        customer_id=stored.customer_id,
        status=Status.ASSIGNED,
        assigned_agent=agent,
        last_seq=stored.seq,
        first_agent_reply_at=stored.first_agent_reply_at,
    )
    signals.agent_replied.send(
        sender=Conversation,
        conversation=conversation,
        agent=agent,
        message=message,
        first_reply=stored.first_agent_reply_at == now,
    )
    return message


@transaction.atomic
def conversation_resolve(*, conversation_id: int, agent: AbstractBaseUser) -> Conversation:
    """Close the conversation; the customer's next message starts a new one with the bot."""
    now = timezone.now()
    conversation = sql_get(Conversation, conversation_id, lock=True)
    if conversation is None:
        raise Conversation.DoesNotExist(f"No conversation {conversation_id}.")
    if conversation.assigned_agent_id == agent.pk:
        conversation.assigned_agent = agent  # no need to read the agent again
    if not (agent.is_staff and conversation.is_open):
        _check_assigned_to(conversation, agent)
    if conversation.status == Status.PENDING_HANDOFF:
        broadcast.notify_queue_positions()
    sql_run(
        f"UPDATE {CONVERSATIONS} SET status = %s, resolved_at = %s, updated_at = %s, last_seq = last_seq + 1,"
        " version = version + 1 WHERE id = %s",
        [Status.RESOLVED, sql_time(now), sql_time(now), conversation.pk],
    )
    # The row is locked: what the UPDATE wrote is what it now holds.
    conversation.status, conversation.resolved_at, conversation.updated_at = Status.RESOLVED, now, now
    conversation.version += 1
    _message_create(
        conversation=conversation,
        seq=conversation.last_seq + 1,
        sender=Message.Sender.SYSTEM,
        body=f"{display_name(agent)} resolved this conversation. Write again any time to start a new one.",
    )
    _label_questions(conversation=conversation)
    signals.conversation_resolved.send(sender=Conversation, conversation=conversation, agent=agent)
    broadcast.notify_conversation(conversation, event="resolved")
    return conversation


def handoff_question(*, conversation: Conversation) -> Message | None:
    """The customer message the bot could not answer, if it handed off for that."""
    if conversation.handoff_reason != Conversation.HandoffReason.LOW_CONFIDENCE:
        return None
    return (
        conversation.messages.filter(sender=Message.Sender.CUSTOMER, created_at__lte=conversation.handed_off_at)
        .order_by("-seq")
        .first()
    )


def _label_questions(*, conversation: Conversation) -> None:
    """Keep what the conversation taught as evaluation cases: questions the bot
    answered (labelled with its answer) and the one it handed off (unanswerable,
    unless an agent added the answer, which labelled it already)."""
    entries = {}
    question = None
    for sender, body, sources, confidence in sql_rows(
        f"SELECT sender, body, sources, confidence FROM {MESSAGES} WHERE conversation_id = %s AND sender IN (%s, %s)"
        " ORDER BY seq",
        [conversation.pk, Message.Sender.CUSTOMER, Message.Sender.BOT],
    ):
        if sender == Message.Sender.CUSTOMER:
            question = body
        elif question is not None and (sources := json.loads(sources)):
            key = sources[0]["id"]
            entries.setdefault(key, Entry.objects.filter(external_id=key).first())
            knowledge_services.eval_case_record(
                question=question,
                expected=entries[key],
                outcome=EvalCase.Outcome.ANSWERED,
                confidence=confidence,
                conversation_ref=conversation.pk,
            )
            question = None
    unanswered = handoff_question(conversation=conversation)
    if unanswered is not None:
        knowledge_services.eval_case_record(
            question=unanswered.body,
            expected=None,
            outcome=EvalCase.Outcome.HANDED_OFF,
            confidence=conversation.handoff_confidence,
            conversation_ref=conversation.pk,
        )
