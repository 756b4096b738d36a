import json

import pytest
from django.core.exceptions import ValidationError

from knowledge.models import Chunk, Entry
from knowledge.services import EntryData, KbFormatError, entries_upsert, entry_save, entry_upsert, kb_import_jsonl

pytestmark = pytest.mark.django_db


def _write(tmp_path, lines):
    path = tmp_path / "kb.jsonl"
    path.write_text("\n".join(line if isinstance(line, str) else json.dumps(line) for line in lines) + "\n")
    return path


ENTRY = {
    "id": "reset-password",
    "title": "Reset your password",
    "questions": ["I forgot my password"],
    "body": "Use the link.",
}


def test_import_creates_entries_with_embedded_chunks(tmp_path):
    result = kb_import_jsonl(path=_write(tmp_path, [ENTRY]))
    assert (result.created, result.updated, result.unchanged) == (1, 0, 0)
    entry = Entry.objects.get(external_id="reset-password")
    kinds = sorted(entry.chunks.values_list("kind", flat=True))
    assert kinds == ["passage", "question", "title"]
    assert all(len(c.embedding) == 384 for c in entry.chunks.all())


def test_reimporting_the_same_file_embeds_nothing(tmp_path):
    path = _write(tmp_path, [ENTRY])
    kb_import_jsonl(path=path)
    ids = set(Chunk.objects.values_list("pk", flat=True))
    result = kb_import_jsonl(path=path)
    assert (result.unchanged, result.chunks_embedded) == (1, 0)
    assert set(Chunk.objects.values_list("pk", flat=True)) == ids


def test_an_edit_re_embeds_and_removes_stale_chunks(tmp_path):
    kb_import_jsonl(path=_write(tmp_path, [ENTRY]))
    entry = Entry.objects.get()
    entry.questions = ["I can't log in"]
    entry_save(entry=entry)
    assert list(Chunk.objects.filter(kind="question").values_list("text", flat=True)) == ["I can't log in"]
    assert not Chunk.objects.filter(text="I forgot my password").exists()


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        ([], "has no entries"),
        (["{not json"], "line 1: not valid JSON"),
        ([ENTRY, "[1, 2]"], "line 2: expected a JSON object"),
        ([{**ENTRY, "title": ""}], "line 1: 'title' must be a non-empty string"),
        ([{**ENTRY, "id": "Has Spaces"}], "line 1: 'id' 'Has Spaces' may only hold lowercase"),
        ([{**ENTRY, "questions": "one"}], "line 1: 'questions' must be a list of strings"),
        ([ENTRY, ENTRY], "line 2: duplicate id 'reset-password'"),
    ],
)
def test_a_bad_file_is_refused_whole_with_the_line_at_fault(tmp_path, lines, message):
    with pytest.raises(KbFormatError, match=message):
        kb_import_jsonl(path=_write(tmp_path, lines))
    assert not Entry.objects.exists()


def test_long_articles_are_split_into_passages_that_keep_the_title_as_context():
    body = "\n\n".join(f"Paragraph {i}. " + "Nimbus keeps every version of your files. " * 8 for i in range(6))
    entries_upsert(entries=[EntryData(external_id="versions", title="File versions", body=body)])
    passages = Chunk.objects.filter(kind="passage")
    assert passages.count() > 1
    assert all(len(p.text) <= 700 for p in passages)


def test_entry_upsert_creates_then_re_embeds_only_what_changed():
    entry = entry_upsert(
        external_id="refunds", title="Refunds", body="Within 14 days.", questions=["Can I get a refund?"]
    )
    assert isinstance(entry, Entry) and entry.pk
    title_chunk = Chunk.objects.get(kind="title")

    same = entry_upsert(
        external_id="refunds", title="Refunds", body="Within 14 days.", questions=["Can I get a refund?"]
    )
    assert same.pk == entry.pk
    assert Chunk.objects.get(kind="title").pk == title_chunk.pk  # nothing re-embedded

    entry_upsert(external_id="refunds", title="Refunds", body="Within 30 days.", questions=["Money back?"])
    assert list(Chunk.objects.filter(kind="question").values_list("text", flat=True)) == ["Money back?"]
    assert Chunk.objects.filter(kind="passage").get().text == "Within 30 days."
    assert Entry.objects.count() == 1


def test_phrasings_must_be_a_list_of_strings():
    with pytest.raises(ValidationError):
        entry_upsert(external_id="refunds", title="Refunds", body="Within 14 days.", questions="Can I get a refund?")
    entry = Entry(external_id="refunds", title="Refunds", body="Within 14 days.", questions="Can I get a refund?")
    with pytest.raises(ValidationError, match="list of strings"):
        entry_save(entry=entry)
    assert not Chunk.objects.exists()


def test_a_big_import_reads_and_replaces_in_slices(monkeypatch):
    """Ids are looked up a slice at a time (PostgreSQL caps a statement's parameters);
    slices of two here, so five entries take three."""
    from functools import partial

    from core import db
    from knowledge import services

    monkeypatch.setattr(services, "slices", partial(db.slices, size=2))
    entries = [EntryData(external_id=f"e{i}", title=f"Entry {i}", body=f"Answer {i}.") for i in range(5)]
    first = entries_upsert(entries=entries)
    assert (first.created, first.updated, first.unchanged) == (5, 0, 0)
    again = entries_upsert(entries=entries)
    assert (again.created, again.updated, again.unchanged) == (0, 0, 5)
    edited = entries_upsert(entries=[*entries[:4], EntryData(external_id="e4", title="Entry 4", body="Changed.")])
    assert (edited.updated, edited.unchanged) == (1, 4)
    assert Chunk.objects.filter(entry__external_id="e4", text__contains="Answer 4").count() == 0
    assert Chunk.objects.filter(entry__external_id="e4", text__contains="Changed").count() == 1
