"""The entry classifier trained once per version of the chunks, by a task, and
stored (knowledge.models.ClassifierSnapshot): a process loads it instead of
training it on its first question."""

import numpy as np
import pytest
from django.db import DatabaseError

from knowledge import bot, retrieval, scoring
from knowledge.models import ClassifierSnapshot
from knowledge.services import EntryData, entries_upsert, entry_upsert
from knowledge.tasks import classifier_build

pytestmark = pytest.mark.django_db

ENTRIES = [
    EntryData(external_id="reset", title="Reset your password", body="Use the link.", questions=("I forgot it",)),
    EntryData(external_id="refunds", title="Refunds", body="Within 14 days.", questions=("Money back?",)),
    EntryData(external_id="linux", title="Linux app", body="As .deb.", questions=("Ubuntu client?",)),
]


@pytest.fixture
def fresh_process(monkeypatch):
    """Forget this process's index and classifier, as a new server process starts."""

    def forget():
        monkeypatch.setattr(retrieval, "_matrix_cache", None)

    forget()
    return forget


def _no_training(monkeypatch):
    def refuse(self, *args, **kwargs):
        raise AssertionError("the classifier was trained, not loaded")

    monkeypatch.setattr(scoring.EntryClassifier, "__init__", refuse)


def test_an_import_stores_the_classifier_and_a_new_process_loads_it(
    django_capture_on_commit_callbacks, fresh_process, monkeypatch
):
    with django_capture_on_commit_callbacks(execute=True):
        entries_upsert(entries=ENTRIES)
    snapshot = ClassifierSnapshot.objects.get()  # the task ran after the commit
    assert snapshot.version == retrieval.live_matrix().version
    assert snapshot.entry_keys == ["reset", "refunds", "linux"]
    trained = bot.answer("How do I get my money back?")

    fresh_process()
    _no_training(monkeypatch)
    loaded = bot.answer("How do I get my money back?")
    assert (loaded.sources, loaded.confidence) == (trained.sources, pytest.approx(trained.confidence, abs=1e-6))


def test_a_new_version_replaces_the_stored_one(fresh_process):
    entries_upsert(entries=ENTRIES)
    classifier_build()
    first = ClassifierSnapshot.objects.get().version
    entry_upsert(external_id="invoices", title="Invoices", body="In settings.", questions=["Where is my invoice?"])
    fresh_process()
    classifier_build()
    snapshot = ClassifierSnapshot.objects.get()
    assert snapshot.version != first and "invoices" in snapshot.entry_keys
    w = np.frombuffer(bytes(snapshot.weights), dtype=np.float32)
    assert len(w) == len(snapshot.entry_keys) * (snapshot.dims + 1)


def test_a_snapshot_of_other_entries_is_not_loaded(fresh_process, monkeypatch):
    entries_upsert(entries=ENTRIES)
    version = retrieval.live_matrix().version
    ClassifierSnapshot.objects.create(version=version, entry_keys=["other"], dims=384, weights=b"\0" * 385 * 4)
    fresh_process()
    trained = []
    real = scoring.EntryClassifier.__init__
    monkeypatch.setattr(
        scoring.EntryClassifier, "__init__", lambda self, *a, **k: trained.append(1) or real(self, *a, **k)
    )
    assert bot.answer("I forgot it").sources[0]["id"] == "reset"
    assert trained == [1]


def test_a_classifier_that_cannot_be_stored_still_answers(fresh_process, monkeypatch):
    entries_upsert(entries=ENTRIES)

    def broken(*args, **kwargs):
        raise DatabaseError("disk full")

    monkeypatch.setattr(ClassifierSnapshot.objects, "bulk_create", broken)
    assert bot.answer("I forgot it").sources[0]["id"] == "reset"
    assert not ClassifierSnapshot.objects.exists()
