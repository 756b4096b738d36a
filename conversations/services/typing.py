"""Typing indicators: live only, never stored, and nothing to commit; each side's
page sends one at most every few seconds while its person types (chat.js,
conversation.js), and the other side shows it for a few seconds."""

from django.core.exceptions import PermissionDenied

from conversations import broadcast
from conversations.models import Conversation, Customer


def customer_typing(*, customer: Customer) -> None:
    """Shown to the agents watching the customer's conversation, once a person is
    on it (the bot does not watch)."""
    conversation_id = (
        customer.conversations.filter(status__in=[Conversation.Status.PENDING_HANDOFF, Conversation.Status.ASSIGNED])
        .values_list("pk", flat=True)
        .first()
    )
    if conversation_id is not None:
        broadcast.typing_to_agents(conversation_id=conversation_id)


def agent_typing(*, conversation_id: int, agent) -> None:
    """Shown to the customer; only the agent the conversation is assigned to types in it."""
    customer_id = (
        Conversation.objects.filter(pk=conversation_id, status=Conversation.Status.ASSIGNED, assigned_agent=agent)
        .values_list("customer_id", flat=True)
        .first()
    )
    if customer_id is None:
        raise PermissionDenied("Only the agent handling this conversation can type in it.")
    broadcast.typing_to_customer(conversation_id=conversation_id, customer_id=customer_id, agent=agent)
