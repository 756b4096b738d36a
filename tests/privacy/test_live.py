"""An erased customer's open widget: its socket closes, and the next page starts afresh."""

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.db import transaction
from django.test import Client

from conversations.identity import customer_token_make, token_subprotocol
from conversations.models import Customer
from helpdesk.asgi import application
from privacy import services
from tests.factories import ConversationFactory, CustomerFactory
from tests.sessions import session_open

pytestmark = pytest.mark.django_db(transaction=True)


def _erase(customer):
    with transaction.atomic():
        services.customer_erase(customer=customer)


async def test_the_erased_customers_socket_closes():
    customer = await sync_to_async(CustomerFactory)(name="Zelda Quux")
    await sync_to_async(ConversationFactory)(customer=customer)
    token = customer_token_make(customer_id=customer.pk)
    communicator = WebsocketCommunicator(
        application,
        "/ws/chat/",
        headers=[(b"origin", b"http://localhost"), (b"host", b"localhost")],
        subprotocols=["baton", token_subprotocol(token)],
    )
    connected, _ = await communicator.connect()
    assert connected
    await sync_to_async(_erase)(customer)
    closed = await communicator.receive_output(timeout=5)
    assert closed == {"type": "websocket.close", "code": 4403}


def test_the_erased_customers_next_page_is_a_new_customer():
    customer = CustomerFactory(name="Zelda Quux")
    ConversationFactory(customer=customer)
    token = customer_token_make(customer_id=customer.pk)
    _erase(customer)
    # The session opens afresh, with nothing of the erased customer's.
    data = session_open(token=token).json()
    assert data["history"] == [] and data["customer"] is None
    assert _send_first(data["token"]).status_code == 201
    fresh = Customer.objects.get(visitor_key__gt="")
    assert fresh.pk != customer.pk and fresh.name == ""


def _send_first(token):
    return Client().post(
        "/chat/send/", data={"body": "hello again"}, content_type="application/json", headers={"X-Baton-Token": token}
    )
