"""Presence and offer frames over the agents' inbox socket."""

import pytest
from asgiref.sync import sync_to_async
from django.utils import timezone

from routing.models import AgentProfile, Offer
from tests.conversations.test_consumers import _agent_socket, _receive_until, _roundtrip
from tests.factories import ConversationFactory, UserFactory
from tests.routing.conftest import make_online

pytestmark = pytest.mark.django_db(transaction=True)


async def test_presence_set_frame_changes_presence_and_the_inbox_hears_it():
    alice = await sync_to_async(UserFactory)(username="alice", first_name="Alice")
    inbox, connected, _ = await _agent_socket(alice, "/ws/inbox/")
    assert connected
    await inbox.send_json_to({"type": "presence.set", "status": "online"})
    event = _roundtrip(await _receive_until(inbox, lambda e: e["type"] == "routing.agent"))
    assert event["agent"] == {
        "id": alice.pk,
        "name": "Alice",
        "presence": "online",
        "capacity": 5,
        "active": 0,
        "offered": 0,
    }
    profile = await sync_to_async(AgentProfile.objects.get)(user=alice)
    assert profile.presence == "online" and profile.presence_manual is True
    await inbox.disconnect()


@pytest.mark.parametrize("status", ["sleeping", 3, None])
async def test_a_bad_presence_frame_gets_an_error_and_changes_nothing(status):
    alice = await sync_to_async(UserFactory)(username="alice")
    inbox, _, _ = await _agent_socket(alice, "/ws/inbox/")
    await inbox.send_json_to({"type": "presence.set", "status": status})
    error = await _receive_until(inbox, lambda e: e["type"] == "error")
    assert error["code"] == "invalid"
    assert not await sync_to_async(AgentProfile.objects.filter(user=alice, presence="online").exists)()
    await inbox.disconnect()


async def test_connecting_and_heartbeats_keep_the_agent_alive():
    alice = await sync_to_async(UserFactory)(username="alice")
    inbox, _, _ = await _agent_socket(alice, "/ws/inbox/")
    first = await sync_to_async(AgentProfile.objects.get)(user=alice)
    assert first.last_heartbeat_at is not None
    assert first.presence == "offline"  # presence is the agent's choice, not the socket's
    await inbox.send_json_to({"type": "presence.heartbeat"})
    await inbox.send_json_to({"type": "presence.set", "status": "away"})  # frames are handled in order
    await _receive_until(inbox, lambda e: e["type"] == "routing.agent")
    later = await sync_to_async(AgentProfile.objects.get)(user=alice)
    assert later.last_heartbeat_at >= first.last_heartbeat_at
    await inbox.disconnect()


async def test_an_offer_reaches_the_agent_and_a_decline_frame_passes_it_on():
    alice = await sync_to_async(UserFactory)(username="alice")
    bob = await sync_to_async(UserFactory)(username="bob")
    await sync_to_async(make_online)(alice)
    inbox, _, _ = await _agent_socket(alice, "/ws/inbox/")
    conversation = await sync_to_async(ConversationFactory)(pending=True)
    from routing import services

    await sync_to_async(services.route)()
    offer_event = _roundtrip(await _receive_until(inbox, lambda e: e["type"] == "routing.offer"))
    assert offer_event["offer"]["conversation"] == conversation.pk
    await sync_to_async(make_online)(bob)
    await inbox.send_json_to({"type": "routing.decline", "offer": offer_event["offer"]["id"]})
    closed = await _receive_until(inbox, lambda e: e["type"] == "routing.offer_closed")
    assert closed["offer"]["state"] == "declined"
    assert await sync_to_async(Offer.objects.filter(agent=bob, state="open").count)() == 1
    await inbox.send_json_to({"type": "routing.decline", "offer": "x"})
    assert (await _receive_until(inbox, lambda e: e["type"] == "error"))["code"] == "invalid"
    await inbox.disconnect()


async def test_a_transfer_reaches_the_receiving_agents_inbox_socket():
    alice = await sync_to_async(UserFactory)(username="alice", first_name="Alice")
    bob = await sync_to_async(UserFactory)(username="bob", first_name="Bob")
    for user in (alice, bob):
        await sync_to_async(make_online)(user)
    conversation = await sync_to_async(ConversationFactory)(pending=True)
    from routing import services

    await sync_to_async(services.conversation_take)(conversation_id=conversation.pk, agent=alice)
    inbox, connected, _ = await _agent_socket(bob, "/ws/inbox/")
    assert connected
    await sync_to_async(services.conversation_transfer)(
        conversation_id=conversation.pk, by=alice, to_agent=bob, note="VIP", now=timezone.now()
    )
    event = await _receive_until(inbox, lambda e: e["type"] == "routing.transferred")
    assert event["transfer"]["conversation"] == conversation.pk
    assert (event["transfer"]["by"], event["transfer"]["note"]) == ("Alice", "VIP")
    await inbox.disconnect()
