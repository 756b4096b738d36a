"""The agents report: per agent, what they accepted, their load now and their time online."""

from datetime import datetime, timedelta

from django.contrib.auth import get_user_model
from django.db.models import Count, DateTimeField, DurationField, ExpressionWrapper, F, Q, Sum, Value
from django.db.models.functions import Coalesce, Greatest, Least

from analytics.filters import Filters
from analytics.percentiles import COUNTS, duration_percentiles
from analytics.selectors.common import Status, duration
from analytics.tables import Column, Table, pct
from conversations.models import Conversation, display_name
from routing.models import AgentProfile, PresenceLog

AGENT_TIMES = {
    "first_response": duration("first_agent_reply_at", "assigned_at"),
    "resolution": duration("resolved_at", "assigned_at"),
}


def _time_online(filters: Filters, now: datetime) -> dict[int, timedelta]:
    """Per agent, the online intervals of the presence log clipped to the period (and to now)."""
    start, end = filters.period.start, min(filters.period.end, now)
    if end <= start:
        return {}
    clipped = ExpressionWrapper(
        Least(Coalesce(F("ended_at"), Value(now, DateTimeField())), Value(end, DateTimeField()))
        - Greatest(F("started_at"), Value(start, DateTimeField())),
        output_field=DurationField(),
    )
    return dict(
        PresenceLog.objects.filter(status=AgentProfile.Presence.ONLINE, started_at__lt=end)
        .filter(Q(ended_at__isnull=True) | Q(ended_at__gt=start))
        .values("agent")
        .annotate(online=Sum(clipped))
        .values_list("agent", "online")
    )


def agents_report(*, filters: Filters, now: datetime) -> dict:
    """Per agent, conversations *accepted* in the period; times from acceptance."""
    accepted = Conversation.objects.filter(
        filters.within("assigned_at"), filters.conversations(), assigned_agent__isnull=False
    )
    times = duration_percentiles(
        accepted,
        values=AGENT_TIMES,
        group="assigned_agent",
        percents=(50,),
        counts={"n": None, "resolved": "resolved_at"},
    )
    handled = {agent: figures[COUNTS] for agent, figures in times.items()}
    load = dict(
        Conversation.objects.filter(status=Status.ASSIGNED)
        .values("assigned_agent")
        .annotate(n=Count("pk"))
        .values_list("assigned_agent", "n")
    )
    online = _time_online(filters, now)
    agents = get_user_model().objects.filter(Q(agent_profile__isnull=False) | Q(pk__in=list(handled)))
    if filters.agent is not None:
        agents = agents.filter(pk=filters.agent.pk)
    if filters.skill is not None:
        agents = agents.filter(agent_profile__skills=filters.skill)
    rows = []
    for user in agents.select_related("agent_profile").order_by("username"):
        profile = getattr(user, "agent_profile", None)
        figures = times.get(user.pk, {})
        rows.append(
            {
                "agent": display_name(user),
                "presence": profile.get_presence_display() if profile else "No profile",
                "handled": handled.get(user.pk, {}).get("n", 0),
                "resolved": handled.get(user.pk, {}).get("resolved", 0),
                "first_response": figures.get("first_response", {}).get(50),
                "resolution": figures.get("resolution", {}).get(50),
                "load": load.get(user.pk, 0),
                "capacity": profile.capacity if profile else None,
                "load_share": pct(load.get(user.pk, 0), profile.capacity) if profile else None,
                "online": online.get(user.pk, timedelta(0)),
            }
        )
    table = Table(
        "agents",
        "Agents",
        [
            Column("agent", "Agent", "text"),
            Column("presence", "Now", "text"),
            Column("handled", "Accepted"),
            Column("resolved", "Resolved"),
            Column("first_response", "First response median", "duration"),
            Column("resolution", "Resolution median", "duration"),
            Column("load", "Open now"),
            Column("capacity", "Capacity"),
            Column("load_share", "Load", "pct"),
            Column("online", "Time online", "duration"),
        ],
        rows,
        note="Conversations accepted in the period, times from acceptance; load and capacity are now; "
        "time online is within the period.",
    )
    return {"tables": [table], "rows": rows}
