"""Routing decisions: stored, and shown in each conversation's timeline."""

from datetime import datetime

from django.contrib.auth.models import AbstractBaseUser

from conversations import services as conversation_services
from conversations.models import Conversation
from core.db import bulk_insert
from routing.models import RoutingDecision

Kind = RoutingDecision.Kind


def decisions_record(*, entries: list[dict], now: datetime) -> list[RoutingDecision]:
    """Store routing decisions and show each in its conversation's timeline, in two
    INSERTs. Each entry: ``conversation_id``, ``kind``, and optionally ``agent_id``,
    ``reason``, ``candidates`` (the record of who was considered), ``actor`` and
    ``timeline`` (False: stored only, when another line already tells it, as a
    transfer's says who now has the conversation)."""
    decisions = bulk_insert(
        [
            RoutingDecision(
                conversation_id=e["conversation_id"],
                agent_id=e.get("agent_id"),
                kind=e["kind"],
                reason=e.get("reason", ""),
                candidates=e.get("candidates") or [],
                created_at=now,
            )
            for e in entries
        ]
    )
    conversation_services.timeline_record_many(
        entries=[
            {
                "conversation_id": d.conversation_id,
                "kind": f"routing.{d.kind}",
                "text": d.reason or Kind(d.kind).label,
                "actor": e.get("actor"),
                "data": {"decision": d.pk, "agent": d.agent_id, "candidates": d.candidates},
                "at": now,
            }
            for d, e in zip(decisions, entries, strict=True)
            if e.get("timeline", True)
        ],
        batched=False,
    )
    return decisions


def decision_record(
    *,
    conversation: Conversation,
    kind: str,
    agent: AbstractBaseUser | None = None,
    agent_id: int | None = None,
    reason: str = "",
    candidates: list | None = None,
    actor: AbstractBaseUser | None = None,
    now: datetime,
) -> RoutingDecision:
    """One routing decision (see ``decisions_record``)."""
    entry = {
        "conversation_id": conversation.pk,
        "kind": kind,
        "agent_id": agent.pk if agent is not None else agent_id,
        "reason": reason,
        "candidates": candidates,
        "actor": actor,
    }
    return decisions_record(entries=[entry], now=now)[0]
