"""Websocket behaviour through the full ASGI stack (origin check, auth, routing),
on the configured channel layer: in-memory embedded, Redis with REDIS_URL."""

import json
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
import time_machine
from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator
from django.core.exceptions import ValidationError
from django.test import Client
from django.urls import reverse

from conversations import consumers, files, services, signals
from conversations.identity import customer_token_make, token_subprotocol, visitor_token_make
from conversations.models import Conversation, Customer, Message
from helpdesk.asgi import application
from knowledge.services import EntryData, entries_upsert
from tests.factories import ConversationFactory, CustomerFactory, UserFactory
from tests.uploads import image_bytes, upload

pytestmark = pytest.mark.django_db(transaction=True)

ORIGIN = (b"origin", b"http://localhost")


def _roundtrip(event):
    """Every event must survive JSON, as it does on the wire and through Redis."""
    assert json.loads(json.dumps(event)) == event
    return event


async def _customer_socket(token, *, origin=ORIGIN):
    """As the widget opens it: the token in a subprotocol, never in the URL."""
    communicator = WebsocketCommunicator(
        application,
        "/ws/chat/",
        headers=[origin, (b"host", b"localhost")],
        subprotocols=["baton", token_subprotocol(token)] if token else ["baton"],
    )
    connected, code = await communicator.connect()
    return communicator, connected, code


async def _agent_socket(user, path):
    client = Client()
    await sync_to_async(client.force_login)(user)
    cookie = f"sessionid={client.cookies['sessionid'].value}".encode()
    communicator = WebsocketCommunicator(
        application, path, headers=[ORIGIN, (b"host", b"localhost"), (b"cookie", cookie)]
    )
    connected, code = await communicator.connect()
    return communicator, connected, code


async def _watching(user, conversation):
    """An agent page's one socket, showing ``conversation`` (static/baton/hub.js)."""
    communicator, connected, _ = await _agent_socket(user, "/ws/inbox/")
    assert connected
    await communicator.send_json_to({"type": "watch", "conversation": conversation.pk})
    await _receive_until(communicator, lambda e: e["type"] == "watch.ok")
    return communicator


async def _receive_until(communicator, predicate, *, limit=20):
    for _ in range(limit):
        event = _roundtrip(await communicator.receive_json_from(timeout=5))
        if predicate(event):
            return event
    raise AssertionError("expected event not received")


async def test_customer_socket_requires_a_token():
    _communicator, connected, code = await _customer_socket(None)
    assert not connected and code == 4403


async def test_customer_socket_refuses_a_forged_token():
    customer = await sync_to_async(CustomerFactory)()
    forged = customer_token_make(customer_id=customer.pk)[:-3] + "abc"
    _communicator, connected, code = await _customer_socket(forged)
    assert not connected and code == 4403


async def test_customer_socket_refuses_a_foreign_origin():
    customer = await sync_to_async(CustomerFactory)()
    token = customer_token_make(customer_id=customer.pk)
    _communicator, connected, _ = await _customer_socket(token, origin=(b"origin", b"https://evil.example"))
    assert not connected


async def test_customer_message_is_acknowledged_with_itself_and_reaches_the_other_tabs():
    customer = await sync_to_async(CustomerFactory)()
    token = customer_token_make(customer_id=customer.pk)
    communicator, connected, _ = await _customer_socket(token)
    other_tab, other_connected, _ = await _customer_socket(token)
    assert connected and other_connected
    await communicator.send_json_to({"type": "message", "body": "<b>hi</b>", "client_id": "c1"})
    ack = _roundtrip(await communicator.receive_json_from(timeout=5))
    assert ack["type"] == "message.ack" and ack["client_id"] == "c1"
    assert ack["message"]["body"] == "<b>hi</b>" and ack["message"]["sender"] == "customer"
    assert ack["message"]["id"] == ack["id"]
    # The other tab hears it live; the sending socket is not sent it twice.
    heard = []
    while ack["id"] not in heard:  # among the state event and the bot's answer
        event = await other_tab.receive_json_from(timeout=5)
        heard += [event["message"]["id"]] if event["type"] == "conversation.message" else []
    sent_again = []
    while not await communicator.receive_nothing(timeout=0.3):
        event = await communicator.receive_json_from()
        if event["type"] == "conversation.message":
            sent_again.append(event["message"]["id"])
    assert ack["id"] not in sent_again
    assert await sync_to_async(Message.objects.filter(pk=ack["id"], body="<b>hi</b>").exists)()
    await communicator.disconnect()
    await other_tab.disconnect()


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        ("not json", "bad_request"),
        ("[1, 2]", "bad_request"),
        ('{"type": "delete_everything"}', "bad_request"),
        ('{"type": 7}', "bad_request"),
        ('{"type": "message", "body": 12}', "empty"),
        ('{"type": "message", "body": "   "}', "empty"),
        (json.dumps({"type": "message", "body": "x" * 4001}), "too_long"),
    ],
)
async def test_customer_bad_frames_get_an_error_and_store_nothing(frame, code):
    customer = await sync_to_async(CustomerFactory)()
    communicator, connected, _ = await _customer_socket(customer_token_make(customer_id=customer.pk))
    assert connected
    await communicator.send_to(text_data=frame)
    error = _roundtrip(await communicator.receive_json_from(timeout=5))
    assert error["type"] == "error" and error["code"] == code
    assert error["message"]
    assert not await sync_to_async(Message.objects.exists)()
    await communicator.disconnect()


async def test_customer_cannot_read_another_customers_conversation():
    mine, theirs = await sync_to_async(CustomerFactory.create_batch)(2)
    secret = await sync_to_async(services.message_post_from_customer)(customer=theirs, body="my card number is 1234")
    communicator, connected, _ = await _customer_socket(customer_token_make(customer_id=mine.pk))
    assert connected
    await communicator.send_json_to({"type": "sync", "conversation": secret.conversation_id, "after_seq": 0})
    error = await communicator.receive_json_from(timeout=5)
    assert error == {
        "type": "error",
        "code": "not_found",
        "message": "No such conversation.",
        "client_id": None,
        "frame": "sync",
    }
    assert await communicator.receive_nothing(timeout=0.2)
    await communicator.disconnect()


async def test_reconnecting_customer_gets_every_missed_message_once_in_order():
    customer, agent = await sync_to_async(CustomerFactory)(), await sync_to_async(UserFactory)(username="alice")
    conversation = await sync_to_async(ConversationFactory)(customer=customer, pending=True)
    await sync_to_async(services.conversation_accept)(conversation_id=conversation.pk, agent=agent)
    token = customer_token_make(customer_id=customer.pk)

    communicator, _, _ = await _customer_socket(token)
    await communicator.send_json_to({"type": "sync", "conversation": 0, "after_seq": 0})
    seen = await _receive_until(communicator, lambda e: e["type"] == "conversation.message")
    last_seq = seen["message"]["seq"]
    await communicator.disconnect()

    for i in range(3):  # sent while the customer's socket is down
        await sync_to_async(services.message_post_from_agent)(
            conversation_id=conversation.pk, agent=agent, body=f"missed {i}"
        )

    communicator, _, _ = await _customer_socket(token)
    await communicator.send_json_to({"type": "sync", "conversation": conversation.pk, "after_seq": last_seq})
    replayed = []
    while True:
        event = _roundtrip(await communicator.receive_json_from(timeout=5))
        if event["type"] == "conversation.changed":
            break
        replayed.append(event["message"])
    assert [m["body"] for m in replayed] == ["missed 0", "missed 1", "missed 2"]
    assert [m["seq"] for m in replayed] == [last_seq + 1, last_seq + 2, last_seq + 3]
    assert event["conversation"]["status"] == "assigned"
    assert event["conversation"]["agent"] == "Alice"
    await communicator.disconnect()


async def test_inbox_socket_requires_login():
    communicator = WebsocketCommunicator(application, "/ws/inbox/", headers=[ORIGIN, (b"host", b"localhost")])
    connected, code = await communicator.connect()
    assert not connected and code == 4403


async def test_inbox_hears_a_handoff_after_commit():
    agent = await sync_to_async(UserFactory)(username="alice")
    communicator, connected, _ = await _agent_socket(agent, "/ws/inbox/")
    assert connected
    customer = await sync_to_async(CustomerFactory)()
    conversation = await sync_to_async(services.customer_request_handoff)(customer=customer)
    event = await _receive_until(communicator, lambda e: e["type"] == "conversation.changed")
    assert event["event"] == "handed_off"
    assert event["conversation"]["id"] == conversation.pk
    assert event["conversation"]["status"] == Conversation.Status.PENDING_HANDOFF
    assert event["conversation"]["handoff_reason"] == "customer_request"
    await communicator.disconnect()


async def test_a_customer_whose_handoff_waits_hears_their_place():
    customer = await sync_to_async(CustomerFactory)()
    communicator, _, _ = await _customer_socket(customer_token_make(customer_id=customer.pk))
    conversation = await sync_to_async(services.customer_request_handoff)(customer=customer)  # nobody is online
    event = await _receive_until(communicator, lambda e: e["type"] == "conversation.queue")
    assert event == {"type": "conversation.queue", "conversation": conversation.pk, "queue_position": 1}
    await communicator.disconnect()


async def test_watching_an_unknown_conversation_is_refused_and_the_socket_keeps_working():
    agent = await sync_to_async(UserFactory)(username="alice")
    communicator, _, _ = await _agent_socket(agent, "/ws/inbox/")
    for bad in (999999, "1", None, -1, True):
        await communicator.send_json_to({"type": "watch", "conversation": bad})
        error = await _receive_until(communicator, lambda e: e["type"] == "error")
        assert (error["code"], error["frame"]) == ("not_found", "watch")
    await communicator.send_json_to({"type": "sync", "conversation": 999999, "after_seq": 0})
    error = await _receive_until(communicator, lambda e: e["type"] == "error")
    assert (error["code"], error["frame"]) == ("not_watching", "sync")
    await communicator.send_json_to({"type": "message", "conversation": 999999, "body": "x", "client_id": "c1"})
    error = await _receive_until(communicator, lambda e: e["type"] == "error")
    assert (error["code"], error["client_id"]) == ("not_found", "c1")
    await communicator.disconnect()


async def test_agent_replies_over_the_socket_reach_the_customer_live():
    agent = await sync_to_async(UserFactory)(username="alice")
    customer = await sync_to_async(CustomerFactory)()
    conversation = await sync_to_async(ConversationFactory)(customer=customer, pending=True)
    await sync_to_async(services.conversation_accept)(conversation_id=conversation.pk, agent=agent)
    customer_ws, _, _ = await _customer_socket(customer_token_make(customer_id=customer.pk))
    agent_ws = await _watching(agent, conversation)
    await agent_ws.send_json_to(
        {"type": "message", "conversation": conversation.pk, "body": "<script>x()</script> hello", "client_id": "a1"}
    )
    event = await _receive_until(customer_ws, lambda e: e["type"] == "conversation.message")
    assert event["message"]["sender"] == "agent"
    assert event["message"]["body"] == "<script>x()</script> hello"
    assert event["message"]["author"] == "Alice"
    await customer_ws.disconnect()
    await agent_ws.disconnect()


async def test_an_agent_who_did_not_accept_cannot_reply_over_the_socket():
    alice = await sync_to_async(UserFactory)(username="alice")
    bob = await sync_to_async(UserFactory)(username="bob")
    conversation = await sync_to_async(ConversationFactory)(pending=True)
    await sync_to_async(services.conversation_accept)(conversation_id=conversation.pk, agent=alice)
    bob_ws = await _watching(bob, conversation)
    await bob_ws.send_json_to({"type": "message", "conversation": conversation.pk, "body": "sneaky"})
    error = await _receive_until(bob_ws, lambda e: e["type"] == "error")
    assert error["code"] == "forbidden"
    assert not await sync_to_async(Message.objects.filter(body="sneaky").exists)()
    await bob_ws.disconnect()


async def test_a_waiting_customer_hears_their_place_move_up():
    agent = await sync_to_async(UserFactory)(username="alice")
    first, second = await sync_to_async(CustomerFactory.create_batch)(2)
    ahead = await sync_to_async(services.customer_request_handoff)(customer=first)
    mine = await sync_to_async(services.customer_request_handoff)(customer=second)
    communicator, _, _ = await _customer_socket(customer_token_make(customer_id=second.pk))
    await sync_to_async(services.conversation_accept)(conversation_id=ahead.pk, agent=agent)
    event = await _receive_until(communicator, lambda e: e["type"] == "conversation.queue")
    assert event == {"type": "conversation.queue", "conversation": mine.pk, "queue_position": 1}
    await communicator.disconnect()


async def test_the_inbox_hears_handed_off_customers_but_not_bot_chats():
    agent = await sync_to_async(UserFactory)(username="alice")
    question = "How do I reset my password?"
    await sync_to_async(entries_upsert)(
        entries=[EntryData("reset-password", "Reset your password", "Use the link.", (question,))]
    )
    inbox, _, _ = await _agent_socket(agent, "/ws/inbox/")
    with_bot = await sync_to_async(ConversationFactory)()
    await sync_to_async(services.message_post_from_customer)(customer=with_bot.customer, body=question)
    assert await sync_to_async(Message.objects.filter(conversation=with_bot, sender="bot").exists)()
    waiting = await sync_to_async(ConversationFactory)(pending=True)
    await sync_to_async(services.message_post_from_customer)(customer=waiting.customer, body="still there?")
    event = _roundtrip(await inbox.receive_json_from(timeout=5))
    assert event["type"] == "conversation.message"
    assert event["message"]["body"] == "still there?"
    assert await inbox.receive_nothing(timeout=0.2)
    await inbox.disconnect()


@pytest.mark.parametrize("kind", ["routing.offer", "sla.breached", "notification.new"])
async def test_the_inbox_forwards_events_of_the_apps_above(kind):
    agent = await sync_to_async(UserFactory)(username="alice")
    communicator, connected, _ = await _agent_socket(agent, "/ws/inbox/")
    assert connected
    await get_channel_layer().group_send(f"agent.{agent.pk}", {"type": kind, "conversation": 7})
    assert _roundtrip(await communicator.receive_json_from(timeout=5)) == {"type": kind, "conversation": 7}
    await communicator.disconnect()


async def test_inbox_frames_go_to_the_handler_an_app_registered(monkeypatch):
    seen = []

    def heartbeat(*, user, content):
        seen.append((user.username, content["tab"]))
        if content["tab"] == "bad":
            raise ValidationError("Bad tab.", code="bad_tab")
        return {"type": "test.pong"}

    monkeypatch.setitem(consumers._inbox_frame_handlers, "test.ping", heartbeat)
    agent = await sync_to_async(UserFactory)(username="alice")
    communicator, connected, _ = await _agent_socket(agent, "/ws/inbox/")
    assert connected
    await communicator.send_json_to({"type": "test.ping", "tab": "a"})
    assert await communicator.receive_json_from(timeout=5) == {"type": "test.pong"}
    await communicator.send_json_to({"type": "test.ping", "tab": "bad"})
    error = await communicator.receive_json_from(timeout=5)
    assert error["type"] == "error" and error["code"] == "bad_tab"
    await communicator.send_json_to({"type": "test.unknown"})
    assert (await communicator.receive_json_from(timeout=5))["code"] == "bad_request"
    assert seen == [("alice", "a"), ("alice", "bad")]
    await communicator.disconnect()


async def test_inbox_connect_and_disconnect_are_announced_for_presence():
    calls = []

    def on_connect(sender, user, channel_name, **kwargs):
        calls.append(("connected", user.username, channel_name))

    def on_disconnect(sender, user, channel_name, **kwargs):
        calls.append(("disconnected", user.username, channel_name))

    signals.inbox_connected.connect(on_connect, weak=False)
    signals.inbox_disconnected.connect(on_disconnect, weak=False)
    try:
        agent = await sync_to_async(UserFactory)(username="alice")
        communicator, connected, _ = await _agent_socket(agent, "/ws/inbox/")
        assert connected
        await communicator.disconnect()
    finally:
        signals.inbox_connected.disconnect(on_connect)
        signals.inbox_disconnected.disconnect(on_disconnect)
    assert [c[:2] for c in calls] == [("connected", "alice"), ("disconnected", "alice")]
    assert calls[0][2] == calls[1][2]


async def test_an_agent_hears_timeline_events_live_and_replays_them_on_sync():
    agent = await sync_to_async(UserFactory)(username="alice")
    conversation = await sync_to_async(ConversationFactory)(pending=True)
    first = await sync_to_async(services.timeline_record)(
        conversation=conversation, kind="routing.offered", text="Offered to Alice", data={"agent": agent.pk}
    )
    communicator = await _watching(agent, conversation)
    await communicator.send_json_to({"type": "sync", "conversation": conversation.pk, "after_seq": 0, "after_event": 0})
    replayed = await _receive_until(communicator, lambda e: e["type"] == "conversation.timeline")
    assert replayed["event"]["id"] == first.pk and replayed["event"]["data"] == {"agent": agent.pk}
    await sync_to_async(services.timeline_record)(conversation=conversation, kind="priority.changed", text="P3 → P1")
    live = await _receive_until(communicator, lambda e: e["type"] == "conversation.timeline")
    assert live["event"]["kind"] == "priority.changed" and live["event"]["text"] == "P3 → P1"
    await communicator.disconnect()


async def test_a_sync_ends_where_its_replay_ended_across_conversations():
    """The cursor (docs/realtime.md): a sync from the middle of an older
    conversation replays its rest and the newer one's, then says where it ended;
    a sync with nothing to replay ends where it started."""
    customer, agent = await sync_to_async(CustomerFactory)(), await sync_to_async(UserFactory)(username="alice")
    old = await sync_to_async(ConversationFactory)(customer=customer, pending=True)
    await sync_to_async(services.conversation_accept)(conversation_id=old.pk, agent=agent)
    for body in ("one", "two", "three"):
        await sync_to_async(services.message_post_from_agent)(conversation_id=old.pk, agent=agent, body=body)
    await sync_to_async(services.conversation_resolve)(conversation_id=old.pk, agent=agent)
    new = await sync_to_async(services.message_post_from_customer)(customer=customer, body="back again")
    communicator, _, _ = await _customer_socket(customer_token_make(customer_id=customer.pk))

    one = await sync_to_async(Message.objects.get)(conversation=old, body="one")
    await communicator.send_json_to({"type": "sync", "conversation": old.pk, "after_seq": one.seq})
    replayed, done = [], None
    while done is None:
        event = _roundtrip(await communicator.receive_json_from(timeout=5))
        if event["type"] == "conversation.message":
            replayed.append((event["message"]["conversation"], event["message"]["body"]))
        elif event["type"] == "sync.done":
            done = event
    assert replayed[:2] == [(old.pk, "two"), (old.pk, "three")]
    assert (new.conversation_id, "back again") in replayed
    last = await sync_to_async(lambda: Message.objects.filter(conversation_id=new.conversation_id).latest("seq").seq)()
    assert (done["conversation"], done["seq"]) == (new.conversation_id, last)

    await communicator.send_json_to({"type": "sync", "conversation": new.conversation_id, "after_seq": last})
    event = await _receive_until(communicator, lambda e: e["type"] == "sync.done")
    assert (event["conversation"], event["seq"]) == (new.conversation_id, last)
    await communicator.disconnect()


async def test_a_binary_frame_gets_an_error_and_the_socket_keeps_working():
    customer = await sync_to_async(CustomerFactory)()
    communicator, connected, _ = await _customer_socket(customer_token_make(customer_id=customer.pk))
    assert connected
    await communicator.send_to(bytes_data=b"\x00\x01binary")
    error = await communicator.receive_json_from(timeout=5)
    assert (error["type"], error["code"]) == ("error", "bad_request")
    await communicator.send_json_to({"type": "message", "body": "still here", "client_id": "c1"})
    ack = await _receive_until(communicator, lambda e: e["type"] == "message.ack")
    assert ack["message"]["body"] == "still here"
    await communicator.disconnect()


async def _session_socket(client, path):
    cookie = f"sessionid={client.cookies['sessionid'].value}".encode()
    communicator = WebsocketCommunicator(
        application, path, headers=[ORIGIN, (b"host", b"localhost"), (b"cookie", cookie)]
    )
    connected, _code = await communicator.connect()
    assert connected
    return communicator


async def test_logging_out_closes_that_sessions_sockets_and_only_those():
    agent = await sync_to_async(UserFactory)(username="alice")
    conversation = await sync_to_async(ConversationFactory)(pending=True)
    here, elsewhere = Client(), Client()
    for client in (here, elsewhere):
        await sync_to_async(client.force_login)(agent)
    inbox = await _session_socket(here, "/ws/inbox/")
    page = await _session_socket(here, "/ws/inbox/")
    await page.send_json_to({"type": "watch", "conversation": conversation.pk})
    await _receive_until(page, lambda e: e["type"] == "watch.ok")
    other_device = await _session_socket(elsewhere, "/ws/inbox/")

    response = await sync_to_async(here.post)(reverse("logout"))
    assert response.status_code == 302
    for communicator in (inbox, page):
        while (output := await communicator.receive_output(timeout=5))["type"] != "websocket.close":
            pass  # what was on its way before
        assert output["code"] == 4403
    # The other device's session is still logged in: its socket hears the next handoff.
    await sync_to_async(services.customer_request_handoff)(customer=await sync_to_async(CustomerFactory)())
    event = await _receive_until(other_device, lambda e: e["type"] == "conversation.changed")
    assert event["event"] == "handed_off"
    await other_device.disconnect()


async def test_the_token_in_the_url_is_not_accepted_any_more():
    customer = await sync_to_async(CustomerFactory)()
    token = customer_token_make(customer_id=customer.pk)
    communicator = WebsocketCommunicator(
        application, f"/ws/chat/?token={token}", headers=[ORIGIN, (b"host", b"localhost")]
    )
    connected, code = await communicator.connect()
    assert not connected and code == 4403


async def test_the_socket_answers_with_the_baton_subprotocol_only():
    customer = await sync_to_async(CustomerFactory)()
    communicator, connected, subprotocol = await _customer_socket(customer_token_make(customer_id=customer.pk))
    # Not the token's: the server's answer would carry it into its response headers.
    assert connected and subprotocol == "baton"
    await communicator.disconnect()


async def test_a_visitors_first_message_makes_their_customer_and_they_hear_the_bots_answer():
    await sync_to_async(entries_upsert)(
        entries=[EntryData(external_id="pw", title="Forgot password", body="Use the reset link on the login page.")]
    )
    token = visitor_token_make()
    communicator, connected, _ = await _customer_socket(token)
    assert connected
    assert await sync_to_async(Customer.objects.count)() == 0  # a socket opened writes nothing
    await communicator.send_json_to({"type": "message", "body": "How do I reset my password?", "client_id": "f1"})
    ack = await _receive_until(communicator, lambda e: e["type"] == "message.ack")
    # The bot's answer may be stored before the socket joined the customer's group:
    # the socket asks the page to catch up, and the catch-up has it.
    await _receive_until(communicator, lambda e: e["type"] == "resync")
    await communicator.send_json_to(
        {"type": "sync", "conversation": ack["message"]["conversation"], "after_seq": ack["message"]["seq"]}
    )
    answer = await _receive_until(
        communicator, lambda e: e["type"] == "conversation.message" and e["message"]["sender"] == "bot"
    )
    assert answer["message"]["seq"] == ack["message"]["seq"] + 1
    assert await sync_to_async(Customer.objects.count)() == 1
    # The same visitor's second socket is the same customer, not a new one.
    second, connected, _ = await _customer_socket(token)
    await second.send_json_to({"type": "message", "body": "thanks", "client_id": "f2"})
    await _receive_until(second, lambda e: e["type"] == "message.ack")
    assert await sync_to_async(Customer.objects.count)() == 1
    await communicator.disconnect()
    await second.disconnect()


async def test_a_refused_first_message_makes_no_customer():
    communicator, connected, _ = await _customer_socket(visitor_token_make())
    assert connected
    await communicator.send_json_to({"type": "message", "body": "   ", "client_id": "e1"})
    error = await _receive_until(communicator, lambda e: e["type"] == "error")
    assert error["code"] == "empty" and error["client_id"] == "e1"
    await communicator.send_json_to({"type": "sync", "conversation": 0, "after_seq": 0})
    done = await _receive_until(communicator, lambda e: e["type"] == "sync.done")
    assert (done["conversation"], done["seq"]) == (0, 0)
    assert not await sync_to_async(Customer.objects.exists)()
    await communicator.disconnect()


async def test_an_erased_customers_token_is_refused():
    customer = await sync_to_async(CustomerFactory)()
    token = customer_token_make(customer_id=customer.pk)
    await sync_to_async(customer.delete)()
    _communicator, connected, code = await _customer_socket(token)
    assert not connected and code == 4403


async def test_an_expired_token_is_refused_on_the_socket(settings):
    settings.BATON_SESSION_DAYS = 30
    customer = await sync_to_async(CustomerFactory)()
    with time_machine.travel("2026-01-01 12:00Z", tick=False) as traveller:
        token = customer_token_make(customer_id=customer.pk)
        traveller.shift(timedelta(days=30, seconds=1))
        _communicator, connected, code = await _customer_socket(token)
    assert not connected and code == 4403


async def test_a_visitor_without_a_customer_learns_nothing_of_anothers_conversation():
    theirs = await sync_to_async(CustomerFactory)()
    secret = await sync_to_async(services.message_post_from_customer)(customer=theirs, body="my card number is 1234")
    communicator, connected, _ = await _customer_socket(visitor_token_make())
    assert connected
    await communicator.send_json_to({"type": "sync", "conversation": secret.conversation_id, "after_seq": 0})
    assert await communicator.receive_json_from(timeout=5) == {"type": "sync.done", "conversation": 0, "seq": 0}
    await communicator.disconnect()


async def test_the_watched_conversations_events_reach_the_page_once():
    """They come through the conversation's group and the inbox group both."""
    agent = await sync_to_async(UserFactory)(username="alice")
    customer = await sync_to_async(CustomerFactory)()
    conversation = await sync_to_async(services.customer_request_handoff)(customer=customer)
    page = await _watching(agent, conversation)
    for body in ("first", "second"):
        await sync_to_async(services.message_post_from_customer)(customer=customer, body=body)
    await sync_to_async(services.conversation_accept)(conversation_id=conversation.pk, agent=agent)
    heard = []
    while not heard or heard[-1] != ("changed", "assigned"):
        event = _roundtrip(await page.receive_json_from(timeout=5))
        if event["type"] == "conversation.message":
            heard.append(("message", event["message"]["body"]))
        elif event["type"] == "conversation.changed":
            heard.append(("changed", event["conversation"]["status"]))
    assert heard == [
        ("message", "first"),
        ("message", "second"),
        ("message", "Alice joined the conversation."),
        ("changed", "assigned"),
    ]
    await page.disconnect()


async def test_watching_another_conversation_stops_hearing_the_first():
    agent = await sync_to_async(UserFactory)(username="alice")
    first, second = await sync_to_async(ConversationFactory.create_batch)(2, pending=True)
    for conversation in (first, second):
        await sync_to_async(services.conversation_accept)(conversation_id=conversation.pk, agent=agent)
    page = await _watching(agent, first)
    await page.send_json_to({"type": "watch", "conversation": second.pk})
    await _receive_until(page, lambda e: e["type"] == "watch.ok")
    await sync_to_async(services.message_post_from_agent)(conversation_id=first.pk, agent=agent, body="not here")
    await sync_to_async(services.message_post_from_agent)(conversation_id=second.pk, agent=agent, body="here")
    bodies = []
    while "here" not in bodies:
        event = _roundtrip(await page.receive_json_from(timeout=5))
        if event["type"] == "conversation.message":
            bodies.append(event["message"]["body"])
    assert bodies == ["here"]
    # Replies still go to any conversation the agent holds; syncing needs watching it.
    await page.send_json_to({"type": "sync", "conversation": first.pk, "after_seq": 0})
    error = await _receive_until(page, lambda e: e["type"] == "error")
    assert error["code"] == "not_watching"
    await page.disconnect()


async def test_typing_shows_both_ways_and_is_never_stored():
    agent = await sync_to_async(UserFactory)(username="alice", first_name="Alice")
    customer = await sync_to_async(CustomerFactory)()
    conversation = await sync_to_async(services.customer_request_handoff)(customer=customer)
    await sync_to_async(services.conversation_accept)(conversation_id=conversation.pk, agent=agent)
    stored = await sync_to_async(Message.objects.count)()
    page = await _watching(agent, conversation)
    widget, _, _ = await _customer_socket(customer_token_make(customer_id=customer.pk))

    await widget.send_json_to({"type": "typing"})
    event = await _receive_until(page, lambda e: e["type"] == "conversation.typing")
    assert event == {"type": "conversation.typing", "conversation": conversation.pk, "sender": "customer"}
    await page.send_json_to({"type": "typing", "conversation": conversation.pk})
    event = await _receive_until(widget, lambda e: e["type"] == "conversation.typing")
    assert event == {
        "type": "conversation.typing",
        "conversation": conversation.pk,
        "sender": "agent",
        "author": "Alice",
    }
    assert await sync_to_async(Message.objects.count)() == stored
    await page.disconnect()
    await widget.disconnect()


async def test_only_the_assigned_agent_types_and_the_bots_chats_tell_no_agent():
    alice = await sync_to_async(UserFactory)(username="alice")
    bob = await sync_to_async(UserFactory)(username="bob")
    bots = await sync_to_async(ConversationFactory)()  # the bot answers it
    conversation = await sync_to_async(ConversationFactory)(pending=True)
    await sync_to_async(services.conversation_accept)(conversation_id=conversation.pk, agent=alice)
    bob_page = await _watching(bob, conversation)
    await bob_page.send_json_to({"type": "typing", "conversation": conversation.pk})
    error = await _receive_until(bob_page, lambda e: e["type"] == "error")
    assert (error["code"], error["frame"]) == ("forbidden", "typing")

    page = await _watching(alice, bots)
    widget, _, _ = await _customer_socket(customer_token_make(customer_id=bots.customer_id))
    await widget.send_json_to({"type": "typing"})
    await widget.send_json_to({"type": "sync", "conversation": bots.pk, "after_seq": 0})
    await _receive_until(widget, lambda e: e["type"] == "sync.done")  # frames are served in order: typing was
    await sync_to_async(services.timeline_record)(conversation=bots, kind="test.marker", text="after the typing")
    event = await _receive_until(page, lambda e: e["type"] in ("conversation.typing", "conversation.timeline"))
    assert (event["type"], event["event"]["text"]) == ("conversation.timeline", "after the typing")
    for communicator in (bob_page, page, widget):
        await communicator.disconnect()


async def test_a_page_showing_a_conversation_still_hears_the_lists_messages_and_the_shown_ones_once():
    """The list pane beside the thread shows what every handed-off customer last said."""
    agent = await sync_to_async(UserFactory)(username="alice")
    shown, other = await sync_to_async(CustomerFactory.create_batch)(2)
    for customer in (shown, other):
        await sync_to_async(services.customer_request_handoff)(customer=customer)
    conversation = await sync_to_async(Conversation.objects.get)(customer=shown)
    page = await _watching(agent, conversation)

    async def bodies_until(marker):
        heard = []
        while marker not in heard:
            event = _roundtrip(await page.receive_json_from(timeout=5))
            if event["type"] == "conversation.message":
                heard.append(event["message"]["body"])
        return heard

    await sync_to_async(services.message_post_from_customer)(customer=other, body="elsewhere")
    await sync_to_async(services.message_post_from_customer)(customer=shown, body="here")
    await sync_to_async(services.message_post_from_customer)(customer=other, body="marker")
    assert await bodies_until("marker") == ["elsewhere", "here", "marker"]
    await page.send_json_to({"type": "unwatch"})
    await _receive_until(page, lambda e: e["type"] == "unwatch.ok")
    await sync_to_async(services.message_post_from_customer)(customer=shown, body="listed only")
    await sync_to_async(services.message_post_from_customer)(customer=other, body="in the list")
    assert await bodies_until("in the list") == ["listed only", "in the list"]
    await page.disconnect()


def _link_viewer(attachment: dict) -> str:
    return files.link_viewer(attachment_id=attachment["id"], token=parse_qs(urlsplit(attachment["url"]).query)["t"][0])


async def test_a_file_reaches_each_side_live_and_on_sync_with_a_link_of_its_own(media):
    customer, agent = await sync_to_async(CustomerFactory)(), await sync_to_async(UserFactory)(username="alice")
    conversation = await sync_to_async(ConversationFactory)(customer=customer, pending=True)
    await sync_to_async(services.conversation_accept)(conversation_id=conversation.pk, agent=agent)
    chat, _, _ = await _customer_socket(customer_token_make(customer_id=customer.pk))
    page = await _watching(agent, conversation)

    await sync_to_async(services.message_post_file_from_customer)(
        customer=customer, upload=upload("shot.png", image_bytes()), caption="look"
    )
    heard_by_customer = await _receive_until(chat, lambda e: e["type"] == "conversation.message")
    heard_by_agent = await _receive_until(page, lambda e: e["type"] == "conversation.message")
    assert _link_viewer(heard_by_customer["message"]["attachment"]) == files.customer_viewer(customer.pk)
    assert _link_viewer(heard_by_agent["message"]["attachment"]) == files.AGENTS

    await chat.send_json_to({"type": "sync", "conversation": conversation.pk, "after_seq": 0})
    replayed = await _receive_until(
        chat, lambda e: e["type"] == "conversation.message" and "attachment" in e["message"]
    )
    assert _link_viewer(replayed["message"]["attachment"]) == files.customer_viewer(customer.pk)
    await page.send_json_to({"type": "sync", "conversation": conversation.pk, "after_seq": 0})
    replayed = await _receive_until(
        page, lambda e: e["type"] == "conversation.message" and "attachment" in e["message"]
    )
    assert _link_viewer(replayed["message"]["attachment"]) == files.AGENTS
    await chat.disconnect()
    await page.disconnect()
