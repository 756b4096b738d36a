"""The agents' inbox: server-rendered lists and conversation pages.

Live updates arrive over the inbox websocket; the page then re-renders the list
fragment from the server, so the list is always the database's truth.
"""

from django.conf import settings
from django.contrib import messages as flash
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.http.multipartparser import MultiPartParserError
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from conversations import broadcast, files, selectors, services
from conversations.models import Conversation, Message
from conversations.views.agent_posts import agent_post
from knowledge import services as knowledge_services
from knowledge.models import Entry


def _view_name(request: HttpRequest, *, default: str = "pending") -> str:
    view = request.GET.get("view", default)
    if view not in selectors.INBOX_VIEWS:
        raise Http404("No such inbox view.")
    return view


def _list_context(request: HttpRequest, *, view: str, open_id: int | None = None) -> dict:
    """The list pane: the tabs, the view's conversations and which one the thread
    pane shows (its row is marked, and the tabs keep it open)."""
    return {
        "view": view,
        "open_id": open_id,
        "tabs_url": reverse("inbox-conversation", args=[open_id]) if open_id else reverse("inbox"),
        "tabs": selectors.inbox_tabs(user=request.user),
        "conversations": selectors.inbox_conversations(view=view, user=request.user),
    }


@login_required
@require_GET
def inbox(request: HttpRequest) -> HttpResponse:
    return render(request, "conversations/inbox.html", _list_context(request, view=_view_name(request)))


@login_required
@require_GET
def inbox_list(request: HttpRequest) -> HttpResponse:
    """The list and the counts alone, re-fetched by the page on each live event."""
    open_id = request.GET.get("open", "")
    if open_id and not open_id.isdigit():
        raise Http404("No such conversation.")
    context = _list_context(request, view=_view_name(request), open_id=int(open_id) if open_id else None)
    return render(request, "conversations/_inbox_list.html", context)


def _learn_defaults(*, conversation: Conversation, messages: list[Message]) -> dict:
    """What "Teach the bot" starts with: the agent's most substantive reply
    (``selectors.reply_to_learn``) and the customer's message before it, which it
    answered; else the question the bot handed off on."""
    chosen = selectors.reply_to_learn([(m.sender, m.body) for m in messages])
    question = None
    if chosen is not None:
        asked = (m for m in reversed(messages[: chosen[0]]) if m.sender == Message.Sender.CUSTOMER)
        question = next(asked, None)
    question = question or services.handoff_question(conversation=conversation)
    return {
        "question": question.body if question else "",
        "title": question.body[:120].rstrip("?") if question else "",
        "body": chosen[1] if chosen else "",
    }


def _panel_context(conversation: Conversation) -> dict:
    """The customer panel: who this is, their other conversations, and what the bot
    tried before handing off."""
    attributes, attributes_more = selectors.customer_attributes(customer=conversation.customer)
    return {
        "attributes": attributes,
        "attributes_more": attributes_more,
        "past_conversations": selectors.customer_history(customer=conversation.customer, exclude=conversation.pk),
        "handoff_trail": selectors.handoff_trail(conversation=conversation),
    }


@login_required
@require_GET
def conversation_detail(request: HttpRequest, pk: int) -> HttpResponse:
    conversation = get_object_or_404(Conversation.objects.select_related("customer", "assigned_agent"), pk=pk)
    messages = selectors.conversation_messages_after(conversation=conversation)
    history = [broadcast.message_payload(m, viewer=files.AGENTS) for m in messages]
    return render(
        request,
        "conversations/conversation.html",
        {
            "conversation": conversation,
            "history": history,
            "timeline": [
                broadcast.timeline_payload(e) for e in selectors.conversation_timeline(conversation=conversation)
            ],
            **_list_context(
                request,
                view=_view_name(request, default=selectors.inbox_view_of(conversation=conversation, user=request.user)),
                open_id=conversation.pk,
            ),
            "notes": [broadcast.note_payload(n) for n in selectors.conversation_notes(conversation=conversation)],
            "max_file_bytes": settings.BATON_ATTACHMENT_MAX_BYTES,
            "is_mine": conversation.status == Conversation.Status.ASSIGNED
            and conversation.assigned_agent_id == request.user.pk,
            "queue_position": selectors.queue_position(conversation=conversation),
            "learn": _learn_defaults(conversation=conversation, messages=messages),
            "entries": Entry.objects.order_by("title").values_list("external_id", "title"),
            **_panel_context(conversation),
        },
    )


@login_required
@require_POST
def conversation_reply(request: HttpRequest, pk: int) -> HttpResponse:
    get_object_or_404(Conversation, pk=pk)
    return agent_post(
        request,
        pk=pk,
        write=lambda: services.message_post_from_agent(
            conversation_id=pk,
            agent=request.user,
            body=request.POST.get("body"),
            client_id=request.POST.get("client_id"),
        ),
        answer=lambda message: {"message": broadcast.message_payload(message, viewer=files.AGENTS)},
    )


@login_required
@require_POST
def conversation_attach(request: HttpRequest, pk: int) -> HttpResponse:
    """A file from the assigned agent (multipart: ``file``, an optional ``body``
    as its caption, ``client_id``): JSON for the page's script, else back to the page."""
    get_object_or_404(Conversation, pk=pk)
    try:
        upload, caption, client_id = request.FILES.get("file"), request.POST.get("body"), request.POST.get("client_id")
    except MultiPartParserError:
        upload = caption = client_id = None
    return agent_post(
        request,
        pk=pk,
        write=lambda: services.message_post_file_from_agent(
            conversation_id=pk, agent=request.user, upload=upload, caption=caption, client_id=client_id
        ),
        answer=lambda message: {"message": broadcast.message_payload(message, viewer=files.AGENTS)},
    )


@login_required
@require_POST
def conversation_learn(request: HttpRequest, pk: int) -> HttpResponse:
    """Turn the customer's question and the agent's answer into knowledge."""
    conversation = get_object_or_404(Conversation, pk=pk)
    existing = request.POST.get("entry", "").strip()
    entry = Entry.objects.filter(external_id=existing).first() if existing else None
    if existing and entry is None:
        flash.error(request, "That knowledge-base entry no longer exists.")
        return redirect("inbox-conversation", pk=pk)
    try:
        learnt = knowledge_services.entry_learn(
            question=request.POST.get("question", ""),
            title=request.POST.get("title", ""),
            body=request.POST.get("body", ""),
            entry=entry,
            conversation_ref=conversation.pk,
        )
    except ValidationError as e:
        flash.error(request, e.messages[0])
    else:
        flash.success(request, f"Saved to the knowledge base as “{learnt.title}”: the bot answers this question now.")
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
