"""The write path of the conversations app: one function per domain action, in
one module per subject (customers, messages, the bot's turns, handoff,
assignment, the timeline, internal notes, priority, resolve). ``from conversations import
services`` and ``services.<name>`` reach every one of them.

Each validates, locks what it changes, writes, and schedules its broadcasts on
commit (``check → do → notify``, as Zulip's actions). Lock order: customer row,
then conversation row (see docs/concurrency.md). The statements written out by
hand are in ``conversations/queries.py``, each with its measured reason.
"""

from conversations.services.assignment import (
    ConversationAlreadyTaken,
    conversation_accept,
    conversation_release,
    conversations_assign,
)
from conversations.services.attachments import (
    attachment_check,
    attachments_delete,
    caption_clean,
    message_post_file_from_agent,
    message_post_file_from_customer,
)
from conversations.services.bot_turns import (
    BOT_TURN_ATTEMPTS,
    BOT_TURN_BATCH,
    BOT_TURN_LEASE,
    BOT_TURN_OVERDUE,
    bot_turn,
    bot_turns_recover,
    bot_turns_run,
)
from conversations.services.customers import (
    customer_create,
    customer_for_visitor,
    customer_identify,
    customer_rename,
    display_name_clean,
)
from conversations.services.handoff import _reload_with_customer, conversation_handoff, customer_request_handoff
from conversations.services.messages import (
    _message_create,
    bot_turn_schedule,
    client_id_clean,
    message_body_clean,
    message_post_from_agent,
    message_post_from_customer,
)
from conversations.services.notes import mention_names, note_add, note_body_clean
from conversations.services.priority import conversation_priority_set
from conversations.services.resolve import conversation_resolve, handoff_question
from conversations.services.timeline import timeline_record, timeline_record_many
from conversations.services.typing import agent_typing, customer_typing

__all__ = [
    "BOT_TURN_ATTEMPTS",
    "BOT_TURN_BATCH",
    "BOT_TURN_LEASE",
    "BOT_TURN_OVERDUE",
    "ConversationAlreadyTaken",
    "_message_create",
    "_reload_with_customer",
    "agent_typing",
    "attachment_check",
    "attachments_delete",
    "bot_turn",
    "bot_turn_schedule",
    "bot_turns_recover",
    "bot_turns_run",
    "caption_clean",
    "client_id_clean",
    "conversation_accept",
    "conversation_handoff",
    "conversation_priority_set",
    "conversation_release",
    "conversation_resolve",
    "conversations_assign",
    "customer_create",
    "customer_for_visitor",
    "customer_identify",
    "customer_rename",
    "customer_request_handoff",
    "customer_typing",
    "display_name_clean",
    "handoff_question",
    "mention_names",
    "message_body_clean",
    "message_post_file_from_agent",
    "message_post_file_from_customer",
    "message_post_from_agent",
    "message_post_from_customer",
    "note_add",
    "note_body_clean",
    "timeline_record",
    "timeline_record_many",
]
