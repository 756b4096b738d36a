import pytest
from django.core.management import CommandError, call_command

from knowledge import bot
from knowledge.documents import entries_from_path
from knowledge.models import Chunk, Entry
from knowledge.services import KbFormatError, entry_chunks

ARTICLE = """# Syncing files

Nimbus keeps a folder in sync on every device you sign in to.

## Pausing sync

Click the Nimbus icon in the menu bar and choose Pause. Syncing resumes when you choose Resume or restart.

## Syncing over mobile data

On phones, uploads wait for Wi-Fi unless you turn on Use mobile data in Settings.
"""

PAGE = """<html><head><title>Refund policy</title><style>h1 {color: red}</style></head>
<body><nav>Home | Help</nav><h1>Refunds</h1><p>Yearly plans are refunded in full within <b>14 days</b>.</p>
<h2>Monthly plans</h2><ul><li>Not refunded once the month started.</li></ul><script>track()</script></body></html>"""


def test_a_markdown_article_is_one_entry_whose_passages_keep_their_headings(tmp_path):
    (tmp_path / "sync.md").write_text(ARTICLE)
    [entry] = entries_from_path(tmp_path / "sync.md")
    assert entry.title == "Syncing files"
    assert entry.external_id == "sync"
    embedded = {shown: text for kind, shown, text in entry_chunks(entry) if kind == "passage"}
    pausing = next(shown for shown in embedded if shown.startswith("Click the Nimbus icon"))
    assert embedded[pausing].startswith("Syncing files > Pausing sync\n")


def test_an_html_page_keeps_text_and_headings_and_drops_scripts_and_navigation(tmp_path):
    (tmp_path / "refunds.html").write_text(PAGE)
    [entry] = entries_from_path(tmp_path / "refunds.html")
    assert entry.title == "Refunds"
    assert "14 days" in entry.body and "## Monthly plans" in entry.body
    assert "track()" not in entry.body and "color: red" not in entry.body and "Home | Help" not in entry.body


def test_a_folder_imports_every_supported_file_with_ids_from_their_paths(tmp_path):
    (tmp_path / "billing").mkdir()
    (tmp_path / "billing" / "refunds.html").write_text(PAGE)
    (tmp_path / "sync.md").write_text(ARTICLE)
    (tmp_path / "notes.txt").write_text("Plain text answers work too.")
    (tmp_path / "logo.png").write_bytes(b"\\x89PNG")
    entries = entries_from_path(tmp_path)
    assert [e.external_id for e in entries] == ["billing-refunds", "notes", "sync"]
    assert entries[1].title == "Notes"


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [("empty.md", "# Only a title\n", "the document is empty"), ("data.csv", "a,b", "unsupported file type")],
)
def test_bad_documents_get_a_clear_error(tmp_path, name, content, message):
    (tmp_path / name).write_text(content)
    with pytest.raises(KbFormatError, match=message):
        entries_from_path(tmp_path / name)


@pytest.mark.django_db
def test_import_kb_takes_a_folder_and_the_bot_answers_from_the_right_passage(tmp_path):
    (tmp_path / "sync.md").write_text(ARTICLE)
    (tmp_path / "refunds.html").write_text(PAGE)
    call_command("import_kb", str(tmp_path), verbosity=0)
    assert set(Entry.objects.values_list("external_id", flat=True)) == {"sync", "refunds"}
    reply = bot.answer("How do I pause syncing?")
    assert reply.sources[0]["id"] == "sync"
    assert reply.text.startswith("Click the Nimbus icon")


@pytest.mark.django_db
def test_re_importing_an_edited_article_removes_its_stale_passages(tmp_path):
    path = tmp_path / "sync.md"
    path.write_text(ARTICLE)
    call_command("import_kb", str(path), verbosity=0)
    path.write_text(ARTICLE.replace("## Syncing over mobile data", "## Offline").replace("Wi-Fi", "a connection"))
    call_command("import_kb", str(path), verbosity=0)
    texts = list(Chunk.objects.filter(kind="passage").values_list("text", flat=True))
    assert not any("Wi-Fi" in t for t in texts)
    assert any("a connection" in t for t in texts)


def test_import_kb_names_a_missing_path(tmp_path):
    with pytest.raises(CommandError, match="no such file or folder"):
        call_command("import_kb", str(tmp_path / "nope"), verbosity=0)
