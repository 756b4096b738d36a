"""The bot's turns: claimed by a worker (or the timers, when overdue), answered
in batches, stored or handed off."""

from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from conversations.models import BotTurn, Conversation, Message
from conversations.services.handoff import conversation_handoff
from conversations.services.messages import _message_create
from knowledge import bot

Status = Conversation.Status


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
        elif not message.body.strip():
            # A file without a caption: the bot reads no files, a person looks at it.
            unread = bot.BotAnswer(text="", confidence=None, handoff_reason=Conversation.HandoffReason.FILE_SENT)
            results[message.pk] = _bot_turn_finish(message=message, reply=unread)
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
