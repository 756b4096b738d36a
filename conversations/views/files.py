"""Attachments' downloads: only through a link signed for one viewer of one file
(conversations/files.py), re-checked against the file's conversation, and served
so that no file can run as a page of this site: its stored type, ``nosniff``, a
policy that allows nothing, and ``Content-Disposition: attachment`` for all but
raster images."""

from django.core.files.storage import default_storage
from django.http import FileResponse, HttpRequest, HttpResponse
from django.views.decorators.http import require_GET

from conversations import files, selectors

# What a served file may do when opened on its own: nothing (no script, no
# styles, no framing), in a sandbox.
FILE_POLICY = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'; sandbox"


def _locked(response: HttpResponse) -> HttpResponse:
    response["Content-Security-Policy"] = FILE_POLICY
    response["X-Content-Type-Options"] = "nosniff"
    response["Cross-Origin-Resource-Policy"] = "same-origin"
    response["Cache-Control"] = "private, no-store"
    return response


def _refused(status: int, message: str) -> HttpResponse:
    return _locked(HttpResponse(message, status=status, content_type="text/plain; charset=utf-8"))


@require_GET
def attachment_download(request: HttpRequest, pk: int) -> HttpResponse:
    try:
        viewer = files.link_viewer(attachment_id=pk, token=request.GET.get("t"))
    except files.LinkRefused as e:
        return _refused(e.status, str(e))
    attachment = selectors.attachment_with_conversation(attachment_id=pk)
    if attachment is None:
        return _refused(404, "This file no longer exists.")
    if viewer == files.AGENTS:
        if not request.user.is_authenticated:
            return _refused(403, "Sign in to open this file.")
    elif viewer != files.customer_viewer(attachment.message.conversation.customer_id):
        return _refused(403, "This link is not for this file.")
    try:
        handle = default_storage.open(attachment.file.name, "rb")
    except OSError:
        return _refused(404, "This file no longer exists.")
    response = FileResponse(
        handle,
        as_attachment=not attachment.previewable,
        filename=attachment.name,
        content_type=attachment.content_type,
    )
    return _locked(response)
