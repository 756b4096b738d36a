"""Attachments over HTTP: the customer's and the agent's uploads (who may send),
and downloads (only with a valid, unexpired link for that file and viewer)."""

from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
import time_machine
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from conversations import files, services
from conversations.identity import customer_token_make, visitor_token_make
from conversations.models import Attachment, Conversation, Customer, Message
from tests.factories import ConversationFactory
from tests.sessions import session_open
from tests.uploads import image_bytes, pdf_bytes, upload

pytestmark = pytest.mark.django_db
MB = 1024 * 1024


def _upload(token, file, **fields):
    return Client().post(
        reverse("chat-upload"), {"file": file, **fields}, headers={"X-Baton-Token": token} if token else {}
    )


def _assigned(customer, agent) -> Conversation:
    conversation = ConversationFactory(customer=customer, pending=True)
    services.conversation_accept(conversation_id=conversation.pk, agent=agent)
    return conversation


def _customer_file(customer, data=None, name="a.png") -> Attachment:
    message = services.message_post_file_from_customer(customer=customer, upload=upload(name, data or image_bytes()))
    return message.attachment


def _link(attachment, viewer) -> str:
    return files.attachment_url(attachment_id=attachment.pk, viewer=viewer)


# --- The customer's upload ---------------------------------------------------------


def test_the_customer_uploads_with_their_session_token(customer, customer_token, media):
    response = _upload(customer_token, upload("shot.png", image_bytes(), "image/png"), body="see", client_id="u1")
    assert response.status_code == 201
    message = response.json()["message"]
    assert (message["body"], message["client_id"]) == ("see", "u1")
    attachment = message["attachment"]
    assert (attachment["name"], attachment["image"], attachment["content_type"]) == ("shot.png", True, "image/png")
    # The link the customer got is theirs: it opens the file.
    downloaded = Client().get(attachment["url"])
    assert downloaded.status_code == 200
    assert b"".join(downloaded.streaming_content) == image_bytes()


def test_a_new_visitors_first_file_makes_their_row(media):
    token = visitor_token_make()
    assert _upload(token, upload("a.pdf", pdf_bytes())).status_code == 201
    assert Customer.objects.count() == 1
    assert Message.objects.get().attachment.content_type == "application/pdf"


def test_a_new_visitors_refused_file_makes_no_row(media):
    response = _upload(visitor_token_make(), upload("a.png", b"<html></html>"))
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "file_mismatch"
    assert not Customer.objects.exists()


@pytest.mark.parametrize("token", [None, "", "forged.token.value"])
def test_an_upload_without_a_valid_token_is_refused(token, media):
    response = _upload(token, upload("a.pdf", pdf_bytes()))
    assert response.status_code == 403
    assert "not valid" in response.json()["error"]["message"]
    assert not Message.objects.exists()
    assert not media.exists() or not list(media.rglob("*.pdf"))


def test_a_file_goes_to_the_senders_own_conversation_only(customer, other_customer, media):
    theirs = ConversationFactory(customer=other_customer)
    response = _upload(customer_token_make(customer_id=customer.pk), upload("a.pdf", pdf_bytes()))
    assert response.status_code == 201
    assert response.json()["message"]["conversation"] != theirs.pk
    assert not theirs.messages.exists()


def test_an_oversized_file_is_refused_with_the_limit_named(customer_token, media, settings):
    settings.BATON_ATTACHMENT_MAX_BYTES = 1 * MB
    response = _upload(customer_token, upload("big.pdf", pdf_bytes(padding=MB)))
    assert response.status_code == 413
    assert response.json()["error"]["message"].startswith("Files can be at most 1 MB")
    assert not Message.objects.exists()


def test_an_upload_with_no_file_or_a_broken_body_is_refused(customer_token, media):
    assert _upload(customer_token, "").json()["error"]["code"] == "no_file"
    broken = Client().post(
        reverse("chat-upload"),
        data=b"--x\r\nContent-Disposition: form-data; name=file; filename=a.pdf\r\n\r\n%PDF-",
        content_type="multipart/form-data; boundary=",
        headers={"X-Baton-Token": customer_token},
    )
    assert broken.status_code == 400
    assert not Message.objects.exists()


def test_uploads_count_against_the_message_rate_limit(customer_token, media, rate_limits):
    rate_limits.BATON_RATELIMIT_MESSAGES_PER_S = 1
    rate_limits.BATON_RATELIMIT_MESSAGES_BURST = 2
    statuses = [_upload(customer_token, upload("a.pdf", pdf_bytes())).status_code for _ in range(3)]
    assert statuses == [201, 201, 429]
    assert Message.objects.count() == 2


# --- The agent's upload ----------------------------------------------------------


def _attach(client, conversation, file):
    return client.post(
        reverse("inbox-attach", args=[conversation.pk]), {"file": file}, headers={"Accept": "application/json"}
    )


def test_the_assigned_agent_sends_a_file(customer, agent, agent_client, media):
    conversation = _assigned(customer, agent)
    response = _attach(agent_client, conversation, upload("guide.pdf", pdf_bytes()))
    assert response.status_code == 201
    attachment = response.json()["message"]["attachment"]
    assert (attachment["name"], attachment["image"]) == ("guide.pdf", False)
    assert agent_client.get(attachment["url"]).status_code == 200


def test_another_agent_cannot_send_a_file(customer, agent, other_agent, media):
    conversation = _assigned(customer, agent)
    client = Client()
    client.force_login(other_agent)
    response = _attach(client, conversation, upload("guide.pdf", pdf_bytes()))
    assert response.status_code == 403
    assert not Attachment.objects.exists()


def test_an_anonymous_agent_upload_goes_to_sign_in(customer, agent, media):
    conversation = _assigned(customer, agent)
    response = _attach(Client(), conversation, upload("guide.pdf", pdf_bytes()))
    assert response.status_code == 302 and "/login/" in response["Location"]
    assert not Attachment.objects.exists()


def test_the_agent_upload_needs_the_csrf_token(customer, agent, media):
    conversation = _assigned(customer, agent)
    client = Client(enforce_csrf_checks=True)
    client.force_login(agent)
    assert _attach(client, conversation, upload("guide.pdf", pdf_bytes())).status_code == 403
    assert not Attachment.objects.exists()


# --- Downloads -------------------------------------------------------------------


def test_an_image_is_served_inline_and_locked_down(customer, media):
    attachment = _customer_file(customer)
    response = Client().get(_link(attachment, files.customer_viewer(customer.pk)))
    assert response.status_code == 200
    assert response["Content-Type"] == "image/png"
    assert response["Content-Disposition"].startswith("inline")
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Content-Security-Policy"].startswith("default-src 'none'")


def test_everything_else_is_a_download_of_its_stored_type(customer, media):
    attachment = _customer_file(customer, b"<html><script>alert(1)</script></html>", name="page.txt")
    response = Client().get(_link(attachment, files.customer_viewer(customer.pk)))
    assert response.status_code == 200
    assert response["Content-Type"] == "text/plain"
    assert response["Content-Disposition"] == 'attachment; filename="page.txt"'
    assert response["X-Content-Type-Options"] == "nosniff"


def test_an_agents_link_needs_a_signed_in_agent(customer, agent_client, media):
    attachment = _customer_file(customer)
    link = _link(attachment, files.AGENTS)
    assert agent_client.get(link).status_code == 200
    refused = Client().get(link)
    assert refused.status_code == 403
    assert refused.content == b"Sign in to open this file."


def test_an_expired_link_is_refused_with_a_clear_message(customer, media, settings):
    attachment = _customer_file(customer)
    with time_machine.travel(timezone.now(), tick=False) as traveller:
        link = _link(attachment, files.customer_viewer(customer.pk))
        traveller.shift(timedelta(seconds=settings.BATON_ATTACHMENT_LINK_SECONDS + 1))
        response = Client().get(link)
    assert response.status_code == 403
    assert b"expired" in response.content
    assert response["Content-Type"].startswith("text/plain")


def test_a_tampered_link_is_refused(customer, media):
    attachment = _customer_file(customer)
    link = _link(attachment, files.customer_viewer(customer.pk))
    token = parse_qs(urlsplit(link).query)["t"][0]
    tampered = f"{urlsplit(link).path}?t={token[:-2]}xx"
    assert Client().get(tampered).status_code == 403
    assert Client().get(urlsplit(link).path).status_code == 403  # no token at all


def test_a_link_cannot_be_moved_to_another_file(customer, other_customer, media):
    mine = _customer_file(customer)
    theirs = _customer_file(other_customer)
    token = parse_qs(urlsplit(_link(mine, files.customer_viewer(customer.pk))).query)["t"][0]
    response = Client().get(reverse("attachment", args=[theirs.pk]), {"t": token})
    assert response.status_code == 403
    assert response.content == b"This link is not for this file."


def test_a_link_for_another_customer_does_not_open_this_customers_file(customer, other_customer, media):
    theirs = _customer_file(other_customer)
    # A link correctly signed for this file, but for the wrong customer.
    response = Client().get(_link(theirs, files.customer_viewer(customer.pk)))
    assert response.status_code == 403
    assert response.content == b"This link is not for this file."


def test_a_deleted_files_link_says_so(customer, media):
    attachment = _customer_file(customer)
    link = _link(attachment, files.customer_viewer(customer.pk))
    Message.objects.filter(pk=attachment.message_id).delete()
    response = Client().get(link)
    assert response.status_code == 404
    assert response.content == b"This file no longer exists."


def _viewer(url: str) -> str:
    token = parse_qs(urlsplit(url).query)["t"][0]
    return files.link_viewer(attachment_id=Attachment.objects.get().pk, token=token)


def test_pages_carry_links_signed_for_their_viewer(customer, agent, agent_client, media):
    conversation = _assigned(customer, agent)
    _customer_file(customer)
    page = agent_client.get(reverse("inbox-conversation", args=[conversation.pk]))
    agents_url = next(m["attachment"]["url"] for m in page.context["history"] if "attachment" in m)
    assert _viewer(agents_url) == files.AGENTS
    session = session_open(token=customer_token_make(customer_id=customer.pk)).json()
    customers_url = next(m["attachment"]["url"] for m in session["history"] if "attachment" in m)
    assert _viewer(customers_url) == files.customer_viewer(customer.pk)
    caught_up = Client().get(
        reverse("chat-history"),
        {"conversation": 0},
        headers={"X-Baton-Token": customer_token_make(customer_id=customer.pk)},
    )
    assert _viewer(caught_up.json()["messages"][-1]["attachment"]["url"]) == files.customer_viewer(customer.pk)
