"""Personas shared by every test: a customer, two agents, an admin and an outsider."""

import pytest
import redis
from django.test import Client, override_settings

from conversations.identity import customer_token_make
from conversations.management.commands.demo_data import DEMO_KB
from helpdesk import config, outbox
from knowledge.services import kb_import_jsonl
from tests.factories import CustomerFactory, UserFactory


@pytest.fixture(autouse=True, scope="session")
def _fast_password_hashing():
    """Test users' passwords are hashed with MD5, not PBKDF2's million rounds (half
    a second a user on a CI machine): the tests check who may do what, not how
    strongly passwords are stored."""
    with override_settings(PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"]):
        yield


@pytest.fixture(autouse=True)
def _fresh_configuration():
    """Each test reads the configuration its own database holds: a test's rollback
    (or a transactional test's flush) changes it without telling the cache."""
    config.clear()
    yield
    config.clear()


@pytest.fixture(autouse=True)
def _channel_layer_reset():
    """Each test starts with an empty channel layer, as it starts with an empty
    database. With Redis: events still on their way are sent, then every key of
    this run's prefix goes (group members a test left, events nobody received:
    channels of one process share one Redis key, which holds at most ``capacity``
    events, so leftovers would crowd out a later test's). And channels-redis keeps
    one receive lock per layer, while each test runs its consumers on an event
    loop of its own: a receive cancelled as a test's loop closes (or its cleanup
    task, left pending) can leave a lock held by the dead loop, so each test's
    receivers start afresh."""
    yield
    from channels.layers import channel_layers
    from django.conf import settings

    if not settings.REDIS_URL:
        return
    outbox.flush()
    prefix = settings.CHANNEL_LAYERS["default"]["CONFIG"]["prefix"]
    client = redis.Redis.from_url(settings.REDIS_URL)
    try:
        # Groups are "<prefix>:group:<name>", channels "<prefix>specific.<...>" (channels-redis).
        keys = [key for match in (f"{prefix}:*", f"{prefix}specific.*") for key in client.scan_iter(match=match)]
        if keys:
            client.delete(*keys)
    finally:
        client.close()
    for layer in channel_layers.backends.values():
        layer.receive_count = 0
        layer.receive_lock = layer.receive_event_loop = None
        layer.receive_buffer.clear()
        layer.receive_cleaners.clear()
        # The per-channel locks too: one whose cleanup task died with its loop stays held.
        layer.receive_clean_locks.locks.clear()
        layer.receive_clean_locks.wait_counts.clear()


@pytest.fixture
def customer(db):
    return CustomerFactory(name="Casey Customer")


@pytest.fixture
def other_customer(db):
    return CustomerFactory(name="Olive Other")


@pytest.fixture
def agent(db):
    return UserFactory(username="alice", first_name="Alice")


@pytest.fixture
def other_agent(db):
    return UserFactory(username="bob", first_name="Bob")


@pytest.fixture
def admin_user(db):
    return UserFactory(username="admin", first_name="Ada", is_staff=True, is_superuser=True)


@pytest.fixture
def agent_client(agent):
    client = Client()
    client.force_login(agent)
    return client


@pytest.fixture
def customer_token(customer):
    return customer_token_make(customer_id=customer.pk)


@pytest.fixture
def customer_client(customer, customer_token, settings):
    client = Client()
    client.cookies[settings.BATON_CUSTOMER_COOKIE] = customer_token
    return client


@pytest.fixture
def demo_kb(db):
    """The demo help centre, embedded with the real model."""
    return kb_import_jsonl(path=DEMO_KB)
