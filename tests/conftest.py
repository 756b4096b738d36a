"""Personas shared by every test: a customer, two agents, an admin and an outsider."""

import inspect
import time

import pytest
from django.test import Client, override_settings

from conversations.identity import customer_token_make
from core import config, outbox, ratelimit
from demo.management.commands.demo_data import DEMO_KB
from knowledge.services import kb_import_jsonl
from tests.factories import CustomerFactory, UserFactory

_started = time.monotonic()


def pytest_sessionstart(session):
    global _started
    _started = time.monotonic()


def pytest_terminal_summary(terminalreporter):
    """The suite's time in this mode, the figure the suite is held to (issue #17:
    each mode under 3 minutes)."""
    from django.conf import settings

    if not settings.configured:
        return
    database = "PostgreSQL" if settings.DATABASES["default"]["ENGINE"].endswith("postgresql") else "SQLite"
    mode = f"{database} + {'Redis' if settings.REDIS_URL else 'in-memory layer'}"
    terminalreporter.write_sep("-", f"suite time in mode {mode}: {time.monotonic() - _started:.1f} s")


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items):
    """Marks by place: the race tests (``make stress`` repeats them under load) and
    the fault suite. The slowest kinds (faults, then browsers) go first, so that
    parallel workers (``make test`` runs pytest-xdist) do not end on one long test;
    pytest-django's ordering by database use, applied after this, keeps it."""
    for item in items:
        if item.path.name == "test_concurrency.py":
            item.add_marker(pytest.mark.concurrency)
        if item.path.parent.name == "faults":
            item.add_marker(pytest.mark.faults)
    items.sort(key=lambda item: {"faults": 0, "e2e": 1}.get(item.path.parent.name, 2))


@pytest.fixture(autouse=True)
def _thread_connections_closed(request):
    """An async test's ``sync_to_async`` calls run on asgiref's one shared thread,
    whose connection nothing returns to the pool: it is closed after the test, or
    the test database could not be dropped at the end (an open session)."""
    yield
    if inspect.iscoroutinefunction(request.function) and request.node.get_closest_marker("django_db"):
        from asgiref.sync import SyncToAsync
        from django.db import connections

        SyncToAsync.single_thread_executor.submit(connections.close_all).result(timeout=10)


@pytest.fixture(autouse=True, scope="session")
def _fast_password_hashing():
    """Test users' passwords are hashed with MD5, not PBKDF2's million rounds (half
    a second a user on a CI machine): the tests check who may do what, not how
    strongly passwords are stored."""
    with override_settings(PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"]):
        yield


@pytest.fixture(autouse=True, scope="session")
def _embeddings_once_per_session():
    """The real model, each batch of texts embedded once per session
    (tests/embeddings.py): the demo knowledge base, imported by many tests, is
    embedded by the first."""
    with override_settings(BATON_EMBEDDING_MODEL="tests.embeddings.SessionCachedEmbeddings"):
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
    """Each test's events are sent before the next test starts: with Redis, what a
    test queued in this process's outbox (core/outbox.py) leaves before the next
    one listens. The pub/sub layer keeps nothing in Redis between tests (its
    memberships are subscriptions of each event loop's connection, closed with
    the test's loop), and the channels of concurrent test runs carry their own
    prefix (tests/pytest_env.py)."""
    yield
    from django.conf import settings

    if settings.REDIS_URL:
        outbox.flush()


@pytest.fixture
def rate_limits(settings):
    """The rate limits on (tests/pytest_env.py turns them off for the others), with
    every count forgotten before and after."""
    settings.BATON_RATELIMIT_ENABLED = True
    ratelimit.reset()
    yield settings
    ratelimit.reset()


@pytest.fixture
def media(settings, tmp_path):
    """Uploaded files go to this test's own folder (returned), never the repository."""
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


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
def demo_kb(db):
    """The demo help centre, embedded with the real model."""
    return kb_import_jsonl(path=DEMO_KB)


class LayerListener:
    """Channels listening on the channel layer from an event loop of their own, as
    an ASGI server's sockets do: the pub/sub layer subscribes per event loop, so a
    channel made on one ``async_to_sync`` loop hears nothing once that loop ends.
    In embedded mode the outbox sends on this loop too (``outbox.bind_loop``), as
    it would on the server's."""

    def __init__(self):
        import asyncio
        import threading

        from channels.layers import get_channel_layer

        self.layer = get_channel_layer()
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="test-listener", daemon=True)
        self._thread.start()
        self._run(self._bind())

    async def _bind(self):
        outbox.bind_loop(self.loop)

    def _run(self, coroutine, timeout=10):
        import asyncio

        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def listen(self, *groups: str) -> dict[str, str]:
        async def join():
            channels = {}
            for group in groups:
                channels[group] = await self.layer.new_channel()
                await self.layer.group_add(group, channels[group])
            return channels

        return self._run(join())

    def receive(self, channel: str, n: int, timeout: float = 5) -> list[dict]:
        """The next ``n`` events of ``channel``, as JSON would carry them."""
        import asyncio
        import json

        async def take():
            return [await asyncio.wait_for(self.layer.receive(channel), timeout) for _ in range(n)]

        events = self._run(take(), timeout=timeout * n + 5)
        return [
            json.loads(json.dumps({k: v for k, v in e.items() if k != "__asgi_channel__"}, default=repr))
            for e in events
        ]

    def nothing_for(self, channel: str, seconds: float) -> bool:
        """True if ``channel`` hears nothing for ``seconds``. Its last use: the
        pub/sub layer unsubscribes a channel whose receive is cancelled."""
        import asyncio

        async def wait():
            try:
                await asyncio.wait_for(self.layer.receive(channel), seconds)
            except TimeoutError:
                return True
            return False

        return self._run(wait(), timeout=seconds + 5)

    def close(self):
        import asyncio

        outbox.flush()

        async def stop():
            for task in asyncio.all_tasks():
                if task is not asyncio.current_task():
                    task.cancel()

        self._run(stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5)


@pytest.fixture
def layer_listener():
    listener = LayerListener()
    yield listener
    listener.close()


@pytest.fixture
def config_kept(settings):
    """Business configuration cached for the whole test: a query-count pin must not
    see a reload because the cache's seconds ran out on a slow machine."""
    settings.BATON_CONFIG_CACHE_S = 3600
