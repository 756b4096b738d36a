"""The customer's chat page and its HTTP endpoints, reached only through the session token.

The page itself is a shell that writes nothing: the script asks ``/chat/session/``
for the session (its token, history and state). The token lives in the storage of
the page the customer sees: the embedding site's own localStorage when the chat is
embedded (handed over by the loader, embed.js, with ``postMessage``; no
third-party cookie involved), Baton's own otherwise (docs/security.md).
"""

import json

from django.conf import settings
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.http.multipartparser import MultiPartParserError
from django.shortcuts import render
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from conversations import broadcast, files, selectors, services
from conversations.identity import (
    Identity,
    IdentityRefused,
    Visitor,
    customer_token_make,
    identity_from_hmac,
    identity_from_jwt,
    session_key,
    visitor_read,
    visitor_token_make,
    visitor_token_renew,
)
from conversations.models import Customer, EmbedSite
from conversations.services import display_name_clean
from core import ratelimit
from core.headers import frame_ancestors

TOKEN_HEADER = "HTTP_X_BATON_TOKEN"
MAX_SESSION_BODY = 16_000


def _error(status: int, code: str, message: str) -> JsonResponse:
    return JsonResponse({"error": {"code": code, "message": message}}, status=status)


def _own_origin(request: HttpRequest) -> str:
    return f"{request.scheme}://{request.get_host()}"


@require_GET
def chat_page(request: HttpRequest) -> HttpResponse:
    if refused := ratelimit.chat_page_refusal(request):
        return refused
    sites = selectors.embed_sites()
    response = render(
        request,
        "conversations/chat.html",
        {
            "max_chars": settings.BATON_MAX_MESSAGE_CHARS,
            "max_file_bytes": settings.BATON_ATTACHMENT_MAX_BYTES,
            "embedded": request.GET.get("embed") == "1",
            # The parent pages the frame accepts a session from (the CSP says the same to the browser).
            "config": {"origins": sorted(sites), "loader": request.GET.get("loader") == "1"},
        },
    )
    # Framed only by Baton's own pages and the embed sites an admin listed.
    return frame_ancestors(response, sites)


def _json_body(request: HttpRequest, *, limit: int) -> dict | None:
    if len(request.body) > limit:
        return None
    try:
        payload = json.loads(request.body or b"{}")
    except ValueError:
        return None
    return payload if isinstance(payload, dict) else None


def _identity(payload: dict, site: EmbedSite | None) -> Identity | None:
    """What the embedding site proved about its user: None if it said nothing,
    IdentityRefused if what it said does not verify."""
    proof = payload.get("identity")
    if proof in (None, "", {}):
        return None
    if not isinstance(proof, dict):
        raise IdentityRefused("Your sign-in could not be verified.")
    if "jwt" in proof:
        if site is None:
            raise IdentityRefused("Only an embedding site can sign its users in.")
        return identity_from_jwt(token=proof["jwt"], secret=site.identity_secret)
    return identity_from_hmac(
        external_id=proof.get("user_id"),
        user_hash=proof.get("user_hash"),
        name=proof.get("name", ""),
        traits=proof.get("traits", ""),
        traits_hash=proof.get("traits_hash", ""),
    )


@csrf_exempt  # no ambient authority: the token comes in the body, never from a cookie
@require_POST
def chat_session(request: HttpRequest) -> JsonResponse:
    """Open (or resume) the chat for the page: ``{token, origin, identity, name}`` in,
    a renewed token and the customer's history and state out. Writes a row only to
    record a verified identity (or an unverified visitor's new name)."""
    if refused := ratelimit.session_refusal(request):
        return refused
    payload = _json_body(request, limit=MAX_SESSION_BODY)
    if payload is None:
        return _error(400, "bad_request", "Send a JSON object.")
    origin = payload.get("origin")
    site = selectors.embed_sites().get(origin) if isinstance(origin, str) else None
    if origin != _own_origin(request) and site is None:
        return _error(403, "origin_not_allowed", "This site is not allowed to embed the chat.")
    try:
        identity = _identity(payload, site)
    except IdentityRefused as e:
        return _error(403, "identity_refused", str(e))
    if identity is None and site is not None and site.require_verification:
        return _error(403, "identity_required", "Please sign in on this site to chat with us.")
    name = payload.get("name") if isinstance(payload.get("name"), str) else ""

    if identity is not None:
        customer = services.customer_identify(identity=identity)
        visitor = Visitor(customer_id=customer.pk, verified=True)
        token = customer_token_make(customer_id=customer.pk, verified=True)
    else:
        visitor = visitor_read(payload.get("token"))
        customer = selectors.customer_of(visitor) if visitor else None
        # A verified customer's token without that verification is a new visitor's
        # page, as is the token of a customer who was erased.
        if visitor is None or visitor.verified or (customer is None and visitor.customer_id is not None):
            visitor, customer = visitor_read(visitor_token_make()), None
        token = visitor_token_renew(visitor, name=display_name_clean(name))
        visitor = visitor_read(token)
        if customer is not None and name:
            services.customer_rename(customer=customer, name=name)
    return JsonResponse({"token": token, "session": session_key(visitor), **_chat_state(customer)})


def _chat_state(customer: Customer | None) -> dict:
    """The history the page starts from, its catch-up cursor and the conversation's state."""
    if customer is None:
        return {"customer": None, "history": [], "cursor": None, "state": None}
    messages = selectors.customer_messages(customer=customer)
    conversation = selectors.conversation_open_for(customer=customer)
    return {
        "customer": {"name": customer.name, "verified": customer.verified},
        "history": [broadcast.message_payload(m, viewer=files.customer_viewer(customer.pk)) for m in messages],
        # The page holds every message of its conversations: catch up from the last.
        "cursor": {"conversation": messages[-1].conversation_id, "seq": messages[-1].seq} if messages else None,
        "state": broadcast.conversation_payload(
            conversation, queue_position=selectors.queue_position(conversation=conversation)
        )
        if conversation
        else None,
    }


def _visitor_from_header(request: HttpRequest) -> Visitor | None:
    """The endpoints take the token from a header that browsers never send on their
    own, which is what makes them safe without a CSRF token in a third-party frame."""
    return visitor_read(request.META.get(TOKEN_HEADER))


def _forbidden() -> JsonResponse:
    return _error(403, "forbidden", "Your chat session is not valid or has expired. Reload the page.")


@csrf_exempt
@require_POST
def chat_send(request: HttpRequest) -> JsonResponse:
    visitor = _visitor_from_header(request)
    if visitor is None:
        return _forbidden()
    if refused := ratelimit.message_refusal(request, visitor=session_key(visitor)):
        return refused
    payload = _json_body(request, limit=4 * settings.BATON_MAX_MESSAGE_CHARS + 1000)
    if payload is None:
        return _error(400, "bad_request", "Send a JSON object.")
    customer = selectors.customer_of(visitor)
    if customer is None and visitor.customer_id is not None:
        return _forbidden()  # the customer was erased
    handoff = payload.get("handoff") is True
    if customer is None:  # the visitor's first message (or call for a person) makes their row
        try:
            if not handoff:
                services.message_body_clean(payload.get("body"))  # no row for a refused message
        except ValidationError as e:
            return _error(400, e.code, e.messages[0])
        if refused := ratelimit.start_refusal(request):
            return refused
        customer = services.customer_for_visitor(visitor=visitor)
    if handoff:
        conversation = services.customer_request_handoff(customer=customer)
        return JsonResponse({"conversation": broadcast.conversation_payload(conversation)})
    try:
        message = services.message_post_from_customer(
            customer=customer, body=payload.get("body"), client_id=payload.get("client_id")
        )
    except ValidationError as e:
        return _error(400, e.code, e.messages[0])
    # The same answer for a message sent again (same client id): the one stored.
    return JsonResponse(
        {"message": broadcast.message_payload(message, viewer=files.customer_viewer(customer.pk))}, status=201
    )


@require_GET
def chat_history(request: HttpRequest) -> JsonResponse:
    """Catch-up over HTTP, for clients whose websocket is unavailable: as the
    socket's ``sync``, the messages after the cursor, the state, and the cursor."""
    visitor = _visitor_from_header(request)
    if visitor is None:
        return _forbidden()
    try:
        conversation_id = int(request.GET.get("conversation", "0"))
        after_seq = int(request.GET.get("after_seq", "0"))
    except ValueError:
        return _error(400, "bad_request", "Bad cursor.")
    if not (0 <= conversation_id < 2**62 and 0 <= after_seq < 2**31):
        return _error(400, "bad_request", "Bad cursor.")
    customer = selectors.customer_of(visitor)
    if customer is None:
        return JsonResponse({"messages": [], "conversation": None, "cursor": {"conversation": 0, "seq": 0}})
    catch_up = selectors.customer_catch_up(customer=customer, conversation_id=conversation_id, after_seq=after_seq)
    conversation = catch_up.conversation
    return JsonResponse(
        {
            "messages": [
                broadcast.message_payload(m, viewer=files.customer_viewer(customer.pk)) for m in catch_up.messages
            ],
            "conversation": broadcast.conversation_payload(conversation, queue_position=catch_up.queue_position)
            if conversation
            else None,
            "cursor": {"conversation": catch_up.cursor[0], "seq": catch_up.cursor[1]},
        }
    )


def _upload(request: HttpRequest) -> tuple[object, object, object]:
    """The form's file, caption and client id; a broken multipart body reads as no file."""
    try:
        return request.FILES.get("file"), request.POST.get("body"), request.POST.get("client_id")
    except MultiPartParserError:
        return None, None, None


@csrf_exempt  # the token comes in a header, as for chat_send
@require_POST
def chat_upload(request: HttpRequest) -> JsonResponse:
    """A file from the customer (multipart: ``file``, an optional ``body`` as its
    caption, ``client_id``), under the same session and rate limits as a message."""
    visitor = _visitor_from_header(request)
    if visitor is None:
        return _forbidden()
    if refused := ratelimit.message_refusal(request, visitor=session_key(visitor)):
        return refused
    customer = selectors.customer_of(visitor)
    if customer is None and visitor.customer_id is not None:
        return _forbidden()  # the customer was erased
    upload, caption, client_id = _upload(request)
    try:
        if customer is None:  # no row for a refused file
            services.caption_clean(caption)
            services.attachment_check(upload=upload)
            if refused := ratelimit.start_refusal(request):
                return refused
            customer = services.customer_for_visitor(visitor=visitor)
        message = services.message_post_file_from_customer(
            customer=customer, upload=upload, caption=caption, client_id=client_id
        )
    except ValidationError as e:
        return _error(413 if e.code == "file_too_large" else 400, e.code, e.messages[0])
    return JsonResponse(
        {"message": broadcast.message_payload(message, viewer=files.customer_viewer(customer.pk))}, status=201
    )
