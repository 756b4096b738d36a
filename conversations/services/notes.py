"""Internal notes: agents' words on a conversation for each other, with @mentions.

A note is stored beside the messages, never among them (``models.Note``), and
pushed only to the agents watching the conversation (its ``conversation.<id>``
group, which no customer socket joins). It leaves the conversation as it was:
no status change, no sequence number, no SLA effect. The agents it mentions are
handed to the apps above through ``signals.note_added`` (the bell is sla's).
"""

import re

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from conversations import broadcast, signals
from conversations.models import Conversation, Note
from conversations.services.messages import client_id_clean, message_body_clean

# "@name" not inside a word or an e-mail address; Django usernames are letters,
# digits and @.+-_ (the @ left out here), and a mention ends on a letter or digit
# so "@bob." at the end of a sentence is bob.
MENTION = re.compile(r"(?<![\w@.+-])@([\w.+-]*\w)")
# A note naming more people than this notifies the first ones only.
MENTIONS_MAX = 20


def note_body_clean(body: object) -> str:
    """The note to store, or a ValidationError the agent can read (a message's limits)."""
    return message_body_clean(body, noun="note")


def mention_names(body: str) -> list[str]:
    """The names ``body`` @mentions, lower-cased, each once, in order."""
    names: dict[str, None] = {}
    for match in MENTION.finditer(body):
        names.setdefault(match.group(1).lower(), None)
    return list(names)[:MENTIONS_MAX]


def _mentioned(body: str, *, author: AbstractBaseUser) -> list:
    """The active agents other than the author that ``body`` names by username."""
    names = mention_names(body)
    if not names:
        return []
    by_name = Q()
    for name in names:
        by_name |= Q(username__iexact=name)
    return list(get_user_model().objects.filter(by_name, is_active=True).exclude(pk=author.pk).order_by("pk"))


def note_add(*, conversation_id: int, author: AbstractBaseUser, body: object, client_id: object = "") -> Note:
    """Store an agent's note on any conversation, open or resolved; push it to the
    agents watching it and notify the agents it mentions (not the author, not an
    unknown or inactive name, each once). A ``client_id`` already stored returns
    that note (a note sent again). Conversation.DoesNotExist for an unknown id."""
    if author is None or not author.is_authenticated or not author.is_active:
        raise PermissionDenied("Sign in as an agent to write notes.")
    body = note_body_clean(body)
    client_id = client_id_clean(client_id)
    try:
        return _note_store(conversation_id=conversation_id, author=author, body=body, client_id=client_id)
    except IntegrityError:
        # Its twin (the same client id) committed first: that one is the note.
        earlier = client_id and Note.objects.filter(conversation_id=conversation_id, client_id=client_id).first()
        if earlier:
            return earlier
        raise


@transaction.atomic
def _note_store(*, conversation_id: int, author: AbstractBaseUser, body: str, client_id: str) -> Note:
    conversation = Conversation.objects.only("pk", "last_seq").get(pk=conversation_id)
    if client_id:
        earlier = Note.objects.filter(conversation=conversation, client_id=client_id).select_related("author").first()
        if earlier is not None:
            return earlier
    note = Note(
        conversation=conversation,
        author=author,
        body=body,
        after_seq=conversation.last_seq,
        client_id=client_id,
        created_at=timezone.now(),
    )
    note.full_clean(exclude=["conversation", "author"], validate_unique=False, validate_constraints=False)
    note.save(force_insert=True)
    mentioned = _mentioned(body, author=author)
    if mentioned:
        note.mentions.add(*mentioned)
    broadcast.notify_note(note, mentioned=mentioned)
    signals.note_added.send(sender=Note, note=note, mentioned=mentioned)
    return note
