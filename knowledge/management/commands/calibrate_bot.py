import json

from django.core.management.base import BaseCommand, CommandError

from knowledge import evaluation
from knowledge.retrieval import live_matrix
from knowledge.services import KbFormatError, calibration_save


class Command(BaseCommand):
    help = (
        "Fit the bot's confidence model on the live knowledge base's own phrasings (no labelled questions "
        "needed: entries held out play the unanswerable questions), keep it as a calibration and apply it."
    )

    def add_arguments(self, parser):
        target = parser.add_mutually_exclusive_group()
        target.add_argument(
            "--target-oos-recall",
            type=float,
            help=f"share of unanswerable questions to hand off (default {evaluation.DEFAULT_TARGET_OOS_RECALL})",
        )
        target.add_argument("--target-precision", type=float, help="instead, share of the answers that must be right")
        parser.add_argument("--keep-only", action="store_true", help="keep the calibration without applying it")
        parser.add_argument("--json", action="store_true", dest="as_json", help="end with one JSON line of figures")

    def handle(self, *args, target_oos_recall, target_precision, keep_only, as_json, **options):
        target, value = evaluation.operating_point(oos_recall=target_oos_recall, precision=target_precision)
        if not 0 <= value <= 1:
            raise CommandError("the target must be between 0 and 1")
        try:
            fit = evaluation.calibrate_on_entries(live_matrix(), target=target, value=value)
        except KbFormatError as e:
            raise CommandError(str(e)) from None
        calibration = calibration_save(
            fit=fit, source="calibrate_bot: the knowledge base's own phrasings", apply=not keep_only
        )
        self.stdout.write(
            f"Calibration {calibration.pk} fitted on {fit.metrics.n_cases} phrasings, "
            f"threshold {calibration.threshold:.4f}" + ("" if keep_only else "; applied: the live bot uses it now.")
        )
        if as_json:
            self.stdout.write(json.dumps(fit.figures()))
