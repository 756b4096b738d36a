"""Reads of canned responses: what an agent may use, and what they may manage."""

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import F, Q, QuerySet

from canned.models import TITLE_MAX, CannedResponse
from canned.placeholders import placeholders_fill
from conversations.models import Conversation

SUGGESTIONS_MAX = 8


def canned_usable(*, user: AbstractBaseUser, prefix: str = "") -> QuerySet[CannedResponse]:
    """The shared responses and the user's own; with ``prefix``, those whose shortcut
    or title starts with it (case-insensitive). The user's own come first."""
    found = CannedResponse.objects.filter(Q(owner__isnull=True) | Q(owner=user))
    prefix = prefix.strip()[:TITLE_MAX]
    if prefix:
        found = found.filter(Q(shortcut__istartswith=prefix) | Q(title__istartswith=prefix))
    return found.order_by("shortcut", F("owner").asc(nulls_last=True), "pk")


def canned_manageable(*, user: AbstractBaseUser) -> QuerySet[CannedResponse]:
    """The responses the user may edit and delete: their own, and the shared ones for staff."""
    mine = Q(owner=user)
    return CannedResponse.objects.filter(mine | Q(owner__isnull=True) if user.is_staff else mine)


def canned_suggestions(*, conversation: Conversation, user: AbstractBaseUser, prefix: str) -> list[dict]:
    """What the reply box offers for ``/prefix``: bodies filled for this
    conversation's customer and the agent asking."""
    return [
        {
            "id": r.pk,
            "shortcut": r.shortcut,
            "title": r.title,
            "body": placeholders_fill(r.body, customer=conversation.customer, agent=user),
        }
        for r in canned_usable(user=user, prefix=prefix)[:SUGGESTIONS_MAX]
    ]
