import json
import time
from dataclasses import replace

import numpy as np
from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from knowledge import bot, evaluation
from knowledge.models import BotConfig
from knowledge.scoring import shift_confidences
from knowledge.services import KbFormatError, calibration_save, entry_chunks, kb_read_jsonl

SWEEP = [round(0.05 * i, 2) for i in range(21)]


class Command(BaseCommand):
    help = (
        "Score the bot on labelled questions, through the live bot's own code, with a knowledge base loaded "
        "into an isolated index (in memory; on PostgreSQL also a temporary table behind an HNSW index): "
        "the live knowledge base is never touched. Without --calibrate it scores with the calibration the "
        "bot has applied; --calibrate VAL --save keeps the fitted one and applies it."
    )

    def add_arguments(self, parser):
        parser.add_argument("--kb", required=True, help="knowledge base, JSON Lines")
        parser.add_argument("--cases", required=True, help="labelled questions to score, JSON Lines")
        source = parser.add_mutually_exclusive_group()
        source.add_argument(
            "--calibrate", metavar="VAL", help="fit the confidence model and choose the threshold on these cases first"
        )
        source.add_argument(
            "--calibrate-on-kb",
            action="store_true",
            help="instead, fit them on the knowledge base's own phrasings (entries held out as out of scope)",
        )
        target = parser.add_mutually_exclusive_group()
        target.add_argument(
            "--target-oos-recall",
            type=float,
            help="with --calibrate: the share of out-of-scope validation questions to hand off "
            f"(the default target, {evaluation.DEFAULT_TARGET_OOS_RECALL})",
        )
        target.add_argument(
            "--target-precision",
            type=float,
            help="with --calibrate: instead, the share of the bot's validation answers that must be right",
        )
        parser.add_argument(
            "--save", action="store_true", help="with --calibrate: keep the calibration and apply it to the live bot"
        )
        parser.add_argument(
            "--adapt",
            action="store_true",
            help="move the model to the scored questions' share of right answers (estimated without their labels) "
            "and choose the threshold for the precision target there, as the admin action does on live questions",
        )
        parser.add_argument("--threshold", type=float, help="score at this threshold")
        parser.add_argument("--sweep", action="store_true", help="print the trade-off table over thresholds")
        parser.add_argument("--json", action="store_true", dest="as_json", help="end with one JSON line of figures")

    def handle(self, *args, kb, cases, calibrate, threshold, sweep, as_json, save, adapt, **options):
        target, value = evaluation.operating_point(
            oos_recall=options["target_oos_recall"], precision=options["target_precision"]
        )
        for name, given in (("--threshold", threshold), ("the target", value)):
            if given is not None and not 0 <= given <= 1:
                raise CommandError(f"{name} must be between 0 and 1")
        on_kb = options["calibrate_on_kb"]
        if save and not (calibrate or on_kb):
            raise CommandError("--save keeps a calibration: give --calibrate VAL or --calibrate-on-kb")
        if adapt and (threshold is not None or target != "answered_precision"):
            raise CommandError("--adapt chooses the threshold for a precision target: give --target-precision")
        quiet = options["verbosity"] == 0
        started = time.perf_counter()
        try:
            entries = kb_read_jsonl(kb)
            known = {e.external_id for e in entries}
            test_cases = evaluation.read_cases(cases, known_ids=known)
            val_cases = evaluation.read_cases(calibrate, known_ids=known) if calibrate else []
        except FileNotFoundError as e:
            raise CommandError(f"{e.filename}: no such file") from None
        except KbFormatError as e:
            raise CommandError(str(e)) from None

        total = sum(len(entry_chunks(e)) for e in entries)
        with tqdm(total=total, unit="chunk", desc="Embedding the knowledge base", disable=quiet) as bar:
            index = evaluation.database_index(evaluation.index_from_entries(entries, progress=bar.update))

        fit = None
        if calibrate or on_kb:
            steps = len(val_cases) if calibrate else evaluation.SELF_FOLDS
            with tqdm(total=steps, desc="Calibrating", disable=quiet) as bar:
                try:
                    if calibrate:
                        fit = evaluation.calibrate(
                            val_cases, index=index, target=target, value=value, progress=bar.update
                        )
                    else:
                        fit = evaluation.calibrate_on_entries(index, target=target, value=value, progress=bar.update)
                except KbFormatError as e:
                    raise CommandError(str(e)) from None
            model = fit.model
            fitted_on = f"{len(val_cases)} cases" if calibrate else f"{fit.metrics.n_cases} of the KB's own phrasings"
            self.stdout.write(
                f"Calibrated on {fitted_on}: confidence model fitted, threshold {model.threshold:.4f} "
                f"({target.replace('_', ' ')} {value:.0%} there)"
            )
            if save:
                how = f"--calibrate {calibrate}" if calibrate else "--calibrate-on-kb"
                calibration = calibration_save(fit=fit, source=f"evaluate_bot --kb {kb} {how}", apply=True)
                self.stdout.write(f"Saved as calibration {calibration.pk} and applied: the live bot uses it now.")
        else:
            model = bot.configured_model(BotConfig.load())
        if threshold is None:
            threshold = model.threshold

        with tqdm(total=len(test_cases), unit="q", desc="Scoring", disable=quiet) as bar:
            outcomes = evaluation.run_cases(test_cases, index=index, model=model, progress=bar.update)
        adaptation = None
        if adapt:
            answered = [o for o in outcomes if o.predicted is not None]
            try:
                adaptation = evaluation.adapt(np.array([o.confidence for o in answered]), model=model, value=value)
            except ValueError as e:
                raise CommandError(str(e)) from None
            fitted, threshold = model.prior, adaptation.model.threshold
            outcomes = [
                replace(o, confidence=float(shift_confidences(o.confidence, fitted=fitted, prior=adaptation.prior)))
                if o.predicted is not None
                else o
                for o in outcomes
            ]
        result = evaluation.metrics_at(outcomes, threshold)

        if sweep:
            self.stdout.write("threshold  in_scope_accuracy  oos_recall  answered_precision")
            for t in SWEEP:
                m = evaluation.metrics_at(outcomes, t)
                self.stdout.write(
                    f"{t:9.2f}  {m.in_scope_accuracy:17.3f}  {m.oos_recall:10.3f}  {m.answered_precision:18.3f}"
                )
        figures = {
            "in_scope_accuracy": round(result.in_scope_accuracy, 4),
            "oos_recall": round(result.oos_recall, 4),
            "answered_precision": round(result.answered_precision, 4),
            "threshold": round(threshold, 4),
            "n_cases": result.n_cases,
            **{k: round(v, 2) for k, v in evaluation.latency(outcomes).items()},
            "kb_entries": len(entries),
            "seconds": round(time.perf_counter() - started, 1),
        }
        if adaptation is not None:
            figures["adapted_prior"] = round(adaptation.prior, 4)
        if fit is not None:
            figures["calibration"] = fit.figures()
            figures["model"] = model.as_json()
        if as_json:
            self.stdout.write(json.dumps(figures))
        else:
            for key, value in figures.items():
                self.stdout.write(f"{key:>20}: {value}")
