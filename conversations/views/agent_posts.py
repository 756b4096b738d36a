"""The agent page's writes that its script sends as JSON and a form without script
posts: one answer for both (replies, files, internal notes)."""

from collections.abc import Callable

from django.contrib import messages as flash
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect


def agent_post(
    request: HttpRequest, *, pk: int, write: Callable[[], object], answer: Callable[[object], dict]
) -> HttpResponse:
    """Run ``write``: to the script 201 with ``answer(result)``, or 400 (413 for a
    file over the limit)/403 with
    ``{"error": {"code", "message"}}``; to a plain form a flash message and back to
    the conversation, where the refused text is still in the form's history."""
    wants_json = request.headers.get("Accept", "").startswith("application/json")
    try:
        result = write()
    except ValidationError as e:
        if wants_json:
            status = 413 if e.code == "file_too_large" else 400
            return JsonResponse({"error": {"code": e.code, "message": e.messages[0]}}, status=status)
        flash.error(request, e.messages[0])
    except PermissionDenied as e:
        if wants_json:
            return JsonResponse({"error": {"code": "forbidden", "message": str(e)}}, status=403)
        flash.error(request, str(e))
    else:
        if wants_json:
            return JsonResponse(answer(result), status=201)
    return redirect("inbox-conversation", pk=pk)
