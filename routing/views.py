"""Agents' routing actions: presence, take (accept or pull), decline, transfer, the board."""

from django.contrib import messages as flash
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from conversations.models import Conversation
from conversations.services import ConversationAlreadyTaken
from routing import broadcast, selectors, services
from routing.models import Offer, Skill


def _back(request: HttpRequest, default: str) -> HttpResponse:
    target = request.POST.get("next", "")
    if target and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        return redirect(target)
    return redirect(default)


@login_required
@require_GET
def board(request: HttpRequest) -> JsonResponse:
    """The agents (all of them for admins) and one's own open offers, for the page to draw."""
    now = timezone.now()
    services.agent_profile_for(request.user)  # an agent's first page may come before their socket
    return JsonResponse(
        {
            "me": request.user.pk,
            "is_staff": request.user.is_staff,
            "agents": [broadcast.agent_payload(p) for p in selectors.agent_board(user=request.user)],
            "offers": [broadcast.offer_payload(o, now=now) for o in selectors.open_offers_for(user=request.user)],
        }
    )


@login_required
@require_POST
def presence_set(request: HttpRequest) -> HttpResponse:
    try:
        services.presence_set(user=request.user, status=request.POST.get("status", ""), now=timezone.now())
    except ValidationError as e:
        flash.error(request, e.messages[0])
    return _back(request, "inbox")


@login_required
@require_POST
def presence_heartbeat(request: HttpRequest) -> HttpResponse:
    """The inbox page is open, said over HTTP while its socket is down."""
    services.presence_heartbeat(user=request.user, now=timezone.now())
    return HttpResponse(status=204)


@login_required
@require_POST
def conversation_take(request: HttpRequest, pk: int) -> HttpResponse:
    """Accept an offer or pull from the queue; capacity holds either way."""
    get_object_or_404(Conversation, pk=pk)
    try:
        services.conversation_take(conversation_id=pk, agent=request.user)
    except (ConversationAlreadyTaken, services.AgentAtCapacity) as e:
        flash.error(request, str(e))
        return redirect("inbox")
    return redirect("inbox-conversation", pk=pk)


@login_required
@require_POST
def offer_decline(request: HttpRequest, pk: int) -> HttpResponse:
    get_object_or_404(Offer, pk=pk)
    try:
        services.offer_decline(offer_id=pk, agent=request.user, now=timezone.now())
    except PermissionDenied as e:
        flash.error(request, str(e))
    return _back(request, "inbox")


@login_required
@require_http_methods(["GET", "POST"])
def conversation_transfer(request: HttpRequest, pk: int) -> HttpResponse:
    """GET: the transfer form (a fragment the conversation page inserts); POST: transfer."""
    conversation = get_object_or_404(Conversation.objects.select_related("assigned_agent"), pk=pk)
    if request.method == "GET":
        mine = conversation.assigned_agent_id == request.user.pk or request.user.is_staff
        if conversation.status != Conversation.Status.ASSIGNED or not mine:
            return HttpResponse(status=204)
        agents, skills = selectors.transfer_targets(exclude_user_id=conversation.assigned_agent_id)
        return render(
            request, "routing/_transfer.html", {"conversation": conversation, "agents": agents, "skills": skills}
        )
    target = request.POST.get("target", "")
    kind, _, raw_id = target.partition(":")
    to_agent = to_skill = None
    if kind == "agent" and raw_id.isdigit():
        to_agent = get_user_model().objects.filter(pk=int(raw_id), is_active=True).first()
    elif kind == "skill" and raw_id.isdigit():
        to_skill = Skill.objects.filter(pk=int(raw_id)).first()
    if to_agent is None and to_skill is None:
        flash.error(request, "Choose an agent or a skill group to transfer to.")
        return redirect("inbox-conversation", pk=pk)
    try:
        services.conversation_transfer(
            conversation_id=pk,
            by=request.user,
            note=request.POST.get("note", ""),
            now=timezone.now(),
            to_agent=to_agent,
            to_skill=to_skill,
        )
    except (ValidationError, PermissionDenied, services.AgentAtCapacity) as e:
        flash.error(request, e.messages[0] if isinstance(e, ValidationError) else str(e))
        return redirect("inbox-conversation", pk=pk)
    flash.success(request, f"Conversation #{pk} transferred.")
    return redirect("inbox")
