"""Exact percentiles of durations, computed by the database, the same on both backends.

Definition (PostgreSQL's ``percentile_cont``, R-7, numpy's default "linear"): sort
the n values, take the 0-based position h = (n - 1) * p; the percentile is
v[floor(h)] + (h - floor(h)) * (v[floor(h) + 1] - v[floor(h)]). So the median of
an even count is the mean of the two middle values, and p90 of 10 values is
v[8] + 0.1 * (v[9] - v[8]). NULL values (a conversation not yet answered) are left out.

PostgreSQL computes it with the ordered-set aggregate. SQLite has none, so a
window query numbers each group's values in order and returns only the (at most
four) rows at floor(h) and floor(h) + 1; the interpolation between those two is
the only arithmetic done here, in integer microseconds. Both statements are written
out, in ``analytics/queries.py``.
"""

from django.db import connection
from django.db.models import Aggregate, Count, DurationField, Expression, F, QuerySet, Value

from analytics.queries import COUNTS, TOTAL, interpolate, percentile_positions, percentiles_grouped

PERCENTS = (50, 90)
__all__ = ["COUNTS", "PERCENTS", "TOTAL", "PercentileCont", "duration_percentiles", "interpolate"]


class PercentileCont(Aggregate):
    """PostgreSQL's ``percentile_cont(fraction) WITHIN GROUP (ORDER BY expression)``."""

    function = "percentile_cont"
    template = "%(function)s(%(fraction)s) WITHIN GROUP (ORDER BY %(expressions)s)"
    allow_distinct = False

    def __init__(self, expression, percent: int, **extra):
        if not 0 <= percent <= 100:
            raise ValueError("percent must be within 0..100")
        super().__init__(expression, fraction=repr(percent / 100), output_field=DurationField(), **extra)


def _sqlite(qs: QuerySet, value: Expression, group, percents) -> dict:
    positions = percentile_positions(qs=qs, value=value, group=group, percents=percents)
    return {grp: {p: interpolate(rows, n, p) for p in percents} for grp, (n, rows) in positions.items()}


def duration_percentiles(
    qs: QuerySet,
    *,
    values: dict[str, Expression],
    group: str | None = None,
    percents=PERCENTS,
    counts: dict[str, str | None] | None = None,
    total: bool = False,
) -> dict:
    """``{group value: {name: {percent: timedelta}}}`` for each duration expression in
    ``values`` over ``qs``; one key, None, when not grouped. Groups or names without
    any non-NULL value are absent (the caller shows a dash, not a zero).

    Grouped only: ``counts`` maps names to a field (count its non-NULL values) or None
    (count rows), returned per group under ``COUNTS``; ``total`` adds the figures over
    all groups under ``TOTAL``. On PostgreSQL all of it is one scan (GROUP BY ROLLUP).
    """
    counts = counts or {}
    if connection.vendor == "postgresql":
        if group:
            return percentiles_grouped(qs=qs, values=values, group=group, percents=percents, counts=counts, total=total)
        aggregates = {f"{name}__{p}": PercentileCont(expr, p) for name, expr in values.items() for p in percents}
        row = qs.aggregate(**aggregates)
        figures = {name: {p: row[f"{name}__{p}"] for p in percents} for name in values}
        found = {name: f for name, f in figures.items() if f[percents[0]] is not None}
        return {None: found} if found else {}
    out: dict = {}
    count_aggregates = {name: Count(field or "*") for name, field in counts.items()}
    if counts:
        for row in qs.values(group).annotate(**count_aggregates):
            out.setdefault(row[group], {})[COUNTS] = {name: row[name] for name in counts}
    for name, expr in values.items():
        for key, figures in _sqlite(qs, expr, F(group) if group else Value(0), percents).items():
            out.setdefault(key if group else None, {})[name] = figures
    if group and total:
        everything = {}
        for name, expr in values.items():
            for figures in _sqlite(qs, expr, Value(0), percents).values():
                everything[name] = figures
        if counts:
            everything[COUNTS] = qs.aggregate(**count_aggregates)
        out[TOTAL] = everything
    return out
