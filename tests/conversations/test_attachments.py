"""conversations.services.attachments: files sent as messages, checked whole
before anything is written, and the links each side receives."""

from urllib.parse import parse_qs, urlsplit

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from conversations import broadcast, files, services
from conversations.models import Attachment, Conversation, Message
from tests.factories import ConversationFactory
from tests.uploads import image_bytes, pdf_bytes, upload

Status = Conversation.Status
MB = 1024 * 1024


def _stored_files(media) -> list:
    return [p for p in media.rglob("*") if p.is_file()] if media.exists() else []


def _assigned(customer, agent) -> Conversation:
    conversation = ConversationFactory(customer=customer, pending=True)
    services.conversation_accept(conversation_id=conversation.pk, agent=agent)
    return conversation


def _viewer(url: str) -> str:
    attachment_id = int(urlsplit(url).path.rstrip("/").split("/")[-1])
    return files.link_viewer(attachment_id=attachment_id, token=parse_qs(urlsplit(url).query)["t"][0])


def test_a_customers_image_is_stored_under_a_random_name(customer, media):
    message = services.message_post_file_from_customer(
        customer=customer, upload=upload("holiday photo.png", image_bytes(), "image/png"), caption="  my screen "
    )
    attachment = Attachment.objects.get(message=message)
    assert (message.sender, message.body) == (Message.Sender.CUSTOMER, "my screen")
    assert (attachment.name, attachment.content_type, attachment.size) == (
        "holiday photo.png",
        "image/png",
        len(image_bytes()),
    )
    stored = _stored_files(media)
    assert [p.name for p in stored] == [attachment.file.name.split("/")[-1]]
    assert "holiday" not in attachment.file.name
    assert stored[0].read_bytes() == image_bytes()


def test_the_type_is_the_contents_not_the_browsers_claim(customer, media):
    message = services.message_post_file_from_customer(
        customer=customer, upload=upload("scan", pdf_bytes(), "image/png")
    )
    assert message.attachment.content_type == "application/pdf"
    assert message.attachment.name == "scan.pdf"


def test_a_png_that_is_really_html_is_refused_and_nothing_kept(customer, media):
    with pytest.raises(ValidationError) as e:
        services.message_post_file_from_customer(
            customer=customer, upload=upload("cat.png", b"<html><script>alert(1)</script></html>", "image/png")
        )
    assert e.value.code == "file_mismatch"
    assert not Message.objects.exists()
    assert _stored_files(media) == []


def test_an_empty_file_is_refused(customer, media):
    with pytest.raises(ValidationError, match="This file is empty"):
        services.message_post_file_from_customer(customer=customer, upload=upload("empty.txt", b""))
    assert not Message.objects.exists()
    assert _stored_files(media) == []


def test_no_file_is_refused(customer, media):
    with pytest.raises(ValidationError, match="Choose a file"):
        services.message_post_file_from_customer(customer=customer, upload=None)


def test_exactly_the_limit_is_stored_one_byte_more_is_refused(customer, media, settings):
    settings.BATON_ATTACHMENT_MAX_BYTES = 10 * MB
    at_limit = pdf_bytes(padding=10 * MB - len(pdf_bytes()))
    assert len(at_limit) == 10 * MB
    message = services.message_post_file_from_customer(customer=customer, upload=upload("big.pdf", at_limit))
    assert message.attachment.size == 10 * MB
    with pytest.raises(ValidationError) as e:
        services.message_post_file_from_customer(customer=customer, upload=upload("bigger.pdf", at_limit + b"%"))
    assert e.value.code == "file_too_large"
    assert "at most 10 MB" in e.value.messages[0]
    assert Message.objects.count() == 1
    assert len(_stored_files(media)) == 1


def test_a_caption_is_held_to_a_messages_limit(customer, media, settings):
    with pytest.raises(ValidationError) as e:
        services.message_post_file_from_customer(
            customer=customer,
            upload=upload("a.pdf", pdf_bytes()),
            caption="x" * (settings.BATON_MAX_MESSAGE_CHARS + 1),
        )
    assert e.value.code == "too_long"
    assert _stored_files(media) == []


def test_sending_again_stores_one_message_and_one_file(customer, media):
    first = services.message_post_file_from_customer(
        customer=customer, upload=upload("a.pdf", pdf_bytes()), client_id="c1"
    )
    again = services.message_post_file_from_customer(
        customer=customer, upload=upload("a.pdf", pdf_bytes()), client_id="c1"
    )
    assert again.pk == first.pk
    assert again.attachment.pk == first.attachment.pk
    assert len(_stored_files(media)) == 1


def test_a_file_without_caption_goes_to_a_person_not_the_bot(customer, media, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):  # the bot's turn runs after the commit
        message = services.message_post_file_from_customer(customer=customer, upload=upload("a.png", image_bytes()))
    conversation = Conversation.objects.get(pk=message.conversation_id)
    assert conversation.status == Status.PENDING_HANDOFF
    assert conversation.handoff_reason == Conversation.HandoffReason.FILE_SENT
    assert not conversation.messages.filter(sender=Message.Sender.BOT).exists()


def test_the_assigned_agent_sends_a_file_and_it_counts_as_the_first_reply(customer, agent, media):
    conversation = _assigned(customer, agent)
    reply = services.message_post_file_from_agent(
        conversation_id=conversation.pk, agent=agent, upload=upload("guide.pdf", pdf_bytes())
    )
    assert (reply.sender, reply.agent, reply.body) == (Message.Sender.AGENT, agent, "")
    assert reply.attachment.content_type == "application/pdf"
    conversation.refresh_from_db()
    assert conversation.first_agent_reply_at is not None
    assert reply.seq == conversation.last_seq


def test_another_agent_cannot_send_a_file_and_leaves_none(customer, agent, other_agent, media):
    conversation = _assigned(customer, agent)
    with pytest.raises(PermissionDenied):
        services.message_post_file_from_agent(
            conversation_id=conversation.pk, agent=other_agent, upload=upload("guide.pdf", pdf_bytes())
        )
    assert not Attachment.objects.exists()
    assert _stored_files(media) == []


def test_each_side_hears_the_file_with_a_link_of_its_own(
    customer, agent, media, monkeypatch, django_capture_on_commit_callbacks
):
    conversation = _assigned(customer, agent)
    sent = []
    monkeypatch.setattr(broadcast, "_send_many", sent.extend)
    with django_capture_on_commit_callbacks(execute=True):
        services.message_post_file_from_customer(customer=customer, upload=upload("a.png", image_bytes()))
    by_group = {group: event for groups, event in sent for group in groups}
    to_customer = by_group[broadcast.customer_group(customer.pk)]["message"]["attachment"]
    to_agents = by_group[broadcast.conversation_group(conversation.pk)]["message"]["attachment"]
    assert by_group[broadcast.INBOX_MESSAGES_GROUP]["message"]["attachment"] == to_agents
    assert to_customer["image"] is True and to_customer["name"] == "a.png"
    assert _viewer(to_customer["url"]) == files.customer_viewer(customer.pk)
    assert _viewer(to_agents["url"]) == files.AGENTS


def test_history_carries_the_attachment_without_a_query_per_message(customer, media, django_assert_num_queries):
    from conversations import selectors

    for name in ("a.pdf", "b.pdf", "c.pdf"):
        services.message_post_file_from_customer(customer=customer, upload=upload(name, pdf_bytes()), caption="x")
    with django_assert_num_queries(2):
        messages = selectors.customer_messages(customer=customer)
        payloads = [broadcast.message_payload(m, viewer=files.customer_viewer(customer.pk)) for m in messages]
    names = [p["attachment"]["name"] for p in payloads if "attachment" in p]
    assert names == ["a.pdf", "b.pdf", "c.pdf"]
