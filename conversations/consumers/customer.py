"""The customer's widget socket."""

import logging

from django.db import DatabaseError

from conversations import broadcast, files, selectors, services
from conversations.consumers.base import CLOSE_FORBIDDEN, CLOSE_TRY_LATER, _EventsConsumer, _int_field
from conversations.identity import SUBPROTOCOL, session_key, token_from_subprotocols, visitor_read
from conversations.models import Customer
from core import ratelimit
from core.live import db

logger = logging.getLogger(__name__)


class CustomerChatConsumer(_EventsConsumer):
    """The customer's widget. Identity comes from the session token, never from a
    frame; the token comes in the socket's subprotocol (``baton.token.…``), not in its
    URL, which servers and proxies write to their logs. A visitor who has written
    nothing has no customer row yet: their first message makes it, and the socket
    then joins the customer's group."""

    customer: Customer | None = None

    def viewer(self) -> str | None:
        return files.customer_viewer(self.customer.pk) if self.customer else None

    async def connect(self):
        self.visitor = visitor_read(token_from_subprotocols(self.scope.get("subprotocols", [])))
        if self.visitor is None:
            await self.close(code=CLOSE_FORBIDDEN)
            return
        try:
            self.customer = await db(selectors.customer_of)(self.visitor)
        except DatabaseError:
            await self.close(code=CLOSE_TRY_LATER)
            return
        if self.customer is None and self.visitor.customer_id is not None:
            await self.close(code=CLOSE_FORBIDDEN)  # the customer was erased
            return
        groups = [broadcast.customer_group(self.customer.pk)] if self.customer else []
        await self.join_and_accept(groups, subprotocol=SUBPROTOCOL)

    def _customer_made(self) -> Customer:
        """This visitor's customer, made now if this is their first message."""
        if self.customer is None:
            ratelimit.start_check(ip=ratelimit.scope_ip(self.scope))
            self.customer = services.customer_for_visitor(visitor=self.visitor)
        return self.customer

    async def _joined_customer(self, had_customer: bool) -> None:
        """A first message made the customer: hear its events from now on, and have
        the client catch up on what was said before the socket joined (the bot's
        answer can come before the join)."""
        if had_customer or self.customer is None:
            return
        group = broadcast.customer_group(self.customer.pk)
        try:
            await self.channel_layer.group_add(group, self.channel_name)
        except Exception:
            logger.warning("channel layer unavailable: the client catches up over HTTP", exc_info=True)
            await self.close(code=CLOSE_TRY_LATER)
            return
        self.joined = (*self.joined, group)
        await self.resync()

    async def customer_erased(self, event):
        """The customer's data was erased (privacy): this page is done; a new one starts afresh."""
        await self.close(code=CLOSE_FORBIDDEN)

    def _rate_check(self) -> None:
        ratelimit.message_check(visitor=session_key(self.visitor), ip=ratelimit.scope_ip(self.scope))

    def _post(self, body, client_id):
        self._rate_check()
        services.message_body_clean(body)  # no customer row for a refused first message
        return services.message_post_from_customer(customer=self._customer_made(), body=body, client_id=client_id)

    def _handoff(self):
        self._rate_check()
        return services.customer_request_handoff(customer=self._customer_made())

    async def on_message(self, content):
        had_customer = self.customer is not None
        await self.post_message(content, self._post)
        await self._joined_customer(had_customer)

    async def on_handoff(self, content):
        had_customer = self.customer is not None
        done = await self.run_frame(self._handoff, content)
        if done is not None:
            await self.send_json({"type": "handoff.ack", "client_id": content.get("client_id")})
        await self._joined_customer(had_customer)

    async def on_typing(self, content):
        """Nothing to tell before the visitor wrote anything (no customer, no conversation)."""
        if self.customer is not None:
            await self.run_frame(lambda: services.customer_typing(customer=self.customer), content)

    async def on_sync(self, content):
        """Replay what the client misses after its cursor, then the state, then
        where the replay ended (``sync.done``: the client holds everything up to it)."""
        conversation_id = _int_field(content, "conversation") or 0
        after_seq = _int_field(content, "after_seq") or 0
        frames = await self.run_frame(lambda: self._sync_frames(conversation_id, after_seq), content)
        for frame in frames or []:
            await self.send_json(frame)

    def _sync_frames(self, conversation_id: int, after_seq: int) -> list[dict]:
        if self.customer is None:
            return [{"type": "sync.done", "conversation": 0, "seq": 0}]
        if conversation_id and not self.customer.conversations.filter(pk=conversation_id).exists():
            return [
                {
                    "type": "error",
                    "code": "not_found",
                    "message": "No such conversation.",
                    "client_id": None,
                    "frame": "sync",
                }
            ]
        catch_up = selectors.customer_catch_up(
            customer=self.customer, conversation_id=conversation_id, after_seq=after_seq
        )
        viewer = self.viewer()
        frames = [
            {"type": "conversation.message", "message": broadcast.message_payload(m, viewer=viewer)}
            for m in catch_up.messages
        ]
        if catch_up.conversation is not None:
            frames.append(
                {
                    "type": "conversation.changed",
                    "event": "sync",
                    "conversation": broadcast.conversation_payload(
                        catch_up.conversation, queue_position=catch_up.queue_position
                    ),
                }
            )
        frames.append({"type": "sync.done", "conversation": catch_up.cursor[0], "seq": catch_up.cursor[1]})
        return frames
