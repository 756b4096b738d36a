"""core.bodylimit: a body past the limit is refused before Django reads it."""

import json

import pytest
from asgiref.sync import async_to_sync

from core.bodylimit import BodyLimit


class _App:
    """Django's part: reads the body, answers 200, and says what it saw."""

    def __init__(self):
        self.read = b""
        self.called = False

    async def __call__(self, scope, receive, send):
        self.called = True
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return  # Django's ASGI handler answers nothing to a client that left
            self.read += message.get("body", b"")
            if not message.get("more_body"):
                break
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})


def _run(chunks, headers):
    app, sent, queue = _App(), [], list(chunks)

    async def receive():
        body = queue.pop(0)
        return {"type": "http.request", "body": body, "more_body": bool(queue)}

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "path": "/chat/upload/", "headers": headers}
    async_to_sync(BodyLimit(app))(scope, receive, send)
    return app, sent


@pytest.fixture
def limit(settings):
    settings.BATON_ATTACHMENT_MAX_BYTES = 1024 * 1024
    settings.BATON_MAX_REQUEST_BYTES = 1024 * 1024 + 1000
    return settings.BATON_MAX_REQUEST_BYTES


def test_a_declared_length_over_the_limit_is_refused_unread(limit):
    app, sent = _run([b"x" * 10], [(b"content-length", str(50 * 1024 * 1024).encode())])
    assert not app.called
    assert sent[0]["status"] == 413
    error = json.loads(sent[1]["body"])["error"]
    assert error["code"] == "file_too_large"
    assert error["message"].startswith("Files can be at most 1 MB")


def test_a_chunked_body_is_cut_off_at_the_limit(limit):
    app, sent = _run([b"x" * 600_000, b"x" * 600_000, b"x" * 600_000], [])
    assert len(app.read) == 600_000  # the second chunk crossed the limit: never handed on
    assert [m.get("status") for m in sent if m["type"] == "http.response.start"] == [413]


def test_a_body_within_the_limit_passes(limit):
    body = b"x" * limit
    app, sent = _run([body], [(b"content-length", str(limit).encode())])
    assert app.read == body
    assert sent[0]["status"] == 200


def test_the_served_application_refuses_a_50_mb_upload_unread(limit):
    from helpdesk.asgi import application

    sent, reads = [], []

    async def receive():
        reads.append(1)
        return {"type": "http.request", "body": b"x" * 1024, "more_body": True}

    async def send(message):
        sent.append(message)

    scope = {
        "type": "http",
        "method": "POST",
        "path": "/chat/upload/",
        "headers": [(b"content-length", str(50 * 1024 * 1024).encode()), (b"host", b"127.0.0.1")],
    }
    async_to_sync(application)(scope, receive, send)
    assert sent[0]["status"] == 413
    assert reads == []
