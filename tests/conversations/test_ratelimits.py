"""The chat's rate limits as a customer meets them: over HTTP a 429 that says how
long to wait, over the socket a rate_limited error frame; what was accepted stays
accepted, and what was refused and sent again later is stored exactly once."""

import json
import time

import pytest
import time_machine
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.test import Client
from django.urls import reverse

from conversations.identity import customer_token_make, token_subprotocol
from conversations.models import Message
from helpdesk.asgi import application
from tests.factories import CustomerFactory
from tests.sessions import session_open

ORIGIN = (b"origin", b"http://localhost")


@pytest.fixture
def tight_limits(rate_limits):
    """3 messages at once per visitor, then 1 a second (a window of 3 s)."""
    rate_limits.BATON_RATELIMIT_MESSAGES_PER_S = 1
    rate_limits.BATON_RATELIMIT_MESSAGES_BURST = 3
    return rate_limits


def _send(token, payload, *, ip="10.0.0.1"):
    return Client(REMOTE_ADDR=ip).post(
        reverse("chat-send"),
        data=json.dumps(payload),
        content_type="application/json",
        headers={"X-Baton-Token": token},
    )


def _stored(customer) -> list[str]:
    return list(
        Message.objects.filter(conversation__customer=customer, sender=Message.Sender.CUSTOMER)
        .order_by("seq")
        .values_list("client_id", flat=True)
    )


@pytest.mark.django_db
def test_over_http_the_message_past_the_limit_gets_429_and_the_accepted_stay(tight_limits, customer, customer_token):
    with time_machine.travel(time.time(), tick=False) as clock:
        accepted = [_send(customer_token, {"body": f"m{i}", "client_id": f"c{i}"}) for i in range(3)]
        refused = _send(customer_token, {"body": "m3", "client_id": "c3"})
        assert [r.status_code for r in accepted] == [201, 201, 201]
        assert refused.status_code == 429
        error = refused.json()["error"]
        assert error["code"] == "rate_limited" and "slow down" in error["message"]
        assert int(refused["Retry-After"]) == error["retry_after"] >= 1
        assert _stored(customer) == ["c0", "c1", "c2"]
        clock.shift(error["retry_after"] + 0.1)
        again = _send(customer_token, {"body": "m3", "client_id": "c3"})
        assert again.status_code == 201
        assert _stored(customer) == ["c0", "c1", "c2", "c3"]


@pytest.mark.django_db
def test_over_http_visitors_behind_one_address_share_its_limit(rate_limits, customer_token, other_customer):
    rate_limits.BATON_RATELIMIT_MESSAGES_PER_IP_S = 1
    rate_limits.BATON_RATELIMIT_MESSAGES_PER_IP_BURST = 2
    other_token = customer_token_make(customer_id=other_customer.pk)
    with time_machine.travel(time.time(), tick=False):
        assert _send(customer_token, {"body": "a", "client_id": "a1"}).status_code == 201
        assert _send(customer_token, {"body": "a", "client_id": "a2"}).status_code == 201
        assert _send(other_token, {"body": "b", "client_id": "b1"}).status_code == 429
        assert _send(other_token, {"body": "b", "client_id": "b1"}, ip="10.0.0.2").status_code == 201


@pytest.mark.django_db
def test_a_request_for_a_person_counts_as_a_message(tight_limits, customer, customer_token):
    with time_machine.travel(time.time(), tick=False):
        for i in range(3):
            assert _send(customer_token, {"body": f"m{i}", "client_id": f"c{i}"}).status_code == 201
        assert _send(customer_token, {"handoff": True}).status_code == 429


@pytest.mark.django_db
def test_the_chat_page_past_its_limit_gets_429(rate_limits, client):
    rate_limits.BATON_RATELIMIT_PAGES_PER_MIN = 3
    with time_machine.travel(time.time(), tick=False):
        assert [client.get(reverse("chat")).status_code for _ in range(4)] == [200, 200, 200, 429]


@pytest.mark.django_db
def test_new_visitors_past_the_start_limit_get_429_and_no_customer(rate_limits):
    """A new visitor's first message makes a customer and a conversation: those count per address."""
    from conversations.models import Customer

    rate_limits.BATON_RATELIMIT_STARTS_PER_MIN = 2
    with time_machine.travel(time.time(), tick=False):
        tokens = [session_open().json()["token"] for _ in range(3)]  # opening a session writes nothing
        statuses = [_send(token, {"body": "hello", "client_id": "first"}).status_code for token in tokens]
        assert statuses == [201, 201, 429]
        assert Customer.objects.count() == 2
        # A visitor who has their row already is not a start.
        assert _send(tokens[0], {"body": "again", "client_id": "second"}).status_code == 201


async def _customer_socket(customer):
    """One place that opens a customer's socket (the token's way in may change)."""
    token = customer_token_make(customer_id=customer.pk)
    communicator = WebsocketCommunicator(
        application,
        "/ws/chat/",
        headers=[ORIGIN, (b"host", b"localhost")],
        subprotocols=["baton", token_subprotocol(token)],
    )
    connected, _ = await communicator.connect()
    assert connected
    return communicator


async def _answers(communicator, n: int) -> list[dict]:
    """The next ``n`` answers to frames this socket sent (acks and errors), past
    the live events (the bot's answers)."""
    answers = []
    while len(answers) < n:
        frame = await communicator.receive_json_from(timeout=10)
        if frame["type"] in ("message.ack", "error", "handoff.ack", "sync.done"):
            answers.append(frame)
    return answers


@pytest.mark.django_db(transaction=True)
async def test_over_the_socket_a_message_past_the_limit_is_refused_then_stored_once_when_sent_again(tight_limits):
    customer = await sync_to_async(CustomerFactory)()
    communicator = await _customer_socket(customer)
    with time_machine.travel(time.time(), tick=False) as clock:
        for i in range(4):
            await communicator.send_json_to({"type": "message", "body": f"m{i}", "client_id": f"c{i}"})
        answers = await _answers(communicator, 4)
        assert [a["type"] for a in answers] == ["message.ack"] * 3 + ["error"]
        refused = answers[3]
        assert refused["code"] == "rate_limited" and refused["client_id"] == "c3" and refused["frame"] == "message"
        assert refused["retry_after"] >= 1 and "slow down" in refused["message"]
        assert json.loads(json.dumps(refused)) == refused
        clock.shift(refused["retry_after"] + 0.1)
        await communicator.send_json_to({"type": "message", "body": "m3", "client_id": "c3"})
        [ack] = await _answers(communicator, 1)
        assert (ack["type"], ack["client_id"]) == ("message.ack", "c3")
        # Sent once more (its ack lost, say): the same message, not a second one.
        await communicator.send_json_to({"type": "message", "body": "m3", "client_id": "c3"})
        [ack_again] = await _answers(communicator, 1)
        assert ack_again["id"] == ack["id"]
    assert await sync_to_async(_stored)(customer) == ["c0", "c1", "c2", "c3"]
    await communicator.disconnect()


@pytest.mark.django_db(transaction=True)
async def test_a_flooding_socket_gets_an_answer_for_every_frame_then_is_closed_with_1008(rate_limits):
    rate_limits.BATON_RATELIMIT_WS_FRAMES_PER_S = 5
    rate_limits.BATON_RATELIMIT_WS_FRAMES_BURST = 10
    rate_limits.BATON_RATELIMIT_WS_FLOOD_CLOSE = 20
    customer = await sync_to_async(CustomerFactory)()
    communicator = await _customer_socket(customer)
    codes = []
    with time_machine.travel(time.time(), tick=False):  # all 200 within the window, however slow the machine
        for i in range(200):
            await communicator.send_json_to({"type": "nope", "client_id": f"f{i}"})
        while (output := await communicator.receive_output(timeout=10))["type"] == "websocket.send":
            codes.append(json.loads(output["text"])["code"])
    assert (output["type"], output["code"]) == ("websocket.close", 1008)
    # The budget's frames answered as ever, the next 20 refused with rate_limited, then the close.
    assert codes == ["bad_request"] * 10 + ["rate_limited"] * 20


@pytest.mark.django_db(transaction=True)
async def test_an_oversized_frame_is_refused_unparsed_and_the_socket_keeps_working(rate_limits):
    customer = await sync_to_async(CustomerFactory)()
    communicator = await _customer_socket(customer)
    await communicator.send_to(text_data=json.dumps({"type": "message", "body": "x" * 1_000_000, "client_id": "big"}))
    [error] = await _answers(communicator, 1)
    assert (error["code"], error["client_id"]) == ("too_large", None)
    await communicator.send_json_to({"type": "message", "body": "still here", "client_id": "c1"})
    [ack] = await _answers(communicator, 1)
    assert ack["type"] == "message.ack"
    assert await sync_to_async(_stored)(customer) == ["c1"]
    await communicator.disconnect()


@pytest.mark.django_db(transaction=True)
async def test_an_agents_socket_has_the_same_frame_budget(rate_limits, agent):
    rate_limits.BATON_RATELIMIT_WS_FRAMES_PER_S = 5
    rate_limits.BATON_RATELIMIT_WS_FRAMES_BURST = 10
    rate_limits.BATON_RATELIMIT_WS_FLOOD_CLOSE = 5
    client = Client()
    await sync_to_async(client.force_login)(agent)
    cookie = f"sessionid={client.cookies['sessionid'].value}".encode()
    communicator = WebsocketCommunicator(
        application, "/ws/inbox/", headers=[ORIGIN, (b"host", b"localhost"), (b"cookie", cookie)]
    )
    connected, _ = await communicator.connect()
    assert connected
    codes = []
    with time_machine.travel(time.time(), tick=False):
        for _ in range(50):
            await communicator.send_json_to({"type": "nope"})
        while (output := await communicator.receive_output(timeout=10))["type"] == "websocket.send":
            frame = json.loads(output["text"])
            if frame["type"] == "error":
                codes.append(frame["code"])
    assert (output["type"], output["code"]) == ("websocket.close", 1008)
    assert codes == ["bad_request"] * 10 + ["rate_limited"] * 5


@pytest.mark.django_db
def test_with_the_limiter_down_sends_are_stored_not_refused(tight_limits, customer, customer_token, monkeypatch):
    from core import ratelimit

    def down(*args, **kwargs):
        raise ConnectionError("Redis is down")

    monkeypatch.setattr(ratelimit._limiter().strategy, "test", down)
    statuses = [_send(customer_token, {"body": f"m{i}", "client_id": f"c{i}"}).status_code for i in range(5)]
    assert statuses == [201] * 5  # past the burst of 3: the limiter fails open
    assert _stored(customer) == [f"c{i}" for i in range(5)]


@pytest.mark.django_db
def test_sessions_opened_past_their_limit_get_429(rate_limits):
    rate_limits.BATON_RATELIMIT_PAGES_PER_MIN = 3
    with time_machine.travel(time.time(), tick=False):
        assert [session_open().status_code for _ in range(4)] == [200, 200, 200, 429]
