"""A calibration kept and applied (knowledge.services.calibration_save/apply): the
live bot, the trade-off chart and evaluate_bot all answer with it."""

import json
from dataclasses import replace

import numpy as np
import pytest
from django.core.management import CommandError
from django.urls import reverse

from knowledge import bot, evaluation
from knowledge.models import BotConfig, Calibration
from knowledge.scoring import FEATURES, ConfidenceModel
from knowledge.services import EntryData, calibration_apply, calibration_save, entries_upsert
from tests.factories import UserFactory
from tests.knowledge.test_evaluate_bot import CASES, KB, _file, _run

pytestmark = pytest.mark.django_db

FIGURES = ("in_scope_accuracy", "oos_recall", "answered_precision", "threshold")


def evaluation_entries() -> list[EntryData]:
    return [
        EntryData(external_id=e["id"], title=e["title"], body=e["body"], questions=tuple(e["questions"])) for e in KB
    ]


def _fit(**changes) -> evaluation.Fit:
    model = ConfidenceModel(
        mean=(0.0,) * len(FEATURES), scale=(1.0,) * len(FEATURES), weights=(0.0,) * (len(FEATURES) + 1), threshold=0.4
    )
    metrics = evaluation.Metrics(0.4, 0.9, 0.8, 0.95, 10)
    fit = evaluation.Fit(replace(model, prior=0.6), "oos_recall", 0.75, metrics, {}, 3)
    return replace(fit, **changes)


def test_a_saved_calibration_scores_the_same_through_the_live_bots_own_path(tmp_path):
    kb, cases = _file(tmp_path, "kb.jsonl", KB), _file(tmp_path, "c.jsonl", CASES)
    calibrated = json.loads(_run("--kb", kb, "--cases", cases, "--calibrate", cases, "--save", "--json")[-1])
    calibration = Calibration.objects.get()
    config = BotConfig.load()
    assert config.calibration == calibration
    assert config.confidence_threshold == calibration.threshold == pytest.approx(calibrated["threshold"], abs=1e-4)
    assert calibration.model == calibrated["model"]
    assert calibration.figures["n_cases"] == len(CASES)
    assert calibration.source.startswith("evaluate_bot --kb")

    applied = json.loads(_run("--kb", kb, "--cases", cases, "--json")[-1])  # no --calibrate: the applied one
    assert {k: applied[k] for k in FIGURES} == {k: calibrated[k] for k in FIGURES}
    shipped = bot.configured_model(BotConfig(confidence_threshold=0.5))
    assert shipped.weights == bot.DEFAULT_MODEL.weights and shipped.threshold == 0.5


def test_the_live_bot_answers_with_the_applied_model():
    entries_upsert(entries=evaluation_entries())
    question = "How do I reset my password?"
    assert bot.answer(question).handoff_reason is None  # the shipped model answers it
    never_sure = _fit()
    never_sure = replace(never_sure, model=replace(never_sure.model, weights=(-60.0, *never_sure.model.weights[1:])))
    calibration_save(fit=never_sure, source="a model that is never sure", apply=True)
    reply = bot.answer(question)
    assert reply.handoff_reason == "low_confidence" and reply.confidence < 1e-6


def test_saving_without_applying_keeps_the_bot_as_it_was_and_versions_accumulate():
    first = calibration_save(fit=_fit(), source="first", apply=True)
    second = calibration_save(fit=_fit(model=replace(_fit().model, threshold=0.7)), source="second", apply=False)
    assert BotConfig.load().calibration == first
    assert list(Calibration.objects.all()) == [second, first]  # newest first
    calibration_apply(calibration=second)
    config = BotConfig.load()
    assert (config.calibration, config.confidence_threshold) == (second, 0.7)
    assert bot.configured_model(config).prior == 0.6


def test_a_model_of_the_wrong_shape_is_refused_and_nothing_is_kept():
    bad = _fit(model=replace(_fit().model, mean=(0.0,) * 3))
    with pytest.raises(ValueError, match=f"has {len(FEATURES)} features"):
        calibration_save(fit=bad, source="bad", apply=True)
    assert not Calibration.objects.exists()
    assert BotConfig.load().calibration is None


def test_save_needs_a_calibration_to_keep(tmp_path):
    with pytest.raises(CommandError, match="--save keeps a calibration"):
        _run("--kb", _file(tmp_path, "kb.jsonl", KB), "--cases", _file(tmp_path, "c.jsonl", CASES), "--save")


def test_an_admin_applies_a_calibration_from_its_list(client):
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    kept = calibration_save(fit=_fit(model=replace(_fit().model, threshold=0.33)), source="kept", apply=False)
    changelist = reverse("admin:knowledge_calibration_changelist")
    page = client.get(changelist)
    assert page.status_code == 200 and "kept" in page.content.decode()
    response = client.post(changelist, {"action": "apply", "_selected_action": [kept.pk]}, follow=True)
    assert "hands off below 0.3300" in response.content.decode()
    config = BotConfig.load()
    assert (config.calibration, config.confidence_threshold) == (kept, 0.33)
    # Versions are kept as they were fitted: no add form, no edits.
    assert client.get(reverse("admin:knowledge_calibration_add")).status_code == 403
    response = client.post(reverse("admin:knowledge_calibration_change", args=[kept.pk]), {"threshold": "0.9"})
    assert response.status_code == 403
    assert Calibration.objects.get().threshold == 0.33


def test_the_calibration_reports_how_sure_its_operating_point_is(tmp_path):
    kb, cases = _file(tmp_path, "kb.jsonl", KB), _file(tmp_path, "c.jsonl", CASES)
    figures = json.loads(_run("--kb", kb, "--cases", cases, "--calibrate", cases, "--json")[-1])["calibration"]
    assert figures["target"] == "oos_recall" and figures["n_out_of_scope"] == 2
    for name in FIGURES:
        low, middle, high = figures["bootstrap"][name]
        assert 0 <= low <= middle <= high <= 1, (name, figures["bootstrap"][name])


def _outcomes(confidences, expected, predicted):
    return [evaluation.Outcome(e, p, c, 0.0) for c, e, p in zip(confidences, expected, predicted, strict=True)]


def test_the_threshold_for_a_precision_target_is_the_lowest_that_reaches_it():
    # Right answers at 0.9, 0.8, 0.6; wrong ones at 0.7 and 0.3; one handoff.
    outcomes = _outcomes(
        [0.9, 0.8, 0.7, 0.6, 0.3, -1.0], ["a", "b", "c", "d", None, "e"], ["a", "b", "x", "d", "y", None]
    )
    assert evaluation.choose_threshold(outcomes, target="answered_precision", value=1.0).threshold == 0.8
    assert evaluation.choose_threshold(outcomes, target="answered_precision", value=0.75).threshold == 0.6
    assert evaluation.choose_threshold(outcomes, target="oos_recall", value=1.0).threshold == pytest.approx(0.6)
    # Unreachable: the closest (here the highest threshold that answers right).
    assert evaluation.choose_threshold(outcomes[2:3], target="answered_precision", value=0.9).threshold == 1.0


def test_the_metrics_at_every_threshold_are_those_of_metrics_at():
    rng = np.random.default_rng(3)
    confidences = [*rng.random(200).round(2), -1.0, -1.0]
    expected = [None if rng.random() < 0.3 else "a" for _ in confidences]
    predicted = [None if c < 0 else ("a" if rng.random() < 0.7 else "b") for c in confidences]
    outcomes = _outcomes(confidences, expected, predicted)
    thresholds, curves = evaluation._curves(outcomes)
    for i in range(0, len(thresholds), 7):
        m = evaluation.metrics_at(outcomes, float(thresholds[i]))
        for name in ("in_scope_accuracy", "oos_recall", "answered_precision"):
            assert curves[name][i] == pytest.approx(getattr(m, name)), (name, thresholds[i])


def test_questions_embedded_in_batches_are_scored_as_one_at_a_time():
    index = evaluation.index_from_entries(evaluation_entries())
    cases = [evaluation.Case(c["question"], c["expected"]) for c in CASES]
    cases.append(evaluation.Case("I want to talk to a person", None))  # never embedded
    batched = evaluation.run_cases(cases, index=index, model=bot.DEFAULT_MODEL, batch=4)
    alone = evaluation.run_cases(cases, index=index, model=bot.DEFAULT_MODEL, batch=1)
    assert [(o.predicted, o.confidence) for o in batched] == [
        (o.predicted, pytest.approx(o.confidence, abs=1e-6)) for o in alone
    ]
    assert batched[-1].confidence == -1.0
