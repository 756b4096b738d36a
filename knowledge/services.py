"""Writes to the knowledge base. Every path re-embeds what changed and nothing else."""

import json
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from django.core.exceptions import ValidationError
from django.db import DatabaseError, transaction
from django.utils.text import slugify
from langchain_text_splitters import MarkdownHeaderTextSplitter, RecursiveCharacterTextSplitter

from core.db import slices
from core.tasks import task_enqueue
from knowledge.embeddings import embed_array
from knowledge.models import BotConfig, Calibration, Chunk, ClassifierSnapshot, Entry, EvalCase
from knowledge.scoring import ConfidenceModel, EntryClassifier

if TYPE_CHECKING:
    from knowledge.evaluation import Fit

logger = logging.getLogger(__name__)

PASSAGE_CHARS = 700
PASSAGE_OVERLAP = 100
_splitter = RecursiveCharacterTextSplitter(chunk_size=PASSAGE_CHARS, chunk_overlap=PASSAGE_OVERLAP)
_sections = MarkdownHeaderTextSplitter(
    headers_to_split_on=[("#", "1"), ("##", "2"), ("###", "3"), ("####", "4")], strip_headers=True
)


class KbFormatError(ValueError):
    """A knowledge-base file that cannot be imported, with the line at fault."""


@dataclass(frozen=True)
class EntryData:
    external_id: str
    title: str
    body: str
    questions: tuple[str, ...] = ()
    category: str = ""
    url: str = ""


@dataclass(frozen=True)
class ImportResult:
    created: int
    updated: int
    unchanged: int
    chunks_embedded: int


def entry_chunks(data: EntryData) -> list[tuple[str, str, str]]:
    """(kind, text shown, text embedded) for each chunk of an entry.

    A long article is split at its Markdown headings, then into passages; each
    passage is embedded with the title and the headings above it, so it is found
    by what its part of the article is about, not only by its own words.
    """
    chunks = [(Chunk.Kind.TITLE, data.title, data.title)]
    chunks += [(Chunk.Kind.QUESTION, q, q) for q in dict.fromkeys(data.questions) if q.strip()]
    for section in _sections.split_text(data.body):
        headings = [h for _, h in sorted(section.metadata.items()) if h != data.title]
        context = " > ".join([data.title, *headings])
        chunks += [
            (Chunk.Kind.PASSAGE, p, f"{context}\n{p}") for p in _splitter.split_text(section.page_content) if p.strip()
        ]
    return chunks


@transaction.atomic
def entries_upsert(*, entries: Iterable[EntryData], progress: Callable[[int], None] | None = None) -> ImportResult:
    """Create or update entries by external id, embedding new chunks in batches."""
    entries = list(entries)
    existing = {
        e.external_id: e
        for ids in slices([d.external_id for d in entries])
        for e in Entry.objects.filter(external_id__in=ids)
    }
    current_chunks: dict[int, list[tuple[str, str]]] = {}
    for known in slices(list(existing.values())):
        for entry_id, kind, text in Chunk.objects.filter(entry__in=known).values_list("entry_id", "kind", "text"):
            current_chunks.setdefault(entry_id, []).append((kind, text))

    created = updated = unchanged = 0
    to_embed: list[tuple[Entry, list[tuple[str, str, str]]]] = []
    for data in entries:
        entry = existing.get(data.external_id)
        chunks = entry_chunks(data)
        fields = {
            "title": data.title,
            "body": data.body,
            "questions": list(data.questions),
            "category": data.category,
            "url": data.url,
        }
        if entry is None:
            entry = Entry(external_id=data.external_id, **fields)
            entry.full_clean()
            entry.save()
            created += 1
        elif any(getattr(entry, k) != v for k, v in fields.items()):
            for k, v in fields.items():
                setattr(entry, k, v)
            entry.full_clean()
            entry.save()
            updated += 1
        else:
            unchanged += 1
        if sorted(current_chunks.get(entry.pk, [])) != sorted((kind, shown) for kind, shown, _ in chunks):
            to_embed.append((entry, chunks))

    texts = [embedded for _, chunks in to_embed for _, _, embedded in chunks]
    vectors = []
    for start in range(0, len(texts), 256):
        vectors.extend(embed_array(texts[start : start + 256]))
        if progress:
            progress(min(256, len(texts) - start))
    for stale in slices([entry for entry, _ in to_embed]):
        Chunk.objects.filter(entry__in=stale).delete()  # stale chunks go
    rows, vectors_iter = [], iter(vectors)
    for entry, chunks in to_embed:
        rows += [Chunk(entry=entry, kind=kind, text=shown, embedding=next(vectors_iter)) for kind, shown, _ in chunks]
    Chunk.objects.bulk_create(rows, batch_size=500)
    if rows:
        # The classifier for the new chunks, trained once by a task and stored,
        # before the first question needs it.
        transaction.on_commit(lambda: task_enqueue("knowledge.tasks.classifier_build"))
    return ImportResult(created, updated, unchanged, len(rows))


def classifier_snapshot_save(*, version: str, entry_keys: list[str], classifier: EntryClassifier) -> None:
    """Keep the classifier trained for this version of the chunks (the first to store
    it wins: INSERT ... ON CONFLICT DO NOTHING), and forget those of older versions.
    A failure costs only the next process's training, never the answer."""
    data = np.concatenate([classifier.w.ravel(), classifier.b]).astype(np.float32).tobytes()
    snapshot = ClassifierSnapshot(version=version, entry_keys=entry_keys, dims=classifier.w.shape[1], weights=data)
    try:
        with transaction.atomic():
            ClassifierSnapshot.objects.bulk_create([snapshot], ignore_conflicts=True)
            ClassifierSnapshot.objects.exclude(version=version).delete()
    except DatabaseError:
        logger.warning("the classifier for %s was not stored", version, exc_info=True)


@transaction.atomic
def entry_upsert(
    *, external_id: str, title: str, body: str, questions: Iterable[str] = (), category: str = "", url: str = ""
) -> Entry:
    """Create or update one entry by external id; only chunks whose text changed are re-embedded."""
    if isinstance(questions, str):
        raise ValidationError({"questions": "Expected a list of phrasings, got one string."})
    entries_upsert(
        entries=[
            EntryData(
                external_id=external_id,
                title=title,
                body=body,
                questions=tuple(questions),
                category=category,
                url=url,
            )
        ]
    )
    return Entry.objects.get(external_id=external_id)


def entry_save(*, entry: Entry) -> Entry:
    """Save an entry edited in admin, re-embedding its chunks if their text changed."""
    entry.full_clean()  # a malformed phrasings list fails here, before anything is embedded
    return entry_upsert(
        external_id=entry.external_id,
        title=entry.title,
        body=entry.body,
        questions=entry.questions or (),
        category=entry.category,
        url=entry.url,
    )


def _entry_from_json(line_no: int, raw: str) -> EntryData:
    try:
        obj = json.loads(raw)
    except ValueError as e:
        raise KbFormatError(f"line {line_no}: not valid JSON ({e.msg})") from None
    if not isinstance(obj, dict):
        raise KbFormatError(f"line {line_no}: expected a JSON object, got {type(obj).__name__}")
    for key in ("id", "title", "body"):
        if not isinstance(obj.get(key), str) or not obj[key].strip():
            raise KbFormatError(f"line {line_no}: {key!r} must be a non-empty string")
    if slugify(obj["id"]) != obj["id"]:
        raise KbFormatError(f"line {line_no}: 'id' {obj['id']!r} may only hold lowercase letters, digits, '-' and '_'")
    questions = obj.get("questions", [])
    if not isinstance(questions, list) or not all(isinstance(q, str) for q in questions):
        raise KbFormatError(f"line {line_no}: 'questions' must be a list of strings")
    return EntryData(
        external_id=obj["id"],
        title=obj["title"].strip()[:300],
        body=obj["body"].strip(),
        questions=tuple(q.strip() for q in questions if q.strip()),
        category=str(obj.get("category") or "")[:100],
        url=str(obj.get("url") or ""),
    )


def kb_read_jsonl(path: Path | str) -> list[EntryData]:
    """Parse and validate a whole file before anything is written."""
    entries, seen = [], set()
    with open(path, encoding="utf-8") as f:
        for line_no, raw in enumerate(f, start=1):
            if not raw.strip():
                continue
            data = _entry_from_json(line_no, raw)
            if data.external_id in seen:
                raise KbFormatError(f"line {line_no}: duplicate id {data.external_id!r}")
            seen.add(data.external_id)
            entries.append(data)
    if not entries:
        raise KbFormatError(f"{path}: the file has no entries")
    return entries


def kb_import_jsonl(*, path: Path | str, progress: Callable[[int], None] | None = None) -> ImportResult:
    return entries_upsert(entries=kb_read_jsonl(path), progress=progress)


@transaction.atomic
def entry_learn(
    *, question: str, title: str = "", body: str = "", entry: Entry | None = None, conversation_ref: int | None = None
) -> Entry:
    """An agent's answer becomes knowledge: a new entry (title and body), or the
    question added as a phrasing of an existing one. Either way, labelled."""
    question = question.strip()
    if not question:
        raise ValidationError("The customer's question is empty.")
    if entry is None:
        if not title.strip() or not body.strip():
            raise ValidationError("A new entry needs a title and an answer.")
        base = slugify(title)[:180] or "entry"
        external_id, n = base, 1
        while Entry.objects.filter(external_id=external_id).exists():
            n += 1
            external_id = f"{base}-{n}"
        data = EntryData(external_id=external_id, title=title.strip()[:300], body=body.strip(), questions=(question,))
    else:
        data = EntryData(
            external_id=entry.external_id,
            title=entry.title,
            body=entry.body,
            questions=(*entry.questions, question),
            category=entry.category,
            url=entry.url,
        )
    entries_upsert(entries=[data])
    learnt = Entry.objects.get(external_id=data.external_id)
    eval_case_record(
        question=question, expected=learnt, outcome=EvalCase.Outcome.LEARNT, conversation_ref=conversation_ref
    )
    return learnt


def eval_case_record(
    *,
    question: str,
    expected: Entry | None,
    outcome: str,
    confidence: float | None = None,
    conversation_ref: int | None = None,
) -> EvalCase:
    """Label a question once per conversation; an agent's label beats the bot's."""
    if conversation_ref is None:
        return EvalCase.objects.create(question=question, expected=expected, outcome=outcome, confidence=confidence)
    case, created = EvalCase.objects.get_or_create(
        conversation_ref=conversation_ref,
        question=question,
        defaults={"expected": expected, "outcome": outcome, "confidence": confidence},
    )
    if not created and outcome == EvalCase.Outcome.LEARNT:
        case.expected, case.outcome = expected, outcome
        case.save(update_fields=["expected", "outcome"])
    return case


def eval_cases_jsonl(queryset) -> Iterable[str]:
    """The evaluation-file format of docs/bot.md, one line at a time."""
    for question, expected in queryset.values_list("question", "expected__external_id").iterator():
        yield json.dumps({"question": question, "expected": expected}, ensure_ascii=False) + "\n"


@transaction.atomic
def calibration_save(*, fit: "Fit", source: str, apply: bool) -> Calibration:
    """Keep a fitted confidence model as a new version; with ``apply``, the bot uses
    it (and its threshold) from its next answer on."""
    ConfidenceModel.from_json(fit.model.as_json(), threshold=fit.model.threshold, prior=fit.model.prior)  # it loads
    calibration = Calibration(
        source=source[:300],
        model=fit.model.as_json(),
        fitted_prior=fit.model.prior,
        threshold=fit.model.threshold,
        target=fit.target,
        target_value=fit.value,
        figures=fit.figures(),
    )
    calibration.full_clean()
    calibration.save()
    if apply:
        calibration_apply(calibration=calibration)
    return calibration


@transaction.atomic
def calibration_apply(*, calibration: Calibration) -> BotConfig:
    """The bot answers with this calibration's model at its threshold (an admin may
    move the threshold afterwards on the trade-off chart)."""
    BotConfig.objects.get_or_create(pk=1)
    config = BotConfig.objects.select_for_update().get(pk=1)
    config.calibration = calibration
    config.confidence_threshold = calibration.threshold
    config.adapted_prior = None
    config.save(update_fields=["calibration", "adapted_prior", "confidence_threshold", "updated_at"])
    return config


@transaction.atomic
def calibration_adapt(*, calibration: Calibration, prior: float, threshold: float) -> BotConfig:
    """Move the applied calibration to the share of right answers ``prior`` estimated
    on recent questions (``evaluation.adapt``), with the threshold chosen there. A
    calibration applied meanwhile wins: then nothing changes."""
    config = BotConfig.objects.select_for_update().get(pk=1)
    if config.calibration_id != calibration.pk:
        raise ValueError("another calibration was applied meanwhile; adapt that one")
    config.adapted_prior, config.confidence_threshold = prior, threshold
    config.full_clean()
    config.save(update_fields=["adapted_prior", "confidence_threshold", "updated_at"])
    return config
