"""SLA endpoints for the agents' pages: timers for the countdowns, priority, the bell."""

from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from conversations.models import Conversation
from sla import broadcast, selectors, services

MAX_CONVERSATIONS = 500


def _ids(raw: str) -> list[int]:
    return [int(part) for part in raw.split(",") if part.strip().isdigit()][:MAX_CONVERSATIONS]


@login_required
@require_GET
def timers(request: HttpRequest) -> JsonResponse:
    """The timers of the conversations a page shows, and the server's clock, so the
    browser can count down and flip badges on its own."""
    found = selectors.timers_for(conversation_ids=_ids(request.GET.get("conversations", "")))
    return JsonResponse({"now": timezone.now().isoformat(), "timers": [broadcast.timer_payload(t) for t in found]})


@login_required
@require_POST
def priority_set(request: HttpRequest, pk: int) -> HttpResponse:
    get_object_or_404(Conversation, pk=pk)
    wants_json = request.headers.get("Accept", "").startswith("application/json")
    try:
        conversation = services.priority_set_by_agent(
            conversation_id=pk, priority=request.POST.get("priority"), agent=request.user
        )
    except ValidationError as e:
        if wants_json:
            return JsonResponse({"error": {"code": e.code, "message": e.messages[0]}}, status=400)
        return redirect("inbox-conversation", pk=pk)
    if wants_json:
        return JsonResponse({"conversation": {"id": conversation.pk, "priority": conversation.priority}})
    return redirect("inbox-conversation", pk=pk)


@login_required
@require_GET
def notifications(request: HttpRequest) -> JsonResponse:
    return JsonResponse(
        {
            "unread": selectors.notifications_unread_count(user=request.user),
            "notifications": [
                broadcast.notification_payload(n) for n in selectors.notifications_for(user=request.user)
            ],
        }
    )


@login_required
@require_POST
def notifications_read(request: HttpRequest) -> JsonResponse:
    """Mark some (``id`` fields) or all (``all=1``) of the user's notifications read."""
    ids = None if request.POST.get("all") == "1" else _ids(",".join(request.POST.getlist("id")))
    services.notifications_mark_read(user=request.user, ids=ids, now=timezone.now())
    return JsonResponse({"unread": selectors.notifications_unread_count(user=request.user)})
