"""A known week for the analytics reports: Monday 2 to Sunday 8 March 2026 in
Europe/Berlin (UTC+1), with conversations just inside and just outside both ends.

Every timestamp is set with time-machine (auto_now_add fields) or explicitly, so
every figure the reports show can be worked out by hand (see test_scenario.py).
"""

from datetime import UTC, datetime, timedelta

import time_machine

from analytics import services
from conversations.models import Conversation, Message
from knowledge.models import Entry
from routing.models import AgentProfile, PresenceLog, RoutingState, Skill
from sla.models import Breach, SLAPolicy, SLATimer
from tests.factories import ConversationFactory, MessageFactory

TZ = "Europe/Berlin"
WEEK = {"period": "custom", "start": "2026-03-02", "end": "2026-03-08"}
Status = Conversation.Status
Reason = Conversation.HandoffReason


def at(day: int, hour: int, minute: int = 0, second: int = 0) -> datetime:
    """A UTC time in March 2026."""
    return datetime(2026, 3, day, hour, minute, second, tzinfo=UTC)


def _src(entry_id: str) -> list:
    return [{"id": entry_id, "title": entry_id.replace("-", " ").title(), "score": 0.5}]


def _conversation(created: datetime, **fields) -> Conversation:
    with time_machine.travel(created, tick=False):
        conversation = ConversationFactory()
    Conversation.objects.filter(pk=conversation.pk).update(**fields)
    conversation.refresh_from_db()
    return conversation


def _message(conversation: Conversation, when: datetime, sender: str, body: str = "…", **fields) -> Message:
    with time_machine.travel(when, tick=False):
        return MessageFactory(conversation=conversation, sender=sender, body=body, **fields)


def _bot(conversation, when, confidence, entry_id):
    return _message(conversation, when, Message.Sender.BOT, confidence=confidence, sources=_src(entry_id))


def _customer(conversation, when, body):
    return _message(conversation, when, Message.Sender.CUSTOMER, body)


def _handed_off(
    created: datetime,
    *,
    priority: int,
    reason: str,
    handed_off: datetime,
    question: str,
    confidence: float | None = None,
    entry_id: str | None = None,
    agent=None,
    assigned: datetime | None = None,
    replied: datetime | None = None,
    resolved: datetime | None = None,
) -> Conversation:
    status = Status.RESOLVED if resolved else Status.ASSIGNED if assigned else Status.PENDING_HANDOFF
    conversation = _conversation(
        created,
        status=status,
        priority=priority,
        handoff_reason=reason,
        handoff_confidence=confidence,
        handoff_sources=_src(entry_id) if entry_id else [],
        handed_off_at=handed_off,
        assigned_agent=agent,
        assigned_at=assigned,
        first_agent_reply_at=replied,
        resolved_at=resolved,
    )
    _customer(conversation, handed_off - timedelta(seconds=1), question)
    services.handoff_question_record(conversation=conversation)  # what the handoff signal does
    if replied:
        _message(conversation, replied, Message.Sender.AGENT, "Here to help", agent=agent)
    return conversation


def standard_policy() -> SLAPolicy:
    """The policy sla's data migration seeds (gone after a transactional test's flush)."""
    return SLAPolicy.objects.get_or_create(name="Standard", defaults={"is_default": True})[0]


def _timer(conversation, kind, *, target, state, stopped=None, agent=None, at_risk=None):
    started = conversation.handed_off_at
    due = started + timedelta(seconds=target)
    policy = standard_policy()
    timer = SLATimer.objects.create(
        conversation=conversation,
        kind=kind,
        policy=policy,
        priority=conversation.priority,
        target_seconds=target,
        started_at=started,
        at_risk_at=at_risk or started + timedelta(seconds=target * 0.8),
        due_at=due,
        state=state,
        stopped_at=stopped,
        breached_at=due if state == SLATimer.State.BREACHED else None,
    )
    if state == SLATimer.State.BREACHED:
        Breach.objects.create(
            timer=timer,
            conversation=conversation,
            kind=kind,
            priority=conversation.priority,
            policy=policy,
            target_seconds=target,
            deadline=due,
            detected_at=due + timedelta(seconds=30),
            agent=agent,
        )
    return timer


def build_team(*, alice, bob, carol) -> None:
    """Alice online (4 seats), Bob away (2 seats, billing), Carol offline (3 seats) with no conversations."""
    AgentProfile.objects.create(user=alice, presence="online", capacity=4)
    AgentProfile.objects.create(user=bob, presence="away", capacity=2).skills.add(Skill.objects.create(name="billing"))
    AgentProfile.objects.create(user=carol, presence="offline", capacity=3)
    for agent, status, start, end in [
        (alice, "online", at(1, 22), at(1, 23, 30)),  # 30 min of it after Monday 00:00 Berlin
        (alice, "online", at(2, 7), at(2, 15)),  # 8 h
        (alice, "away", at(2, 15), at(2, 16)),
        (alice, "online", at(8, 22), None),  # still online: 1 h until the week ends
        (bob, "online", at(4, 9), at(4, 12)),  # 3 h
        (bob, "away", at(4, 12), None),
    ]:
        PresenceLog.objects.create(agent=agent, status=status, started_at=start, ended_at=end)


def build_sla(c: dict, *, alice, bob) -> None:
    """Targets of the seeded Standard policy: P1 5 min / 1 h, P2 15 min / 4 h, P3 1 h / 8 h."""
    FR, RES = SLATimer.Kind.FIRST_RESPONSE, SLATimer.Kind.RESOLUTION
    MET, BREACHED, AT_RISK = SLATimer.State.MET, SLATimer.State.BREACHED, SLATimer.State.AT_RISK
    for key in ("H1", "H3"):
        _timer(c[key], FR, target=300, state=MET, stopped=c[key].first_agent_reply_at)
        _timer(c[key], RES, target=3600, state=MET, stopped=c[key].resolved_at)
    # Bob replied after 20 min: breached on Wednesday 11:05 Berlin; resolved after exactly 1 h: met.
    _timer(c["H2"], FR, target=300, state=BREACHED, stopped=c["H2"].first_agent_reply_at, agent=bob)
    _timer(c["H2"], RES, target=3600, state=MET, stopped=c["H2"].resolved_at)
    _timer(c["H4"], FR, target=3600, state=MET, stopped=c["H4"].first_agent_reply_at)
    _timer(c["H4"], RES, target=28800, state=BREACHED, agent=alice)  # Friday 17:00 Berlin
    _timer(c["H5"], FR, target=3600, state=BREACHED)  # Sunday 01:00 Berlin
    _timer(c["H5"], RES, target=28800, state=AT_RISK)
    # Handed off in the week, but its breach (Monday 00:00 Berlin) is in the next one.
    _timer(c["H6"], FR, target=900, state=BREACHED)
    _timer(c["H6"], RES, target=14400, state=MET, stopped=c["H6"].resolved_at)
    _timer(c["H7"], FR, target=300, state=BREACHED, stopped=c["H7"].first_agent_reply_at, agent=bob)
    # Bob's skill: only H2 required it.
    RoutingState.objects.create(conversation=c["H2"], skills_since=c["H2"].handed_off_at).required_skills.add(
        Skill.objects.get(name="billing")
    )


def build_week(*, alice, bob, carol) -> dict[str, Conversation]:
    for entry_id in ("reset-password", "export-data", "billing-refund"):
        Entry.objects.create(external_id=entry_id, title=entry_id.replace("-", " ").title(), body="…")
    c = {}
    # Contained by the bot: Monday 00:30 Berlin is still Sunday in UTC.
    c["C1"] = _conversation(at(1, 23, 30), status=Status.RESOLVED, resolved_at=at(2, 0, 0))
    _bot(c["C1"], at(1, 23, 31), 0.85, "reset-password")
    # Sunday 1 March 23:30 Berlin: the day before the week, not counted anywhere.
    c["C2"] = _conversation(at(1, 22, 30), status=Status.RESOLVED, resolved_at=at(1, 23, 0))
    _bot(c["C2"], at(1, 22, 31), 0.90, "reset-password")
    c["B2"] = _conversation(at(4, 12, 0), status=Status.RESOLVED, resolved_at=at(4, 12, 30))
    _bot(c["B2"], at(4, 12, 1), 0.92, "reset-password")
    _bot(c["B2"], at(4, 12, 2), 0.75, "export-data")
    c["B3"] = _conversation(at(5, 9, 0))  # still with the bot
    c["H1"] = _handed_off(
        at(3, 9, 0),
        priority=1,
        reason=Reason.LOW_CONFIDENCE,
        confidence=0.30,
        entry_id="billing-refund",
        handed_off=at(3, 9, 1),
        question="How do I get a refund?",
        agent=alice,
        assigned=at(3, 9, 3),
        replied=at(3, 9, 5),
        resolved=at(3, 9, 31),
    )
    _bot(c["H1"], at(3, 9, 0, 30), 0.62, "reset-password")
    c["H2"] = _handed_off(
        at(4, 9, 59),
        priority=1,
        reason=Reason.LOW_CONFIDENCE,
        confidence=0.20,
        entry_id="billing-refund",
        handed_off=at(4, 10, 0),
        question="  how do I get a REFUND?",
        agent=bob,
        assigned=at(4, 10, 10),
        replied=at(4, 10, 20),
        resolved=at(4, 11, 0),
    )
    c["H3"] = _handed_off(
        at(5, 13, 59),
        priority=1,
        reason=Reason.CUSTOMER_REQUEST,
        handed_off=at(5, 14, 0),
        question="Can I talk to a human",
        agent=alice,
        assigned=at(5, 14, 1),
        replied=at(5, 14, 2),
        resolved=at(5, 14, 30),
    )
    c["H4"] = _handed_off(
        at(6, 7, 58),
        priority=3,
        reason=Reason.REPEATED_FAILURE,
        confidence=0.45,
        entry_id="export-data",
        handed_off=at(6, 8, 0),
        question="Export fails",
        agent=alice,
        assigned=at(6, 8, 30),
        replied=at(6, 8, 40),
    )
    # Handed off at midnight Berlin, Sunday: inside the week; still waiting.
    c["H5"] = _handed_off(
        at(7, 22, 59),
        priority=3,
        reason=Reason.LOW_CONFIDENCE,
        confidence=0.55,
        entry_id="export-data",
        handed_off=at(7, 23, 0),
        question="export fails",
    )
    # Sunday 23:30 Berlin, resolved from the queue by an admin without a reply.
    c["H6"] = _handed_off(
        at(8, 22, 30),
        priority=2,
        reason=Reason.CUSTOMER_REQUEST,
        handed_off=at(8, 22, 45),
        question="Agent please",
        resolved=at(8, 23, 15),
    )
    # Monday 9 March 00:05 Berlin (Sunday in UTC): after the week.
    c["H7"] = _handed_off(
        at(8, 23, 5),
        priority=1,
        reason=Reason.LOW_CONFIDENCE,
        confidence=0.10,
        entry_id="billing-refund",
        handed_off=at(8, 23, 10),
        question="Refund???",
        agent=bob,
        assigned=at(8, 23, 20),
        replied=at(8, 23, 25),
    )
    build_team(alice=alice, bob=bob, carol=carol)
    build_sla(c, alice=alice, bob=bob)
    return c
