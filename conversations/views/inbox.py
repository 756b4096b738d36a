"""The agents' inbox: server-rendered lists and conversation pages.

Live updates arrive over the inbox websocket; the page then re-renders the list
fragment from the server, so the list is always the database's truth.
"""

from django.contrib import messages as flash
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST

from conversations import broadcast, selectors, services
from conversations.models import Conversation


def _view_name(request: HttpRequest) -> str:
    view = request.GET.get("view", "pending")
    if view not in selectors.INBOX_VIEWS:
        raise Http404("No such inbox view.")
    return view


def _list_context(request: HttpRequest) -> dict:
    view = _view_name(request)
    return {
        "view": view,
        "tabs": selectors.inbox_tabs(user=request.user),
        "conversations": selectors.inbox_conversations(view=view, user=request.user),
    }


@login_required
@require_GET
def inbox(request: HttpRequest) -> HttpResponse:
    return render(request, "conversations/inbox.html", _list_context(request))


@login_required
@require_GET
def inbox_list(request: HttpRequest) -> HttpResponse:
    """The list and the counts alone, re-fetched by the page on each live event."""
    return render(request, "conversations/_inbox_list.html", _list_context(request))


@login_required
@require_GET
def conversation_detail(request: HttpRequest, pk: int) -> HttpResponse:
    conversation = get_object_or_404(Conversation.objects.select_related("customer", "assigned_agent"), pk=pk)
    history = [broadcast.message_payload(m) for m in selectors.conversation_messages_after(conversation=conversation)]
    return render(
        request,
        "conversations/conversation.html",
        {
            "conversation": conversation,
            "history": history,
            "tabs": selectors.inbox_tabs(user=request.user),
            "is_mine": conversation.status == Conversation.Status.ASSIGNED
            and conversation.assigned_agent_id == request.user.pk,
            "queue_position": selectors.queue_position(conversation=conversation),
        },
    )


@login_required
@require_POST
def conversation_accept(request: HttpRequest, pk: int) -> HttpResponse:
    get_object_or_404(Conversation, pk=pk)
    try:
        services.conversation_accept(conversation_id=pk, agent=request.user)
    except services.ConversationAlreadyTaken as e:
        flash.error(request, str(e))
        return redirect("inbox")
    return redirect("inbox-conversation", pk=pk)


@login_required
@require_POST
def conversation_reply(request: HttpRequest, pk: int) -> HttpResponse:
    get_object_or_404(Conversation, pk=pk)
    wants_json = request.headers.get("Accept", "").startswith("application/json")
    try:
        message = services.message_post_from_agent(
            conversation_id=pk, agent=request.user, body=request.POST.get("body")
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
            return JsonResponse({"message": broadcast.message_payload(message)}, status=201)
    return redirect("inbox-conversation", pk=pk)


@login_required
@require_POST
def conversation_resolve(request: HttpRequest, pk: int) -> HttpResponse:
    get_object_or_404(Conversation, pk=pk)
    try:
        services.conversation_resolve(conversation_id=pk, agent=request.user)
    except PermissionDenied as e:
        flash.error(request, str(e))
        return redirect("inbox-conversation", pk=pk)
    flash.success(request, f"Conversation #{pk} resolved.")
    return redirect("inbox")
