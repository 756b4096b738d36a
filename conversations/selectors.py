"""Reads for the chat page and the agent inbox."""

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from django.contrib.auth import get_user_model
from django.db.models import Case, Count, OuterRef, Prefetch, Q, QuerySet, Subquery, TextField, Value, When
from django.db.models.functions import Coalesce, Concat

from conversations.identity import Visitor
from conversations.models import (
    Attachment,
    Conversation,
    ConversationEvent,
    Customer,
    EmbedSite,
    Message,
    Note,
    display_name,
)
from core import config

# The notes a conversation page draws and a sync replays: the latest, if ever more.
NOTES_SHOWN = 500
MENTION_SUGGESTIONS = 8

INBOX_VIEWS = {
    "pending": "Pending handoff",
    "mine": "Mine",
    "open": "All open",
    "resolved": "Resolved",
}


def customer_of(visitor: Visitor) -> Customer | None:
    """The customer a session token names; None for a visitor who has not written yet."""
    if visitor.customer_id is not None:
        return Customer.objects.filter(pk=visitor.customer_id).first()
    return Customer.objects.filter(visitor_key=visitor.visitor_key).first()


def embed_sites() -> dict[str, EmbedSite]:
    """The sites allowed to embed the chat, by origin (read on every chat page: cached
    as business configuration, ``core.config``)."""
    return config.cached("conversations.embed_sites", lambda: {s.origin: s for s in EmbedSite.objects.all()})


def conversation_open_for(*, customer: Customer) -> Conversation | None:
    return customer.conversations.exclude(status=Conversation.Status.RESOLVED).first()


def queue_position(*, conversation: Conversation) -> int | None:
    """1-based place in the handoff queue: priority first, then time of handoff."""
    if conversation.status != Conversation.Status.PENDING_HANDOFF:
        return None
    ahead = Conversation.objects.filter(status=Conversation.Status.PENDING_HANDOFF).filter(
        Q(priority__lt=conversation.priority)
        | Q(priority=conversation.priority, handed_off_at__lt=conversation.handed_off_at)
        | Q(priority=conversation.priority, handed_off_at=conversation.handed_off_at, pk__lt=conversation.pk)
    )
    return ahead.count() + 1


def customer_messages(*, customer: Customer, limit_conversations: int = 5) -> list[Message]:
    """The customer's recent history across conversations, oldest first."""
    recent = list(customer.conversations.order_by("-pk").values_list("pk", flat=True)[:limit_conversations])
    return list(
        Message.objects.filter(conversation_id__in=recent)
        .select_related("agent", "attachment")
        .order_by("conversation_id", "seq")
    )


def customer_messages_after(*, customer: Customer, conversation_id: int, after_seq: int) -> list[Message]:
    """What a reconnecting customer missed: later messages of the conversation it
    last saw, and every message of the customer's newer conversations."""
    return list(
        Message.objects.filter(conversation__customer=customer)
        .filter(Q(conversation_id=conversation_id, seq__gt=after_seq) | Q(conversation_id__gt=conversation_id))
        .select_related("agent", "attachment")
        .order_by("conversation_id", "seq")
    )


@dataclass
class CatchUp:
    """What a reconnecting customer misses: the messages after their cursor, the
    open conversation's state, and the cursor after them (the client then holds
    every message up to it)."""

    messages: list[Message]
    conversation: Conversation | None
    queue_position: int | None
    cursor: tuple[int, int]


def customer_catch_up(*, customer: Customer, conversation_id: int, after_seq: int) -> CatchUp:
    messages = customer_messages_after(customer=customer, conversation_id=conversation_id, after_seq=after_seq)
    conversation = conversation_open_for(customer=customer)
    last = messages[-1] if messages else None
    return CatchUp(
        messages=messages,
        conversation=conversation,
        queue_position=queue_position(conversation=conversation) if conversation else None,
        cursor=(last.conversation_id, last.seq) if last else (conversation_id, after_seq),
    )


def customer_message_by_client_id(*, customer: Customer, client_id: str) -> Message | None:
    """The customer's message a browser sent under this id, if it was stored (in any
    of their conversations: it may have been resolved since)."""
    return (
        Message.objects.filter(conversation__customer=customer, client_id=client_id)
        .select_related("agent", "attachment")
        .order_by("-conversation_id")
        .first()
    )


def message_by_client_id(*, conversation_id: int, client_id: str) -> Message | None:
    return (
        Message.objects.filter(conversation_id=conversation_id, client_id=client_id)
        .select_related("agent", "attachment")
        .first()
    )


def conversation_messages_after(*, conversation: Conversation, after_seq: int = 0) -> list[Message]:
    return list(conversation.messages.filter(seq__gt=after_seq).select_related("agent", "attachment").order_by("seq"))


def attachment_loaded(message: Message) -> Attachment | None:
    """The message's attachment as loaded with it (the message selectors select it,
    a message just stored carries it): never a query per message."""
    return Message.attachment.related.get_cached_value(message, default=None)


def attachment_with_conversation(*, attachment_id: int) -> Attachment | None:
    """The attachment a download link names, with whose conversation it is in."""
    return (
        Attachment.objects.select_related("message__conversation").filter(pk=attachment_id).first()
        if 0 < attachment_id < 2**62
        else None
    )


def _view_filter(view: str, user) -> Q:
    status = Conversation.Status
    return {
        "pending": Q(status=status.PENDING_HANDOFF),
        "mine": Q(status=status.ASSIGNED, assigned_agent=user),
        "open": Q(status__in=[status.PENDING_HANDOFF, status.ASSIGNED]),
        "resolved": Q(status=status.RESOLVED, handed_off_at__isnull=False),
    }[view]


def inbox_view_of(*, conversation: Conversation, user) -> str:
    """The inbox tab a conversation is listed under for this agent: the list pane
    beside a conversation opened from a link (a toast, a search) shows its tab."""
    status = Conversation.Status
    if conversation.status == status.PENDING_HANDOFF:
        return "pending"
    if conversation.status == status.ASSIGNED:
        return "mine" if conversation.assigned_agent_id == user.pk else "open"
    return "resolved" if conversation.status == status.RESOLVED and conversation.handed_off_at else "pending"


# A file sent without a caption shows as its name.
_SNIPPET = Case(
    When(body="", then=Concat(Value("📎 "), "attachment__name", output_field=TextField())),
    default="body",
    output_field=TextField(),
)


def last_customer_body(conversation_ref: str = "pk") -> Subquery:
    """What the customer last said in the outer query's conversation: what an agent
    scans the list and an offer card for. One subquery, however many rows."""
    latest = Message.objects.filter(conversation=OuterRef(conversation_ref), sender=Message.Sender.CUSTOMER)
    return Subquery(latest.order_by("-seq").annotate(snippet=_SNIPPET).values("snippet")[:1])


def shortened(text: str | None, *, limit: int = 140) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def inbox_tabs(*, user) -> list[dict]:
    """Each inbox view with its count, in one query over the open conversations
    only (an index range, however many were ever resolved). Resolved has no
    count: it would read every conversation ever handed off, on every list read."""
    open_ = Conversation.objects.filter(status__in=[Conversation.Status.PENDING_HANDOFF, Conversation.Status.ASSIGNED])
    counts = open_.aggregate(
        **{view: Count("pk", filter=_view_filter(view, user)) for view in INBOX_VIEWS if view != "resolved"}
    )
    return [{"key": view, "label": label, "count": counts.get(view)} for view, label in INBOX_VIEWS.items()]


def inbox_conversations(*, view: str, user, limit: int = 200) -> QuerySet[Conversation]:
    qs = (
        Conversation.objects.filter(_view_filter(view, user))
        .select_related("customer", "assigned_agent")
        .annotate(last_body=last_customer_body())
    )
    if view == "resolved":
        return qs.order_by("-resolved_at", "-pk")[:limit]
    return qs.order_by("priority", "handed_off_at", "pk")[:limit]


def conversation_timeline(*, conversation: Conversation, after_id: int = 0) -> list[ConversationEvent]:
    return list(conversation.events.filter(pk__gt=after_id).select_related("actor").order_by("created_at", "pk"))


def conversation_notes(*, conversation: Conversation, limit: int = NOTES_SHOWN) -> list[Note]:
    """The conversation's internal notes, oldest first, with authors and mentions
    (three queries however many)."""
    latest = (
        Note.objects.filter(conversation=conversation)
        .select_related("author")
        .prefetch_related(Prefetch("mentions", queryset=get_user_model().objects.order_by("pk")))
        .order_by("-created_at", "-pk")[:limit]
    )
    return list(reversed(latest))


def mention_candidates(*, query: str, limit: int = MENTION_SUGGESTIONS) -> list:
    """Active agents whose username or first name starts with ``query`` (what
    follows the @ typed in a note), usernames first."""
    query = query.strip()[:150]
    users = get_user_model().objects.filter(is_active=True)
    if query:
        users = users.filter(Q(username__istartswith=query) | Q(first_name__istartswith=query))
    return list(users.order_by("username")[:limit])


@dataclass
class PastConversation:
    """One of the customer's other conversations, as the customer panel lists it."""

    pk: int
    created_at: datetime
    outcome: str
    message_count: int


def conversation_outcome(conversation: Conversation) -> str:
    """How a conversation ended (or where it is): the bot's, an agent's, a handoff
    nobody answered, or still with the bot."""
    if conversation.status == Conversation.Status.RESOLVED and conversation.handed_off_at is None:
        return "Resolved by the bot"
    if conversation.status == Conversation.Status.RESOLVED and conversation.assigned_agent is not None:
        return f"Resolved by {display_name(conversation.assigned_agent)}"
    if conversation.handed_off_at is not None:
        reason = conversation.get_handoff_reason_display() or "no reason given"
        return f"Handed off ({reason})"
    return "Open"


def customer_history(*, customer: Customer, exclude: int | None = None, limit: int = 10) -> list[PastConversation]:
    """The customer's other conversations, newest first, with their outcome and
    message count, in one query however many there are."""
    qs = customer.conversations.all()
    if exclude is not None:
        qs = qs.exclude(pk=exclude)
    rows = (
        qs.select_related("assigned_agent").annotate(message_count=Count("messages")).order_by("-created_at", "-pk")
    )[:limit]
    return [PastConversation(c.pk, c.created_at, conversation_outcome(c), c.message_count) for c in rows]


ATTRIBUTES_SHOWN = 20


def customer_attributes(*, customer: Customer, limit: int = ATTRIBUTES_SHOWN) -> tuple[list[tuple[str, str]], int]:
    """The embedding site's attributes as (key, text) pairs sorted by key (jsonb
    keeps no order), nested values as compact JSON, and how many more were left out."""
    attributes = customer.attributes if isinstance(customer.attributes, dict) else {}
    pairs = [
        (str(key), value if isinstance(value, str) else json.dumps(value, separators=(",", ":"), ensure_ascii=False))
        for key, value in sorted(attributes.items())
    ]
    return pairs[:limit], max(len(pairs) - limit, 0)


@dataclass
class TrailTurn:
    """A customer question before the handoff and the bot's answers to it (None: bot
    messages before the first question shown)."""

    question: Message | None
    answers: list[Message] = field(default_factory=list)


def handoff_trail(*, conversation: Conversation, limit: int = 3) -> list[TrailTurn]:
    """The last ``limit`` customer questions before the handoff and the bot's
    answers to them, oldest first (one query): what the bot tried before a person
    was needed. Empty for a conversation never handed off."""
    if conversation.handed_off_at is None:
        return []
    before = conversation.messages.filter(
        sender__in=[Message.Sender.CUSTOMER, Message.Sender.BOT], created_at__lte=conversation.handed_off_at
    )
    # The seq of the limit-th last question; 0 when there are fewer.
    first_seq = before.filter(sender=Message.Sender.CUSTOMER).order_by("-seq").values("seq")[limit - 1 : limit]
    turns: list[TrailTurn] = []
    for message in before.filter(seq__gte=Coalesce(Subquery(first_seq), 0)).order_by("seq"):
        if message.sender == Message.Sender.CUSTOMER:
            turns.append(TrailTurn(question=message))
        else:
            if not turns:
                turns.append(TrailTurn(question=None))
            turns[-1].answers.append(message)
    return turns


# What an agent's reply is worth teaching the bot: the longest once a leading
# greeting, a sign-off block and closing pleasantries are stripped, of at least
# LEARN_MIN_WORDS words and not ending in a question to the customer. English and German.
LEARN_MIN_WORDS = 8
_GREETING = re.compile(
    r"^\s*(?:hi|hello|hey|dear|good\s+(?:morning|afternoon|evening)|hallo|guten\s+(?:tag|morgen|abend)"
    r"|moin|servus|liebe[rs]?|sehr\s+geehrte[rs]?)\b(?:[ \t]+[^\s.!?,:]+){0,3}[ \t]*(?:[.!?,:]+|(?=\n))\s*",
    re.IGNORECASE,
)
_SIGN_OFF = re.compile(
    r"\n\s*(?:(?:best|kind|warm)\s+(?:regards|wishes)|regards|cheers"
    r"|(?:viele|beste|liebe|freundliche)\s+grüße|mit\s+freundlichen\s+grüßen)\b.*",
    re.IGNORECASE | re.DOTALL,
)
# A short last sentence that only closes (at most 40 characters after its opening words).
_CLOSING = re.compile(
    r"(?:^|(?<=[.!?])|\n)\s*(?:(?:does|did)\s+(?:that|this)\s+help|hope\s+(?:that|this)\s+helps"
    r"|(?:is\s+there\s+)?anything\s+else|let\s+me\s+know|have\s+a\s+(?:nice|great|good|lovely)"
    r"|you['\u2019]re\s+welcome|thanks?\b|thank\s+you|hilft\s+(?:das|ihnen\s+das)|kann\s+ich\s+(?:sonst|noch)"
    r"|gerne?\s+geschehen|(?:einen\s+)?schönen\s+(?:tag|abend)|danke\b)[^.!?\n]{0,40}[.!?]*\s*$",
    re.IGNORECASE,
)


def reply_core(body: str) -> str:
    """An agent's reply without its leading greeting, sign-off and closing pleasantries."""
    text = _SIGN_OFF.sub("", _GREETING.sub("", body.strip(), count=1)).strip()
    while (shorter := _CLOSING.sub("", text).strip()) != text:
        text = shorter
    return text


def reply_to_learn(transcript: Sequence[tuple[str, str]]) -> tuple[int, str] | None:
    """The agent's most substantive reply in ``transcript`` ((sender, body) in order)
    as (its index, its core), or None when every reply is a greeting, a holding line,
    a pleasantry or a question back to the customer. A pure function: no database."""
    best = None
    for index, (sender, body) in enumerate(transcript):
        if sender != Message.Sender.AGENT:
            continue
        core = reply_core(body)
        if len(core.split()) < LEARN_MIN_WORDS or core.endswith("?"):
            continue
        if best is None or len(core) > len(best[1]):
            best = (index, core)
    return best
