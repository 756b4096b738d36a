"""Internal notes over the agents' socket (``InboxConsumer.on_note`` and its sync),
through the full ASGI stack: acknowledged to the writer, live to every agent
watching, replayed on sync, refused with a reason, and never on a customer's socket."""

import pytest
from asgiref.sync import sync_to_async

from conversations import services
from conversations.identity import customer_token_make
from conversations.models import Conversation, Note
from sla.models import Notification
from tests.conversations.test_consumers import _agent_socket, _customer_socket, _receive_until, _roundtrip, _watching
from tests.factories import ConversationFactory, UserFactory

pytestmark = pytest.mark.django_db(transaction=True)


async def _people():
    alice = await sync_to_async(UserFactory)(username="alice", first_name="Alice")
    bob = await sync_to_async(UserFactory)(username="bob", first_name="Bob")
    conversation = await sync_to_async(ConversationFactory)(pending=True)
    return alice, bob, conversation


async def test_a_note_is_acknowledged_shown_live_to_watchers_and_rings_the_mentioned_agents_bell():
    alice, bob, conversation = await _people()
    writer = await _watching(alice, conversation)
    watcher = await _watching(bob, conversation)
    await writer.send_json_to(
        {"type": "note", "conversation": conversation.pk, "body": "@bob refund? <i>x</i>", "client_id": "note-1"}
    )
    ack = await _receive_until(writer, lambda e: e["type"] == "note.ack")
    note = await sync_to_async(Note.objects.get)()
    assert (ack["client_id"], ack["id"], ack["note"]["body"]) == ("note-1", note.pk, "@bob refund? <i>x</i>")
    assert ack["note"]["mentions"] == [{"id": bob.pk, "username": "bob", "name": "Bob"}]

    live = await _receive_until(watcher, lambda e: e["type"] == "conversation.note")
    assert live["note"] == ack["note"]
    bell = await _receive_until(watcher, lambda e: e["type"] == "notification.new")
    assert bell["unread"] == 1 and bell["notifications"][0]["kind"] == "mention"
    # Nothing changed hands: the conversation still waits for an agent.
    conversation = await sync_to_async(Conversation.objects.get)(pk=conversation.pk)
    assert conversation.status == Conversation.Status.PENDING_HANDOFF and conversation.last_seq == 0
    await writer.disconnect()
    await watcher.disconnect()


async def test_a_note_sent_again_after_a_lost_ack_is_stored_once():
    alice, _bob, conversation = await _people()
    socket = await _watching(alice, conversation)
    frame = {"type": "note", "conversation": conversation.pk, "body": "@bob once", "client_id": "again-1"}
    await socket.send_json_to(frame)
    first = await _receive_until(socket, lambda e: e["type"] == "note.ack")
    await socket.send_json_to(frame)
    second = await _receive_until(socket, lambda e: e["type"] == "note.ack")
    assert first["id"] == second["id"]
    assert await sync_to_async(Note.objects.count)() == 1
    assert await sync_to_async(Notification.objects.count)() == 1
    await socket.disconnect()


async def test_a_sync_replays_the_notes_written_while_the_socket_was_down():
    alice, bob, conversation = await _people()
    note = await sync_to_async(services.note_add)(conversation_id=conversation.pk, author=alice, body="while away")
    socket = await _watching(bob, conversation)
    await socket.send_json_to({"type": "sync", "conversation": conversation.pk, "after_seq": 0, "after_event": 0})
    frames = []
    while not frames or frames[-1]["type"] != "sync.done":
        frames.append(_roundtrip(await socket.receive_json_from(timeout=5)))
    notes = [f["note"] for f in frames if f["type"] == "conversation.note"]
    assert [(n["id"], n["body"], n["author"]) for n in notes] == [(note.pk, "while away", "Alice")]
    await socket.disconnect()


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        ({"body": ""}, "empty"),
        ({"body": "   "}, "empty"),
        ({"body": ["not", "text"]}, "empty"),
        ({"body": "x" * 4001}, "too_long"),
        ({"body": "hi", "conversation": 987654}, "not_found"),
        ({"body": "hi", "conversation": "1"}, "not_found"),
        ({"body": "hi", "client_id": "no spaces allowed"}, "bad_request"),
    ],
)
async def test_a_note_frame_that_cannot_be_stored_gets_an_error_and_stores_nothing(frame, code):
    alice, _bob, conversation = await _people()
    socket = await _watching(alice, conversation)
    await socket.send_json_to({"type": "note", "conversation": conversation.pk, "client_id": "c-1", **frame})
    error = await _receive_until(socket, lambda e: e["type"] == "error")
    assert (error["code"], error["frame"]) == (code, "note")
    assert error["client_id"] == frame.get("client_id", "c-1")
    assert not await sync_to_async(Note.objects.exists)()
    await socket.disconnect()


async def test_a_customer_socket_can_neither_write_nor_hear_notes():
    alice, _bob, conversation = await _people()
    customer_socket, connected, _ = await _customer_socket(customer_token_make(customer_id=conversation.customer_id))
    assert connected
    await customer_socket.send_json_to({"type": "note", "conversation": conversation.pk, "body": "forged"})
    refused = await _receive_until(customer_socket, lambda e: e["type"] == "error")
    assert refused["code"] == "bad_request"
    assert not await sync_to_async(Note.objects.exists)()

    await sync_to_async(services.note_add)(conversation_id=conversation.pk, author=alice, body="internal only")
    await sync_to_async(services.message_post_from_customer)(customer=conversation.customer, body="after the note")
    # The customer's next event is their own message: the note, written before it, never came.
    event = await _receive_until(customer_socket, lambda e: e["type"].startswith("conversation."))
    assert event["type"] == "conversation.message" and event["message"]["body"] == "after the note"
    # Nor does their catch-up carry it.
    await customer_socket.send_json_to({"type": "sync", "conversation": conversation.pk, "after_seq": 0})
    replay = []
    while not replay or replay[-1]["type"] != "conversation.changed":
        replay.append(_roundtrip(await customer_socket.receive_json_from(timeout=5)))
    assert "internal only" not in repr(replay) and "after the note" in repr(replay)
    await customer_socket.disconnect()


async def test_an_inbox_list_socket_does_not_hear_notes_of_conversations_it_does_not_show():
    alice, bob, conversation = await _people()
    listing, connected, _ = await _agent_socket(bob, "/ws/inbox/")
    assert connected
    await sync_to_async(services.note_add)(conversation_id=conversation.pk, author=alice, body="not for the list")
    # A later change that the list does hear comes first.
    await sync_to_async(services.message_post_from_customer)(customer=conversation.customer, body="still there?")
    event = await _receive_until(listing, lambda e: e["type"].startswith("conversation."))
    assert event["type"] == "conversation.message" and event["message"]["body"] == "still there?"
    await listing.disconnect()
