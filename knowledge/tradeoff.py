"""The threshold trade-off on the live knowledge base and its labelled cases, for admins,
and the adaptation of the applied calibration to the questions customers ask."""

from dataclasses import dataclass

import numpy as np

from knowledge import bot
from knowledge.evaluation import Adaptation, Case, Metrics, adapt, metrics_at, run_cases
from knowledge.models import BotConfig, Calibration, EvalCase
from knowledge.retrieval import live_index

THRESHOLDS = [round(0.05 * i, 2) for i in range(21)]
CASES_SCORED = 500  # the most recent; each costs one bot turn (~10 ms)
CHART_W, CHART_H, PAD = 560, 260, 36


@dataclass(frozen=True)
class Tradeoff:
    rows: list[Metrics]
    n_cases: int
    n_out_of_scope: int
    lines: dict[str, str]  # metric -> SVG polyline points
    ticks: list[tuple[float, float]]  # (x, threshold) for labels


def _recent_cases() -> list[Case]:
    return [
        Case(question, expected)
        for question, expected in EvalCase.objects.order_by("-created_at").values_list(
            "question", "expected__external_id"
        )[:CASES_SCORED]
    ]


def recent_adaptation(config: BotConfig) -> Adaptation:
    """The applied calibration moved to the recent questions' share of right answers,
    estimated from their confidences alone (their labels are not used), with the
    threshold for the calibration's precision target."""
    calibration = config.calibration
    if calibration is None or calibration.target != Calibration.Target.ANSWERED_PRECISION:
        raise ValueError("adapting needs an applied calibration with an answered-precision target")
    cases = _recent_cases()
    if not cases:
        raise ValueError("there are no questions from conversations yet")
    model = bot.calibration_model(calibration, threshold=calibration.threshold)
    outcomes = run_cases(cases, index=live_index(), model=model)
    confidences = np.array([o.confidence for o in outcomes if o.predicted is not None])
    return adapt(confidences, model=model, value=calibration.target_value)


def tradeoff() -> Tradeoff | None:
    cases = _recent_cases()
    if not cases:
        return None
    outcomes = run_cases(cases, index=live_index(), model=bot.configured_model(BotConfig.load()))
    rows = [metrics_at(outcomes, t) for t in THRESHOLDS]

    def x(t: float) -> float:
        return round(PAD + t * (CHART_W - 2 * PAD), 1)

    def y(v: float) -> float:
        return round(CHART_H - PAD - v * (CHART_H - 2 * PAD), 1)

    lines = {
        name: " ".join(f"{x(m.threshold)},{y(getattr(m, name))}" for m in rows)
        for name in ("in_scope_accuracy", "oos_recall", "answered_precision")
    }
    return Tradeoff(
        rows=rows,
        n_cases=len(cases),
        n_out_of_scope=sum(c.expected is None for c in cases),
        lines=lines,
        ticks=[(x(t), t) for t in THRESHOLDS[::4]],
    )


def chart_x(threshold: float) -> float:
    return round(PAD + threshold * (CHART_W - 2 * PAD), 1)
