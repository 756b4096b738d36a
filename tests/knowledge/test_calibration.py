"""A calibration kept and applied (knowledge.services.calibration_save/apply): the
live bot, the trade-off chart and evaluate_bot all answer with it."""

import json
from dataclasses import replace
from io import StringIO

import numpy as np
import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse

from knowledge import bot, evaluation
from knowledge.models import BotConfig, Calibration, EvalCase
from knowledge.scoring import FEATURES, FUSION_CHOICES, ConfidenceModel, Scored, shift_confidences
from knowledge.services import EntryData, calibration_adapt, calibration_apply, calibration_save, entries_upsert
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


def test_the_expected_precision_threshold_needs_no_labels():
    confidences = np.array([0.95, 0.9, 0.8, 0.5, 0.2])
    # Means from the top: 0.95, 0.925, 0.883, 0.7875, 0.67.
    assert evaluation.expected_precision_threshold(confidences, value=0.9) == 0.9
    assert evaluation.expected_precision_threshold(confidences, value=0.75) == 0.5
    assert evaluation.expected_precision_threshold(confidences, value=0.99) == 1.0


def test_adapting_moves_the_model_to_the_questions_share_and_keeps_the_precision_target():
    rng = np.random.default_rng(5)
    fitted = replace(bot.DEFAULT_MODEL, prior=0.8)
    # Confidences of a deployment with far fewer right answers than the fitting data.
    confidences = 1 / (1 + np.exp(-rng.normal(0.0, 3.0, 2000)))
    adaptation = evaluation.adapt(confidences, model=fitted, value=0.9)
    assert 0 < adaptation.prior < 0.8
    assert adaptation.model.prior == adaptation.prior
    shifted = shift_confidences(confidences, fitted=0.8, prior=adaptation.prior)
    answered = shifted[shifted >= adaptation.model.threshold]
    assert answered.mean() >= 0.9 and len(answered) > 0
    with pytest.raises(ValueError, match="knows the share"):
        evaluation.adapt(confidences, model=replace(fitted, prior=None), value=0.9)


def test_evaluate_bot_adapts_to_the_scored_questions_for_a_precision_target(tmp_path):
    kb, cases = _file(tmp_path, "kb.jsonl", KB), _file(tmp_path, "c.jsonl", CASES)
    args = ("--kb", kb, "--cases", cases, "--calibrate", cases, "--target-precision", "0.9", "--json")
    plain, adapted = json.loads(_run(*args)[-1]), json.loads(_run(*args, "--adapt")[-1])
    assert plain["calibration"]["target"] == "answered_precision"
    assert "adapted_prior" not in plain and 0 < adapted["adapted_prior"] < 1
    assert 0 <= adapted["threshold"] <= 1
    with pytest.raises(CommandError, match="--adapt chooses the threshold for a precision target"):
        _run("--kb", kb, "--cases", cases, "--adapt")


def test_the_admin_adapts_the_applied_calibration_to_recent_questions(client):
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    entries_upsert(entries=evaluation_entries())
    changelist = reverse("admin:knowledge_botconfig_changelist")
    BotConfig.load()
    adapt = {"action": "adapt", "_selected_action": [1]}
    response = client.post(changelist, adapt, follow=True)
    assert "Not adapted: adapting needs an applied calibration" in response.content.decode()

    fit = _fit(target="answered_precision", value=0.9, model=replace(bot.DEFAULT_MODEL, prior=0.6))
    calibration = calibration_save(fit=fit, source="precision", apply=True)
    response = client.post(changelist, adapt, follow=True)
    assert "there are no questions from conversations yet" in response.content.decode()

    for case in CASES:
        EvalCase.objects.create(question=case["question"], outcome=EvalCase.Outcome.ANSWERED)
    response = client.post(changelist, adapt, follow=True)
    assert "of recent questions get a right answer" in response.content.decode()
    config = BotConfig.load()
    assert config.calibration == calibration and 0 < config.adapted_prior < 1
    model = bot.configured_model(config)
    assert model.prior == config.adapted_prior and model.threshold == config.confidence_threshold
    calibration_apply(calibration=calibration)  # applying again starts from the fitted prior
    assert BotConfig.load().adapted_prior is None


def test_an_adaptation_of_a_calibration_replaced_meanwhile_is_refused():
    first = calibration_save(fit=_fit(), source="first", apply=True)
    calibration_save(fit=_fit(), source="second", apply=True)
    with pytest.raises(ValueError, match="another calibration was applied meanwhile"):
        calibration_adapt(calibration=first, prior=0.5, threshold=0.5)
    assert BotConfig.load().adapted_prior is None


PHRASED = [  # entries with several phrasings each: what self-calibration holds out
    {"id": f"e{i}", "title": title, "questions": questions, "body": f"About {title.lower()}."}
    for i, (title, questions) in enumerate(
        [
            ("Reset your password", ["I forgot my password", "How do I change my password?", "Password reset link"]),
            ("Refunds", ["Can I get my money back?", "I want a refund", "How do refunds work?"]),
            ("Linux app", ["Is there a Linux client?", "Does it run on Ubuntu?", "Linux download"]),
            ("Invoices", ["Where is my invoice?", "Download an invoice", "I need a receipt"]),
            ("Delete account", ["Close my account", "How do I delete my account?", "Remove my data"]),
            ("Two-factor login", ["Turn on 2FA", "Set up an authenticator app", "Two-step verification"]),
            ("Change plan", ["Upgrade my plan", "Switch to yearly billing", "Downgrade my subscription"]),
            ("Team members", ["Invite a colleague", "Add a user to my team", "Remove a team member"]),
            ("Export data", ["Export my data as CSV", "Download all my records", "Backup my account"]),
            ("Mobile app", ["Is there an iPhone app?", "Android app", "Use it on my phone"]),
        ]
    )
]


def test_calibrating_on_the_knowledge_base_needs_no_validation_set(tmp_path):
    kb, cases = _file(tmp_path, "kb.jsonl", PHRASED), _file(tmp_path, "c.jsonl", CASES[3:])
    lines = _run("--kb", kb, "--cases", cases, "--calibrate-on-kb", "--save", "--json")
    assert lines[0].startswith("Calibrated on 54 of the KB's own phrasings")
    figures = json.loads(lines[-1])["calibration"]
    # Each entry is held out in one fold (3 phrasings each: 30 out of scope); in the
    # other folds, every fourth phrasing counted across folds is asked (24 in all).
    assert figures["n_cases"] == 54 and figures["n_out_of_scope"] == 30
    assert figures["oos_recall"] >= 0.75
    calibration = Calibration.objects.get()
    assert "--calibrate-on-kb" in calibration.source and BotConfig.load().calibration == calibration


def test_a_knowledge_base_without_phrasings_asks_for_validation_questions(tmp_path):
    articles = [{**row, "questions": []} for row in PHRASED]
    with pytest.raises(CommandError, match="needs entries with several phrasings"):
        _run(
            "--kb",
            _file(tmp_path, "kb.jsonl", articles),
            "--cases",
            _file(tmp_path, "c.jsonl", CASES[3:]),
            "--calibrate-on-kb",
        )


def test_calibrate_bot_fits_the_live_knowledge_base_and_applies_it():
    entries_upsert(
        entries=[
            EntryData(external_id=e["id"], title=e["title"], body=e["body"], questions=tuple(e["questions"]))
            for e in PHRASED
        ]
    )
    out = StringIO()
    call_command("calibrate_bot", "--target-precision", "0.9", "--json", stdout=out)
    lines = out.getvalue().splitlines()
    assert "applied: the live bot uses it now" in lines[0]
    assert json.loads(lines[-1])["target"] == "answered_precision"
    config = BotConfig.load()
    assert config.calibration.target_value == 0.9
    assert config.confidence_threshold == config.calibration.threshold
    call_command("calibrate_bot", "--keep-only", stdout=StringIO())
    assert Calibration.objects.count() == 2 and BotConfig.load().calibration == config.calibration


def test_the_classifier_weight_is_the_one_that_chose_right_most_often():
    cases = [evaluation.Case(f"q{i}", "a" if i % 3 else None) for i in range(12)]

    def scored(right_ones: int) -> list:
        rng = np.random.default_rng(right_ones)
        in_scope = [i for i, c in enumerate(cases) if c.expected]
        keys = ["a" if i in in_scope[:right_ones] else "b" for i in range(len(cases))]
        return [Scored(key, rng.random(len(FEATURES))) for key in keys]

    by_fusion = {fusion: scored(3) for fusion in FUSION_CHOICES} | {0.0: scored(7)}
    fit = evaluation._fit(cases, by_fusion, target="oos_recall", value=0.75)
    assert fit.model.fusion == 0.0 and fit.figures()["fusion"] == 0.0
    saved = calibration_save(fit=fit, source="articles", apply=True)
    assert saved.model["fusion"] == 0.0
    assert bot.configured_model(BotConfig.load()).fusion == 0.0


def test_the_live_bot_chooses_the_entry_with_the_applied_classifier_weight(monkeypatch):
    entries_upsert(entries=evaluation_entries())
    calibration_save(fit=_fit(model=replace(_fit().model, fusion=0.5)), source="w", apply=True)
    seen = []
    real = bot.score
    monkeypatch.setattr(bot, "score", lambda *a, **k: seen.append(k["fusion"]) or real(*a, **k))
    bot.answer("How do I reset my password?")
    assert seen == [0.5]


ARTICLES = [  # long-form help articles: no phrasings, the classifier knows only their titles
    {
        "id": "billing",
        "title": "Billing",
        "questions": [],
        "body": "## Refunds\nYearly plans are refunded in full within 14 days of purchase.\n\n"
        "## Invoices\nEvery invoice is in Settings > Billing, as a PDF, the day after payment.",
    },
    {
        "id": "security",
        "title": "Security",
        "questions": [],
        "body": "## Passwords\nReset a forgotten password from the link on the login page.\n\n"
        "## Two-factor login\nTurn on an authenticator app in Settings > Security.",
    },
    {
        "id": "apps",
        "title": "Apps",
        "questions": [],
        "body": "## Linux\nThe desktop app comes as .deb and .rpm packages.\n\n"
        "## Phones\nThe iPhone and Android apps are in their stores.",
    },
]
ARTICLE_CASES = [
    {"question": "Can I get my money back on a yearly plan?", "expected": "billing"},
    {"question": "Where do I download an invoice?", "expected": "billing"},
    {"question": "I forgot my password", "expected": "security"},
    {"question": "How do I set up an authenticator?", "expected": "security"},
    {"question": "Is there an rpm for Fedora?", "expected": "apps"},
    {"question": "Do you have an Android app?", "expected": "apps"},
    {"question": "What's the weather like on Mars tomorrow?", "expected": None},
    {"question": "Recommend a good pasta recipe", "expected": None},
]


def test_an_article_only_knowledge_base_is_calibrated_on_validation_questions(tmp_path):
    kb, cases = _file(tmp_path, "kb.jsonl", ARTICLES), _file(tmp_path, "c.jsonl", ARTICLE_CASES)
    figures = json.loads(_run("--kb", kb, "--cases", cases, "--calibrate", cases, "--save", "--json")[-1])
    assert figures["calibration"]["fusion"] in FUSION_CHOICES
    assert figures["in_scope_accuracy"] >= 4 / 6 and figures["oos_recall"] >= 0.5
    # Saved and applied, the live path scores the same.
    applied = json.loads(_run("--kb", kb, "--cases", cases, "--json")[-1])
    assert {k: applied[k] for k in FIGURES} == {k: figures[k] for k in FIGURES}
