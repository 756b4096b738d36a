"""Internal notes on the agent's conversation page: writing one over HTTP (the
page's fallback when its socket is down) and the @mention suggestions."""

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404
from django.views.decorators.http import require_GET, require_POST

from conversations import broadcast, selectors, services
from conversations.models import Conversation, display_name
from conversations.views.agent_posts import agent_post


@login_required
@require_POST
def note_add(request: HttpRequest, pk: int) -> HttpResponse:
    get_object_or_404(Conversation, pk=pk)
    return agent_post(
        request,
        pk=pk,
        write=lambda: services.note_add(
            conversation_id=pk,
            author=request.user,
            body=request.POST.get("body"),
            client_id=request.POST.get("client_id"),
        ),
        answer=lambda note: {"note": broadcast.note_payload(note)},
    )


@login_required
@require_GET
def mention_suggest(request: HttpRequest) -> JsonResponse:
    """The agents a note's ``@`` and the letters after it may mean."""
    agents = selectors.mention_candidates(query=request.GET.get("q", ""))
    return JsonResponse(
        {"agents": [{"id": u.pk, "username": u.get_username(), "name": display_name(u)} for u in agents]}
    )
