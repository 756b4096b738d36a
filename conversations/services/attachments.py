"""Messages that carry a file: checked whole before anything is written, stored
through Django's storage API under a random name, then sent down the message
path every message takes (numbering, broadcasts, the SLA's first response, the
bot's turn), with the attachment row written in the message's transaction.

The file is written before that transaction (storage is not transactional) and
deleted again if the message is not stored, so a refused or repeated send
leaves nothing behind.
"""

import logging
import secrets
from collections.abc import Callable

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.utils import timezone

from conversations import files, selectors
from conversations.models import Attachment, Customer, Message
from conversations.services.messages import (
    _agent_message_store,
    _customer_message_store,
    _Repeated,
    client_id_clean,
    message_body_clean,
)

logger = logging.getLogger(__name__)


def caption_clean(caption: object) -> str:
    """A file's caption is optional; when given, it is held to a message's rules."""
    if caption is None or (isinstance(caption, str) and not caption.strip()):
        return ""
    return message_body_clean(caption)


def attachment_check(*, upload: object) -> Attachment:
    """The attachment to store for this upload (unsaved, no file written yet), or a
    ValidationError saying what is wrong with it."""
    if not isinstance(upload, UploadedFile):
        raise ValidationError("Choose a file to send.", code="no_file")
    files.size_check(upload.size or 0)
    kind = files.kind_of(upload, name=upload.name or "")
    return Attachment(
        name=files.display_name_of(upload.name, kind),
        content_type=kind.content_type,
        size=upload.size,
        created_at=timezone.now(),
    )


def _file_write(attachment: Attachment, upload: UploadedFile) -> None:
    """Under a random name (the sender's name is never a path), by month."""
    now = attachment.created_at
    extension = files.KNOWN_EXTENSIONS_BY_TYPE[attachment.content_type]
    upload.seek(0)
    attachment.file = default_storage.save(f"attachments/{now:%Y/%m}/{secrets.token_urlsafe(24)}.{extension}", upload)


def _file_drop(attachment: Attachment) -> None:
    try:
        default_storage.delete(attachment.file.name)
    except Exception:  # never hide the error that brought us here
        logger.warning("could not delete attachment file %s", attachment.file.name, exc_info=True)


def _message_with_file(
    attachment: Attachment,
    upload,
    *,
    client_id: str,
    store: Callable[[], Message],
    earlier: Callable[[], Message | None],
) -> Message:
    """Write the file, then the message that carries it. A ``client_id`` already
    stored returns that message; the file is dropped again whenever no row keeps it
    (a repeat that raced this one, a failed write)."""
    if client_id and (repeated := earlier()):
        return repeated
    _file_write(attachment, upload)
    try:
        message = store()
    except _Repeated:
        _file_drop(attachment)
        return earlier()
    except BaseException:
        _file_drop(attachment)
        raise
    if attachment.pk is None:  # an earlier message under this client id came back
        _file_drop(attachment)
    return message


def message_post_file_from_customer(
    *, customer: Customer, upload: object, caption: object = "", client_id: object = ""
) -> Message:
    """Store the customer's file as a message (``caption`` its body). A
    ``client_id`` already stored returns that message and stores no file."""
    caption = caption_clean(caption)
    client_id = client_id_clean(client_id)
    attachment = attachment_check(upload=upload)
    return _message_with_file(
        attachment,
        upload,
        client_id=client_id,
        store=lambda: _customer_message_store(
            customer=customer, body=caption, client_id=client_id, attachment=attachment
        ),
        earlier=lambda: selectors.customer_message_by_client_id(customer=customer, client_id=client_id),
    )


def message_post_file_from_agent(
    *, conversation_id: int, agent: AbstractBaseUser, upload: object, caption: object = "", client_id: object = ""
) -> Message:
    """Store the assigned agent's file as a reply; PermissionDenied for anyone else
    (checked by the same conditional write as a text reply)."""
    caption = caption_clean(caption)
    client_id = client_id_clean(client_id)
    attachment = attachment_check(upload=upload)
    return _message_with_file(
        attachment,
        upload,
        client_id=client_id,
        store=lambda: _agent_message_store(
            conversation_id=conversation_id, agent=agent, body=caption, client_id=client_id, attachment=attachment
        ),
        earlier=lambda: selectors.message_by_client_id(conversation_id=conversation_id, client_id=client_id),
    )


def attachments_delete(*, conversation_ids: list[int]) -> int:
    """Delete the files of these conversations (erasure, retention): the rows now,
    the stored files once the transaction commits (a rollback keeps both)."""
    rows = Attachment.objects.filter(message__conversation_id__in=conversation_ids)
    names = list(rows.values_list("file", flat=True))
    if not names:
        return 0
    rows.delete()
    transaction.on_commit(lambda: [_file_drop(Attachment(file=name)) for name in names], robust=True)
    return len(names)
