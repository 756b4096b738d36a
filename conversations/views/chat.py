"""The customer's chat page and its HTTP fallback, reached only through the signed token."""

import json

from django.conf import settings
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.clickjacking import xframe_options_exempt
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from conversations import broadcast, selectors, services
from conversations.identity import (
    TOKEN_MAX_AGE,
    customer_token_make,
    customer_token_read,
    embed_traits_verified,
    embed_user_verified,
)
from conversations.models import Customer
from helpdesk import ratelimit

TOKEN_HEADER = "HTTP_X_BATON_TOKEN"


def _customer_from_cookie(request: HttpRequest) -> Customer | None:
    customer_id = customer_token_read(request.COOKIES.get(settings.BATON_CUSTOMER_COOKIE))
    return Customer.objects.filter(pk=customer_id).first() if customer_id else None


def _customer_for_page(request: HttpRequest) -> Customer:
    external_id = request.GET.get("user_id", "").strip()
    if external_id and embed_user_verified(external_id=external_id, user_hash=request.GET.get("user_hash", "")):
        customer = services.customer_for_embed(external_id=external_id, name=request.GET.get("name", "").strip())
        traits = embed_traits_verified(
            traits=request.GET.get("traits", ""), traits_hash=request.GET.get("traits_hash", "")
        )
        if traits is not None:
            services.customer_traits_set(customer=customer, traits=traits)
        return customer
    return _customer_from_cookie(request) or services.customer_create(name=request.GET.get("name", "").strip())


@require_GET
@xframe_options_exempt
def chat_page(request: HttpRequest) -> HttpResponse:
    if refused := ratelimit.chat_page_refusal(request):
        return refused
    customer = _customer_for_page(request)
    conversation = selectors.conversation_open_for(customer=customer)
    token = customer_token_make(customer_id=customer.pk)
    messages = selectors.customer_messages(customer=customer)
    history = [broadcast.message_payload(m) for m in messages]
    state = (
        broadcast.conversation_payload(conversation, queue_position=selectors.queue_position(conversation=conversation))
        if conversation
        else None
    )
    response = render(
        request,
        "conversations/chat.html",
        {
            "customer": customer,
            "token": token,
            "history": history,
            # The page holds every message of its conversations: catch up from the last.
            "cursor": {"conversation": messages[-1].conversation_id, "seq": messages[-1].seq} if messages else None,
            "state": state,
            "max_chars": settings.BATON_MAX_MESSAGE_CHARS,
            "embedded": request.GET.get("embed") == "1",
        },
    )
    response.set_cookie(
        settings.BATON_CUSTOMER_COOKIE,
        token,
        max_age=TOKEN_MAX_AGE,
        httponly=True,
        secure=request.is_secure(),
        # An embedded widget is a third-party frame: its cookie must be SameSite=None (HTTPS only).
        samesite="None" if request.is_secure() else "Lax",
    )
    return response


def _customer_from_header(request: HttpRequest) -> Customer | None:
    """The fallback endpoints take the token from a header that browsers never send on
    their own, which is what makes them safe without a CSRF cookie in a third-party frame."""
    customer_id = customer_token_read(request.META.get(TOKEN_HEADER))
    return Customer.objects.filter(pk=customer_id).first() if customer_id else None


def _forbidden() -> JsonResponse:
    return JsonResponse({"error": {"code": "forbidden", "message": "Your chat session is not valid."}}, status=403)


@csrf_exempt
@require_POST
def chat_send(request: HttpRequest) -> JsonResponse:
    customer = _customer_from_header(request)
    if customer is None:
        return _forbidden()
    if refused := ratelimit.message_refusal(request, visitor=customer.pk):
        return refused
    try:
        payload = json.loads(request.body or b"{}")
    except ValueError:
        payload = None
    if not isinstance(payload, dict):
        return JsonResponse({"error": {"code": "bad_request", "message": "Send a JSON object."}}, status=400)
    if payload.get("handoff") is True:
        conversation = services.customer_request_handoff(customer=customer)
        return JsonResponse({"conversation": broadcast.conversation_payload(conversation)})
    try:
        message = services.message_post_from_customer(
            customer=customer, body=payload.get("body"), client_id=payload.get("client_id")
        )
    except ValidationError as e:
        return JsonResponse({"error": {"code": e.code, "message": e.messages[0]}}, status=400)
    # The same answer for a message sent again (same client id): the one stored.
    return JsonResponse({"message": broadcast.message_payload(message)}, status=201)


@require_GET
def chat_history(request: HttpRequest) -> JsonResponse:
    """Catch-up over HTTP, for clients whose websocket is unavailable: as the
    socket's ``sync``, the messages after the cursor, the state, and the cursor."""
    customer = _customer_from_header(request)
    if customer is None:
        return _forbidden()
    try:
        conversation_id = int(request.GET.get("conversation", "0"))
        after_seq = int(request.GET.get("after_seq", "0"))
    except ValueError:
        return JsonResponse({"error": {"code": "bad_request", "message": "Bad cursor."}}, status=400)
    catch_up = selectors.customer_catch_up(customer=customer, conversation_id=conversation_id, after_seq=after_seq)
    conversation = catch_up.conversation
    return JsonResponse(
        {
            "messages": [broadcast.message_payload(m) for m in catch_up.messages],
            "conversation": broadcast.conversation_payload(conversation, queue_position=catch_up.queue_position)
            if conversation
            else None,
            "cursor": {"conversation": catch_up.cursor[0], "seq": catch_up.cursor[1]},
        }
    )
