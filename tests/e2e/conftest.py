"""A real ASGI server (uvicorn) in a thread and Debian's Chromium driven by Playwright.

The server shares the test database (a file for SQLite, the test database for
PostgreSQL) and the configured channel layer with the test process.
"""

import asyncio
import socket
import threading
from pathlib import Path

import pytest
import uvicorn
from playwright.sync_api import sync_playwright

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


@pytest.fixture(autouse=True)
def _orm_beside_playwright(monkeypatch):
    # Playwright's sync API runs an event loop in the test thread; the ORM calls a
    # browser test makes between page actions are still plain synchronous calls.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


class _ThreadedServer(uvicorn.Server):
    def __init__(self, config):
        super().__init__(config)
        self.ready = threading.Event()

    async def startup(self, sockets=None):
        await super().startup(sockets=sockets)
        self.ready.set()


@pytest.fixture
def live_url(transactional_db):
    from helpdesk.asgi import application

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = _ThreadedServer(
        uvicorn.Config(
            application, host="127.0.0.1", port=port, log_level="warning", ws="websockets-sansio", lifespan="off"
        )
    )
    thread = threading.Thread(target=lambda: asyncio.run(server.serve()), daemon=True)
    thread.start()
    if not server.ready.wait(timeout=30):
        raise RuntimeError("the test ASGI server did not start within 30 s")
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


# Per module, not per session: while Playwright's sync API is active its event loop
# counts as running in the main thread, and the database tests of the apps that
# come after tests/e2e/ (routing, sla) would fail Django's async-safety check.
@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        raise RuntimeError(f"{CHROMIUM} is missing: install Debian's chromium package (.ci/install-system.sh does)")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def artifacts():
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


@pytest.fixture
def ticking(settings):
    """The per-process routing timer on, as in production (the tests default it off)."""
    settings.BATON_TIMERS_TICK_MS = 250
