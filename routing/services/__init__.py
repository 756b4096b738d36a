"""The write path of routing: presence, offers, assignment, transfer, the queue.

How routing runs (docs/concurrency.md): every commit that may let a waiting
conversation be placed (a handoff, a resolve, an agent coming online, an offer
declined or expired, a transfer) asks for routing once it has committed
(``routing_schedule``). On PostgreSQL one process routes at a time, holding an
advisory lock; a process asking while another routes only counts its request on
a sequence, which the router reads after each round and, if it moved, routes
again: no request goes unserved, and requests made together share a round. A
round reads the head of the queue and the online agents, plans who takes what,
and places the whole plan in one transaction.

Lock order: conversation rows first, then agent profile rows in ascending user
id. Capacity is enforced by the check constraint ``agentprofile_within_capacity``
and by ``assignments_record`` (connected to conversations' ``conversations_assigned``
hook), which every assignment passes, routed or by hand: it locks the agents'
profiles, refuses (AgentAtCapacity) what does not fit, and counts the rest.

The package by subject (imports point down this list, none back up): capacity,
decisions, state, queue (reading it and planning), router, hooks (conversations'
hooks), offers, presence, tick, transfer. Every public name is re-exported here:
``from routing import services; services.presence_set(...)``.
"""

from routing.services.capacity import AgentAtCapacity, agent_profile_for
from routing.services.decisions import decision_record, decisions_record
from routing.services.hooks import assignments_record, handoff_received, resolution_record
from routing.services.offers import conversation_take, offer_decline, offers_expire
from routing.services.presence import (
    PRESENCE_RESTORE,
    agent_unavailable,
    presence_heartbeat,
    presence_set,
    presence_sweep,
)
from routing.services.queue import CANDIDATES_RECORDED, EPOCH, QUEUE_SCAN
from routing.services.router import ROUNDS_PER_CALL, SERVE_S, route, routing_request, routing_schedule
from routing.services.state import routing_state_for
from routing.services.tick import skills_relax, tick
from routing.services.transfer import conversation_transfer

__all__ = [
    "CANDIDATES_RECORDED",
    "EPOCH",
    "PRESENCE_RESTORE",
    "QUEUE_SCAN",
    "ROUNDS_PER_CALL",
    "SERVE_S",
    "AgentAtCapacity",
    "agent_profile_for",
    "agent_unavailable",
    "assignments_record",
    "conversation_take",
    "conversation_transfer",
    "decision_record",
    "decisions_record",
    "handoff_received",
    "offer_decline",
    "offers_expire",
    "presence_heartbeat",
    "presence_set",
    "presence_sweep",
    "resolution_record",
    "route",
    "routing_request",
    "routing_schedule",
    "routing_state_for",
    "skills_relax",
    "tick",
]
