"""What a file is, read from its bytes; the name shown for it; its signed links."""

import io
from urllib.parse import parse_qs, urlsplit

import pytest
import time_machine
from django.core import signing
from django.core.exceptions import ValidationError
from django.utils import timezone

from conversations import files
from tests.uploads import docx_bytes, image_bytes, pdf_bytes, zip_bytes

HTML = b"<!doctype html><html><body><script>alert(document.cookie)</script></body></html>"


def kind(data: bytes, name: str) -> files.Kind:
    return files.kind_of(io.BytesIO(data), name=name)


@pytest.mark.parametrize(
    ("fmt", "name", "expected"),
    [
        ("PNG", "a.png", files.PNG),
        ("JPEG", "a.jpeg", files.JPEG),
        ("GIF", "a.gif", files.GIF),
        ("WEBP", "a.webp", files.WEBP),
    ],
)
def test_images_are_known_by_their_content(fmt, name, expected):
    assert kind(image_bytes(fmt), name) == expected
    # The name is not what decides: a PNG called "photo" is a PNG.
    assert kind(image_bytes(fmt), "photo") == expected


def test_other_allowed_kinds():
    assert kind(pdf_bytes(), "report.pdf") == files.PDF
    assert kind(docx_bytes(), "letter.docx") == files.DOCX
    assert kind("naïve, text\n1,2\n".encode(), "table.csv") == files.CSV
    assert kind(b"just some notes\n", "notes") == files.TEXT
    assert kind(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 100, "old.xls") == files.XLS


def test_html_named_png_is_refused():
    with pytest.raises(ValidationError) as e:
        kind(HTML, "cat.png")
    assert e.value.code == "file_mismatch"
    assert ".png" in e.value.messages[0]


def test_png_header_in_front_of_html_is_not_an_image():
    with pytest.raises(ValidationError) as e:
        kind(b"\x89PNG\r\n\x1a\n" + HTML, "cat.png")
    assert e.value.code == "file_type"


def test_an_image_too_large_to_preview_is_refused(monkeypatch):
    monkeypatch.setattr(files, "MAX_IMAGE_PIXELS", 63)
    assert kind(image_bytes(size=(7, 9)), "ok.png") == files.PNG
    with pytest.raises(ValidationError) as e:
        kind(image_bytes(size=(8, 8)), "big.png")
    assert e.value.code == "image_too_large"
    assert "8 by 8 pixels" in e.value.messages[0]


def test_html_under_a_text_name_is_only_ever_plain_text():
    # Stored as text/plain, which the download serves as an attachment with nosniff.
    assert kind(HTML, "page.txt") == files.TEXT


@pytest.mark.parametrize(
    ("data", "name"),
    [
        (zip_bytes(), "archive.zip"),
        (b"MZ\x90\x00\x03\x00\x00\x00", "setup.exe"),
        (b"\x7fELF\x02\x01\x01\x00", "tool"),
        (b'<svg xmlns="http://www.w3.org/2000/svg"><script>x</script></svg>\x00', "logo.svg"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 100, "macro.msi"),
        ("text".encode("utf-16"), "utf16.txt"),
    ],
)
def test_kinds_off_the_allow_list_are_refused(data, name):
    with pytest.raises(ValidationError) as e:
        kind(data, name)
    assert "Only these files can be sent" in e.value.messages[0] or "Archives cannot" in e.value.messages[0]


def test_size_limits(settings):
    settings.BATON_ATTACHMENT_MAX_BYTES = 10 * 1024 * 1024
    files.size_check(10 * 1024 * 1024)
    with pytest.raises(ValidationError) as e:
        files.size_check(10 * 1024 * 1024 + 1)
    assert e.value.code == "file_too_large"
    assert e.value.messages[0].startswith("Files can be at most 10 MB")
    with pytest.raises(ValidationError) as e:
        files.size_check(0)
    assert e.value.code == "empty_file"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("report.pdf", "report.pdf"),
        ("../../etc/passwd.pdf", "passwd.pdf"),
        ("C:\\Users\\me\\Q3 report.pdf", "Q3 report.pdf"),
        ("invoice\u202efdp.exe", "invoice fdp.exe.pdf"),
        ("", "file.pdf"),
        ('<img src=x onerror="alert(1)">.pdf', "img src=x onerror= alert(1).pdf"),
        ("report", "report.pdf"),
        ("a" * 300 + ".pdf", "a" * 116 + ".pdf"),
    ],
)
def test_display_names_are_sanitised(raw, expected):
    assert files.display_name_of(raw, files.PDF) == expected


def _token(url: str) -> str:
    return parse_qs(urlsplit(url).query)["t"][0]


def test_a_link_is_for_one_file_and_one_viewer():
    token = _token(files.attachment_url(attachment_id=7, viewer=files.customer_viewer(3)))
    assert files.link_viewer(attachment_id=7, token=token) == "customer.3"
    with pytest.raises(files.LinkRefused, match="not for this file"):
        files.link_viewer(attachment_id=8, token=token)


@pytest.mark.parametrize(
    "forged",
    [
        lambda token: token[:-1] + ("A" if token[-1] != "A" else "B"),  # signature altered
        lambda token: signing.TimestampSigner(salt="another.purpose").sign_object({"a": 7, "v": "agents"}),
        lambda token: signing.TimestampSigner(key="not-our-key", salt=files.LINK_SALT).sign_object(
            {"a": 7, "v": "agents"}
        ),
        lambda token: "",
        lambda token: None,
    ],
)
def test_a_forged_link_is_refused(forged):
    token = _token(files.attachment_url(attachment_id=7, viewer=files.customer_viewer(3)))
    with pytest.raises(files.LinkRefused, match="not valid"):
        files.link_viewer(attachment_id=7, token=forged(token))


def test_a_link_expires(settings):
    settings.BATON_ATTACHMENT_LINK_SECONDS = 3600
    with time_machine.travel(timezone.now(), tick=False) as traveller:
        token = _token(files.attachment_url(attachment_id=7, viewer=files.AGENTS))
        traveller.shift(3599)
        assert files.link_viewer(attachment_id=7, token=token) == files.AGENTS
        traveller.shift(2)
        with pytest.raises(files.LinkRefused, match="expired"):
            files.link_viewer(attachment_id=7, token=token)
