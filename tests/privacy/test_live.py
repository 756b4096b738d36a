"""An erased customer's open widget: its socket closes, and the next page starts afresh."""

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.db import transaction
from django.test import Client

from conversations.identity import customer_token_make
from conversations.models import Customer
from helpdesk.asgi import application
from privacy import services
from tests.factories import ConversationFactory, CustomerFactory

pytestmark = pytest.mark.django_db(transaction=True)


def _erase(customer):
    with transaction.atomic():
        services.customer_erase(customer=customer)


async def test_the_erased_customers_socket_closes():
    customer = await sync_to_async(CustomerFactory)(name="Zelda Quux")
    await sync_to_async(ConversationFactory)(customer=customer)
    token = customer_token_make(customer_id=customer.pk)
    # The widget's cookie (the page's own way in: no token in the URL).
    cookie = f"{settings.BATON_CUSTOMER_COOKIE}={token}".encode()
    communicator = WebsocketCommunicator(
        application,
        "/ws/chat/",
        headers=[(b"origin", b"http://localhost"), (b"host", b"localhost"), (b"cookie", cookie)],
    )
    connected, _ = await communicator.connect()
    assert connected
    await sync_to_async(_erase)(customer)
    closed = await communicator.receive_output(timeout=5)
    assert closed == {"type": "websocket.close", "code": 4403}


def test_the_erased_customers_next_page_is_a_new_customer():
    customer = CustomerFactory(name="Zelda Quux")
    ConversationFactory(customer=customer)
    client = Client()
    client.cookies[settings.BATON_CUSTOMER_COOKIE] = customer_token_make(customer_id=customer.pk)
    _erase(customer)
    assert client.get("/chat/").status_code == 200
    fresh = Customer.objects.exclude(conversations__isnull=False).get()
    assert fresh.pk != customer.pk
