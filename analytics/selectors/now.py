"""The live panel: the few indexed counts refreshed on every live event."""

from datetime import datetime

from analytics.selectors.common import open_at_risk
from analytics.selectors.queue import queue_now
from routing.models import AgentProfile
from sla.models import SLATimer


def now_panel(*, now: datetime) -> dict:
    """What the live panel shows; cheap (a few indexed counts), fetched on every live event."""
    queue = queue_now(filters=None)
    return {
        "queue": queue.rows,
        "waiting": sum(r["waiting"] for r in queue.rows),
        "agents_online": AgentProfile.objects.filter(presence=AgentProfile.Presence.ONLINE).count(),
        "at_risk": SLATimer.objects.filter(open_at_risk(now)).values("conversation").distinct().count(),
    }
