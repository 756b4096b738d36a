"""The queue as one routing round reads it, and the plan of who takes what (no writes but the
"queued" decisions)."""

from dataclasses import dataclass, field
from datetime import UTC, datetime

from conversations.models import Conversation
from routing import queries, selectors
from routing.models import Offer, RoutingDecision, RoutingState
from routing.services.decisions import decisions_record
from routing.services.state import states_create

Kind = RoutingDecision.Kind


# Waiting conversations one routing round looks at: those needing skills nobody
# free has are passed over, so one behind them still gets placed.
QUEUE_SCAN = 200


# Lines a decision's record keeps of the agents considered (how many there were
# is in its reason): the best who could take it, then the nearest who could not.
CANDIDATES_RECORDED = 10


EPOCH = datetime.min.replace(tzinfo=UTC)


@dataclass
class Waiting:
    """A conversation at the head of the queue, as one routing round read it."""

    conversation_id: int
    queued_recorded: bool
    required: dict[int, str] = field(default_factory=dict)  # skill id → name; none once relaxed
    tried: set[int] = field(default_factory=set)  # agents offered it before


def queue_window(*, offering: bool) -> list[Waiting]:
    """The first waiting conversations nobody is being offered, in queue order, with
    the skills each needs and (when offering) who had it offered before; read
    without locks, in two or three queries however long the queue."""
    rows = queries.queue_window_rows(limit=QUEUE_SCAN)
    if not rows:
        return []
    new = [pk for pk, state, _relaxed, _queued in rows if state is None]
    if new:  # handed off before routing was there to hear it
        states_create(conversations=list(Conversation.objects.filter(pk__in=new).select_related("customer")))
    window = {pk: Waiting(conversation_id=pk, queued_recorded=bool(queued)) for pk, _state, _relaxed, queued in rows}
    needing = [pk for pk, _state, relaxed, _queued in rows if relaxed is None]
    for state_id, skill_id, name in queries.required_skills_rows(state_ids=needing):
        window[state_id].required[skill_id] = name
    if offering:
        for conversation_id, agent_id in Offer.objects.filter(conversation_id__in=list(window)).values_list(
            "conversation_id", "agent_id"
        ):
            window[conversation_id].tried.add(agent_id)
    return list(window.values())


def _record(candidates: list[selectors.Candidate], busy: dict[int, int], required: set[int], ranked=()) -> list[dict]:
    """A decision's record of the agents considered: those who could take the
    conversation, best first (the first of ``ranked`` chosen), then those who could
    not, the ones with the skills (at capacity) before the others; at most
    ``CANDIDATES_RECORDED`` lines. The reason says how many were considered."""
    lines = [
        c.line(
            busy=busy[c.user_id],
            eligible=True,
            why=f"chosen (load {busy[c.user_id]}/{c.capacity})" if i == 0 else "higher load or busier",
        )
        for i, c in enumerate(ranked[:CANDIDATES_RECORDED])
    ]
    chosen = {c.user_id for c in ranked}
    full = [c for c in candidates if c.user_id not in chosen and required <= c.skills]
    unskilled = [c for c in candidates if not required <= c.skills]
    for c in full + unskilled:
        if len(lines) == CANDIDATES_RECORDED:
            break
        lines.append(c.assess(busy=busy[c.user_id], required=required))
    return lines


@dataclass
class Placement:
    """One line of a routing plan: the conversation, the agents who may take it
    best first (the first is chosen), and the record of who was considered."""

    waiting: Waiting
    ranked: list[selectors.Candidate]
    load: str  # the chosen agent's, as the plan saw it
    record: list[dict]
    online: int

    @property
    def chosen(self) -> selectors.Candidate:
        return self.ranked[0]

    @property
    def considered(self) -> str:
        return f"{len(self.ranked)} of {self.online} online agents could take it"


def placements_plan(
    window: list[Waiting], candidates: list[selectors.Candidate], *, now: datetime
) -> tuple[list[Placement], dict[int, list[dict]]]:
    """Who takes what, in queue order: each conversation goes to an eligible agent
    (room, all required skills) not offered it before, with the lowest load, then
    idle longest; each placement counts against the agent for the ones after it.
    A conversation no free agent may take is passed over, so one behind it whose
    skills someone has still gets placed. Returns the plan, and for each
    passed-over conversation that has not yet said why it waits, the record."""
    busy = {c.user_id: c.active + c.offered for c in candidates}
    idle_since = {c.user_id: c.last_assigned_at or EPOCH for c in candidates}
    plan, waits = [], {}
    for waiting in window:
        required = set(waiting.required)
        eligible = [c for c in candidates if busy[c.user_id] < c.capacity and required <= c.skills]
        if not eligible:
            if not waiting.queued_recorded:
                waits[waiting.conversation_id] = _record(candidates, busy, required)
            continue
        eligible.sort(
            key=lambda c: (c.user_id in waiting.tried, busy[c.user_id] / c.capacity, idle_since[c.user_id], c.user_id)
        )
        chosen = eligible[0]
        plan.append(
            Placement(
                waiting=waiting,
                ranked=eligible,
                load=f"{busy[chosen.user_id]}/{chosen.capacity}",
                record=_record(candidates, busy, required, eligible),
                online=len(candidates),
            )
        )
        busy[chosen.user_id] += 1
        idle_since[chosen.user_id] = now
    return plan, waits


def queued_record(*, window: list[Waiting], waits: dict[int, list[dict]], online: int, now: datetime) -> bool:
    """Say once, for each conversation that has just started to wait, why it waits.
    True if any did (the queue grew: its customers' places are pushed)."""
    new = [w for w in window if w.conversation_id in waits]
    ids = [w.conversation_id for w in new]
    if not ids or not RoutingState.objects.filter(pk__in=ids, queued_recorded=False).update(queued_recorded=True):
        return False
    entries = []
    for waiting in new:
        record = waits[waiting.conversation_id]
        if not record:
            reason = "Queued: no agent is online."
        elif waiting.required:
            names = ", ".join(sorted(waiting.required.values()))
            reason = f"Queued: none of the {online} online agents with skills {names} has room."
        else:
            reason = f"Queued: all {online} online agents are at capacity."
        entries.append(
            {"conversation_id": waiting.conversation_id, "kind": Kind.QUEUED, "reason": reason, "candidates": record}
        )
    decisions_record(entries=entries, now=now)
    return True
