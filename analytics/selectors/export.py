"""Every conversation of the period, the raw rows behind the figures, for spreadsheets."""

from django.db.models import F

from analytics.filters import Filters
from analytics.selectors.common import RESPONSE_TIMES
from analytics.tables import Column, Table
from conversations.models import Conversation


def conversation_rows(*, filters: Filters) -> Table:
    """Every conversation started in the period, streamed from a server-side cursor."""
    qs = (
        Conversation.objects.filter(filters.within("created_at"), filters.conversations())
        .annotate(agent_name=F("assigned_agent__username"), **RESPONSE_TIMES)
        .order_by("created_at", "pk")
        .values(
            "pk",
            "created_at",
            "status",
            "priority",
            "handoff_reason",
            "handoff_confidence",
            "agent_name",
            "handed_off_at",
            "first_agent_reply_at",
            "resolved_at",
            *RESPONSE_TIMES,
        )
    )
    return Table(
        "conversations",
        "Conversations",
        [
            Column("pk", "Conversation"),
            Column("created_at", "Started", "datetime"),
            Column("status", "Status", "text"),
            Column("priority", "Priority"),
            Column("handoff_reason", "Handoff reason", "text"),
            Column("handoff_confidence", "Handoff confidence", "text"),
            Column("agent_name", "Agent", "text"),
            Column("handed_off_at", "Handed off", "datetime"),
            Column("first_agent_reply_at", "First agent reply", "datetime"),
            Column("resolved_at", "Resolved", "datetime"),
            Column("pending", "Time pending (s)", "duration"),
            Column("first_response", "First response (s)", "duration"),
            Column("resolution", "Resolution (s)", "duration"),
        ],
        qs.iterator(chunk_size=2000),
        streamed=True,
    )
