"""Internal notes on the agent's conversation page: writing one over HTTP (the
page's fallback when its socket is down) and the @mention suggestions."""

from django.contrib import messages as flash
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect
from django.views.decorators.http import require_GET, require_POST

from conversations import broadcast, selectors, services
from conversations.models import Conversation, display_name


@login_required
@require_POST
def note_add(request: HttpRequest, pk: int) -> HttpResponse:
    get_object_or_404(Conversation, pk=pk)
    wants_json = request.headers.get("Accept", "").startswith("application/json")
    try:
        note = services.note_add(
            conversation_id=pk,
            author=request.user,
            body=request.POST.get("body"),
            client_id=request.POST.get("client_id"),
        )
    except ValidationError as e:
        if wants_json:
            return JsonResponse({"error": {"code": e.code, "message": e.messages[0]}}, status=400)
        flash.error(request, e.messages[0])
    except PermissionDenied as e:
        if wants_json:
            return JsonResponse({"error": {"code": "forbidden", "message": str(e)}}, status=403)
        flash.error(request, str(e))
    else:
        if wants_json:
            return JsonResponse({"note": broadcast.note_payload(note)}, status=201)
    return redirect("inbox-conversation", pk=pk)


@login_required
@require_GET
def mention_suggest(request: HttpRequest) -> JsonResponse:
    """The agents a note's ``@`` and the letters after it may mean."""
    agents = selectors.mention_candidates(query=request.GET.get("q", ""))
    return JsonResponse(
        {"agents": [{"id": u.pk, "username": u.get_username(), "name": display_name(u)} for u in agents]}
    )
