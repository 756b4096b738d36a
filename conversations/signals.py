"""Hooks for the apps above conversations (routing, sla), which this app must not import.

Each is sent by a service inside its transaction, after the state change, so a
receiver's writes commit or roll back with it. Receivers do their own writes
through their own services; nothing here hides a write.
"""

from django.dispatch import Signal

# conversation: the conversation, now pending_handoff.
conversation_handed_off = Signal()
# assigned: [(conversation, agent)], now assigned, in one transaction (one accept, or a routing batch).
# reasons: what the caller that assigned said about why (a dict of its own, or None).
conversations_assigned = Signal()
# conversation, agent, message: the agent's message (first_reply says whether it was the first).
agent_replied = Signal()
# conversation: now resolved; agent: who resolved it.
conversation_resolved = Signal()
# conversation (priority already changed), old, new, actor (a user or None), rule (a rule's name or "").
conversation_priority_changed = Signal()
# note: an agent's internal note, stored; mentioned: the users it notifies (active, not its author, each once).
note_added = Signal()
# user, channel_name: an agent's inbox page connected or disconnected (presence).
inbox_connected = Signal()
inbox_disconnected = Signal()
