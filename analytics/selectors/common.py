"""What the reports share: the durations they measure and who counts as at risk."""

from datetime import datetime

from django.db.models import DurationField, ExpressionWrapper, F, Q
from django.db.models.functions import Coalesce

from conversations.models import Conversation
from sla.models import SLATimer

Status = Conversation.Status
PRIORITIES = Conversation.Priority
TOP = 10


def duration(end: str, start: str):
    return ExpressionWrapper(F(end) - F(start), output_field=DurationField())


# Time pending, first response and resolution, each counted from the handoff: the
# queue report's percentiles and the columns of the conversations export.
RESPONSE_TIMES = {
    "pending": ExpressionWrapper(
        Coalesce(F("assigned_at"), F("resolved_at")) - F("handed_off_at"), output_field=DurationField()
    ),
    "first_response": duration("first_agent_reply_at", "handed_off_at"),
    "resolution": duration("resolved_at", "handed_off_at"),
}


def open_at_risk(now: datetime) -> Q:
    """Open timers past their warning threshold, whether or not a sweep has marked them yet."""
    State = SLATimer.State
    return Q(state=State.AT_RISK) | Q(state=State.RUNNING, at_risk_at__lte=now)
