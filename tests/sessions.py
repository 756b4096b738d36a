"""Opening the customer's chat session as the chat page's script does (chat.js)."""

import json

from django.test import Client
from django.urls import reverse

OWN_ORIGIN = "http://testserver"


def session_open(client: Client | None = None, *, origin: str = OWN_ORIGIN, **payload):
    """``POST /chat/session/`` with ``payload`` (token, identity, name); the response."""
    return (client or Client()).post(
        reverse("chat-session"), data=json.dumps({"origin": origin, **payload}), content_type="application/json"
    )
