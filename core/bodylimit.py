"""Request bodies past ``BATON_MAX_REQUEST_BYTES`` are refused (413) before they
are read: Django's ASGI handler spools a whole body to disk before any view or
upload limit sees it, so a 50 MB upload would cost its 50 MB first.

A declared ``Content-Length`` over the limit is answered at once; a body without
one (chunked) is counted as it arrives and cut off at the limit: Django then sees
the client leave (and answers nothing), and this answers instead.
"""

import json

from django.conf import settings


def _too_large_body() -> bytes:
    limit_mb = settings.BATON_ATTACHMENT_MAX_BYTES / (1024 * 1024)
    message = f"Files can be at most {limit_mb:g} MB; this one is larger and was not sent."
    return json.dumps({"error": {"code": "file_too_large", "message": message}}).encode()


async def _refuse(send) -> None:
    body = _too_large_body()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"x-content-type-options", b"nosniff"),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def _declared_length(scope) -> int | None:
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


class BodyLimit:
    """ASGI middleware in front of Django's HTTP handler (helpdesk/asgi.py)."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        limit = settings.BATON_MAX_REQUEST_BYTES
        declared = _declared_length(scope)
        if declared is not None and declared > limit:
            await _refuse(send)
            return None
        received = 0
        over = False

        async def counted():
            nonlocal received, over
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    over = True
                    return {"type": "http.disconnect"}
            return message

        await self.app(scope, counted, send)
        if over:
            await _refuse(send)
        return None
