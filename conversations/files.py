"""Attachments' rules, with no writes: what a file is (read from its content, never
from the name or Content-Type the browser sent), the name shown for it, and the
signed, expiring links through which each viewer fetches it.

A link names its attachment and its viewer (``agents``, or ``customer.<id>``) and
is signed with a salt of its own (``TimestampSigner``), so it can be neither
forged nor moved to another file, and it stops working after
``BATON_ATTACHMENT_LINK_SECONDS``; pages and live events sign fresh ones.
"""

import re
import unicodedata
import zipfile
from dataclasses import dataclass
from typing import IO

from django.conf import settings
from django.core import signing
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils.http import urlencode

LINK_SALT = "baton.attachment.link"
AGENTS = "agents"


@dataclass(frozen=True)
class Kind:
    content_type: str
    extension: str


PNG = Kind("image/png", "png")
JPEG = Kind("image/jpeg", "jpg")
GIF = Kind("image/gif", "gif")
WEBP = Kind("image/webp", "webp")
PDF = Kind("application/pdf", "pdf")
TEXT = Kind("text/plain", "txt")
CSV = Kind("text/csv", "csv")
DOCX = Kind("application/vnd.openxmlformats-officedocument.wordprocessingml.document", "docx")
XLSX = Kind("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "xlsx")
PPTX = Kind("application/vnd.openxmlformats-officedocument.presentationml.presentation", "pptx")
ODT = Kind("application/vnd.oasis.opendocument.text", "odt")
ODS = Kind("application/vnd.oasis.opendocument.spreadsheet", "ods")
ODP = Kind("application/vnd.oasis.opendocument.presentation", "odp")
DOC = Kind("application/msword", "doc")
XLS = Kind("application/vnd.ms-excel", "xls")
PPT = Kind("application/vnd.ms-powerpoint", "ppt")
KINDS = (PNG, JPEG, GIF, WEBP, PDF, TEXT, CSV, DOCX, XLSX, PPTX, ODT, ODS, ODP, DOC, XLS, PPT)
# The extensions a name may end in for each kind (a .jpeg is a JPEG too).
EXTENSIONS = {kind: {kind.extension} for kind in KINDS} | {JPEG: {"jpg", "jpeg"}, TEXT: {"txt", "text", "log"}}
KNOWN_EXTENSIONS_BY_TYPE = {kind.content_type: kind.extension for kind in KINDS}
KNOWN_EXTENSIONS = {ext: kind for kind, exts in EXTENSIONS.items() for ext in exts}

ALLOWED_DESCRIPTION = "images (PNG, JPEG, GIF, WebP), PDF, text or CSV, and Office or OpenDocument files"
_IMAGE_FORMATS = {"PNG": PNG, "JPEG": JPEG, "GIF": GIF, "WEBP": WEBP}
_OOXML = {"word/": DOCX, "xl/": XLSX, "ppt/": PPTX}
_ODF = {ODT.content_type: ODT, ODS.content_type: ODS, ODP.content_type: ODP}
_IMAGE_MAGIC = (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"GIF87a", b"GIF89a")
_OLE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
# Text may hold tabs, line ends and form feeds, not other control characters.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f]")
# Direction overrides and isolates would make "gpj.exe" read as "exe.jpg".
_UNSAFE_IN_NAMES = re.compile(r"[\x00-\x1f\x7f\u200e\u200f\u202a-\u202e\u2066-\u2069\\/:*?\"<>|]")
MAX_NAME_CHARS = 120
MAX_IMAGE_PIXELS = 50_000_000


def _refused(message: str, code: str = "file_type") -> ValidationError:
    return ValidationError(message, code=code)


def _image(file: IO[bytes]) -> Kind:
    """Pillow opens and verifies the whole image; a PNG header before HTML fails here."""
    from PIL import Image

    try:
        file.seek(0)
        with Image.open(file) as image:
            width, height = image.size
            image.verify()
            kind = _IMAGE_FORMATS.get(image.format or "")
    except Exception:  # Pillow raises many kinds for a damaged or hostile image (and bombs)
        raise _refused("This image is damaged or not really an image.") from None
    if width * height > MAX_IMAGE_PIXELS:
        # A few MB of PNG can unpack to gigabytes in the browser that previews it.
        raise _refused(f"This image is too large to show ({width:,} by {height:,} pixels).", "image_too_large")
    if kind is None:
        raise _refused(f"Only these files can be sent: {ALLOWED_DESCRIPTION}.")
    return kind


def _zipped(file: IO[bytes]) -> Kind:
    try:
        file.seek(0)
        with zipfile.ZipFile(file) as archive:
            names = archive.namelist()
            if "[Content_Types].xml" in names:
                for prefix, kind in _OOXML.items():
                    if any(n.startswith(prefix) for n in names):
                        return kind
            elif "mimetype" in names and archive.getinfo("mimetype").file_size < 100:
                kind = _ODF.get(archive.read("mimetype").decode("ascii", "replace").strip())
                if kind is not None:
                    return kind
    except (zipfile.BadZipFile, OSError, ValueError, KeyError):
        raise _refused("This file is damaged.") from None
    raise _refused(f"Archives cannot be sent; only {ALLOWED_DESCRIPTION}.")


def _text(file: IO[bytes], extension: str) -> Kind:
    file.seek(0)
    try:
        text = file.read().decode("utf-8")
    except UnicodeDecodeError:
        raise _refused(f"Only these files can be sent: {ALLOWED_DESCRIPTION}.") from None
    if _CONTROL.search(text):
        raise _refused(f"Only these files can be sent: {ALLOWED_DESCRIPTION}.")
    return CSV if extension == "csv" else TEXT


def kind_of(file: IO[bytes], *, name: str) -> Kind:
    """What the file is, from its bytes; a ValidationError for anything not on the
    allow-list, or whose name claims a kind its content is not (a ".png" of HTML)."""
    file.seek(0)
    head = file.read(16)
    extension = extension_of(name)
    if head.startswith(_IMAGE_MAGIC) or (head[:4] == b"RIFF" and head[8:12] == b"WEBP"):
        kind = _image(file)
    elif head.startswith(b"%PDF-"):
        kind = PDF
    elif head.startswith(b"PK\x03\x04"):
        kind = _zipped(file)
    elif head.startswith(_OLE):
        # The old Office formats share one container; the name says which it is.
        kind = {"doc": DOC, "xls": XLS, "ppt": PPT}.get(extension)
        if kind is None:
            raise _refused(f"Only these files can be sent: {ALLOWED_DESCRIPTION}.")
    else:
        kind = _text(file, extension)
    claimed = KNOWN_EXTENSIONS.get(extension)
    if claimed is not None and claimed != kind and {claimed, kind} != {TEXT, CSV}:
        raise _refused(f"This file is named .{extension} but its content is not; it was not sent.", "file_mismatch")
    file.seek(0)
    return kind


def size_check(size: int) -> None:
    limit = settings.BATON_ATTACHMENT_MAX_BYTES
    if size <= 0:
        raise _refused("This file is empty.", "empty_file")
    if size > limit:
        raise _refused(
            f"Files can be at most {human_size(limit)} (this one is {human_size(size)}).",
            "file_too_large",
        )


def human_size(size: int) -> str:
    if size < 1024:
        return f"{size} bytes"
    if size < 1024 * 1024:
        return f"{size / 1024:.0f} KB"
    return f"{size / (1024 * 1024):.1f} MB".replace(".0 MB", " MB")


def extension_of(name: str) -> str:
    stem, dot, ext = name.rpartition(".")
    return ext.lower() if dot and stem else ""


def display_name_of(raw: object, kind: Kind) -> str:
    """The sender's file name, safe to show and to offer as a download name: no
    folders, control or direction characters, at most MAX_NAME_CHARS, and ending
    in an extension of what the file is."""
    name = unicodedata.normalize("NFC", raw if isinstance(raw, str) else "")
    name = re.split(r"[\\/]", name)[-1]
    name = " ".join(_UNSAFE_IN_NAMES.sub(" ", name).split()).strip(" .")
    if extension_of(name) not in EXTENSIONS[kind]:
        name = f"{name or 'file'}.{kind.extension}"
    stem, _, ext = name.rpartition(".")
    return f"{stem[: MAX_NAME_CHARS - len(ext) - 1].rstrip(' .') or 'file'}.{ext}"


# --- Links ------------------------------------------------------------------------


def customer_viewer(customer_id: int) -> str:
    return f"customer.{customer_id}"


def attachment_url(*, attachment_id: int, viewer: str) -> str:
    token = signing.TimestampSigner(salt=LINK_SALT).sign_object({"a": attachment_id, "v": viewer})
    return f"{reverse('attachment', args=[attachment_id])}?{urlencode({'t': token})}"


class LinkRefused(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


def link_viewer(*, attachment_id: int, token: object) -> str:
    """The viewer a link was signed for, if it is for this attachment and unexpired."""
    if not isinstance(token, str) or not token:
        raise LinkRefused(403, "This link is not valid. Open the file from the conversation.")
    try:
        data = signing.TimestampSigner(salt=LINK_SALT).unsign_object(
            token, max_age=settings.BATON_ATTACHMENT_LINK_SECONDS
        )
    except signing.SignatureExpired:
        raise LinkRefused(403, "This link has expired. Reload the conversation to get a new one.") from None
    except signing.BadSignature:
        raise LinkRefused(403, "This link is not valid. Open the file from the conversation.") from None
    if not isinstance(data, dict) or data.get("a") != attachment_id or not isinstance(data.get("v"), str):
        raise LinkRefused(403, "This link is not for this file.")
    return data["v"]
