"""Error responses the pages understand.

The pages' scripts call JSON endpoints (the chat's fallback, an agent's reply,
the board); Django's HTML error page in their place showed the customer
``Unexpected token '<' … is not valid JSON``. A request that asked for JSON gets
JSON here, and a database that cannot be reached (restarting, the pool waiting
in vain) answers 503 with ``Retry-After``, which the scripts retry with backoff
(docs/realtime.md, "Outages"). Everything else is Django's own page.
"""

import logging
import sys

from django.db import DatabaseError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views import defaults

logger = logging.getLogger(__name__)

RETRY_AFTER_S = 2


def _wants_json(request: HttpRequest) -> bool:
    return "application/json" in request.headers.get("Accept", "") or "X-Baton-Token" in request.headers


def server_error(request: HttpRequest) -> HttpResponse:
    """``handler500``: called while the exception is being handled."""
    error = sys.exc_info()[1]
    if isinstance(error, DatabaseError):
        message = "We can't reach our database right now. Retrying…"
        if _wants_json(request):
            response = JsonResponse({"error": {"code": "unavailable", "message": message}}, status=503)
        else:
            response = HttpResponse(
                f'<!doctype html><meta http-equiv="refresh" content="{RETRY_AFTER_S * 2}">'
                f"<title>Back in a moment</title><p>{message}</p>",
                status=503,
            )
        response["Retry-After"] = str(RETRY_AFTER_S)
        return response
    if _wants_json(request):
        return JsonResponse(
            {"error": {"code": "server_error", "message": "Something went wrong. Please try again."}}, status=500
        )
    return defaults.server_error(request)
