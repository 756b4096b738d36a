"""Exact percentiles of durations, computed by the database, the same on both backends.

Definition (PostgreSQL's ``percentile_cont``, R-7, numpy's default "linear"): sort
the n values, take the 0-based position h = (n - 1) * p; the percentile is
v[floor(h)] + (h - floor(h)) * (v[floor(h) + 1] - v[floor(h)]). So the median of
an even count is the mean of the two middle values, and p90 of 10 values is
v[8] + 0.1 * (v[9] - v[8]). NULL values (a conversation not yet answered) are left out.

PostgreSQL computes it with the ordered-set aggregate. SQLite has none, so a
window query numbers each group's values in order and returns only the (at most
four) rows at floor(h) and floor(h) + 1; the interpolation between those two is
the only arithmetic done here, in integer microseconds.
"""

from datetime import timedelta
from fractions import Fraction

from django.db import connection
from django.db.models import Aggregate, DurationField, Expression, QuerySet, Value

PERCENTS = (50, 90)
# The key under which duration_percentiles returns each group's ``counts``.
COUNTS = "counts"


class PercentileCont(Aggregate):
    """PostgreSQL's ``percentile_cont(fraction) WITHIN GROUP (ORDER BY expression)``."""

    function = "percentile_cont"
    template = "%(function)s(%(fraction)s) WITHIN GROUP (ORDER BY %(expressions)s)"
    allow_distinct = False

    def __init__(self, expression, percent: int, **extra):
        if not 0 <= percent <= 100:
            raise ValueError("percent must be within 0..100")
        super().__init__(expression, fraction=repr(percent / 100), output_field=DurationField(), **extra)


def _interpolate(rows: dict[int, int], n: int, percent: int) -> timedelta:
    h = Fraction((n - 1) * percent, 100)
    lo = int(h)  # floor: h >= 0
    value = rows[lo]
    if h != lo:
        value += (h - lo) * (rows[lo + 1] - value)
    return timedelta(microseconds=round(value))


def _sqlite(qs: QuerySet, value: Expression, group, percents) -> dict:
    inner = qs.annotate(a_grp=group, a_val=value).filter(a_val__isnull=False).values_list("a_grp", "a_val")
    sql, params = inner.query.sql_with_params()
    wanted = " OR ".join(f"(rn - 1) = ((n - 1) * {p}) / 100 OR (rn - 1) = ((n - 1) * {p}) / 100 + 1" for p in percents)
    query = (
        "SELECT a_grp, n, rn - 1, a_val FROM ("
        " SELECT a_grp, a_val, ROW_NUMBER() OVER (PARTITION BY a_grp ORDER BY a_val) AS rn,"
        " COUNT(*) OVER (PARTITION BY a_grp) AS n"
        f" FROM ({sql}) AS t) AS ranked WHERE {wanted}"
    )
    groups: dict = {}
    with connection.cursor() as cursor:
        cursor.execute(query, params)
        for grp, n, position, micros in cursor.fetchall():
            groups.setdefault(grp, (n, {}))[1][position] = micros
    return {grp: {p: _interpolate(rows, n, p) for p in percents} for grp, (n, rows) in groups.items()}


def duration_percentiles(
    qs: QuerySet,
    *,
    values: dict[str, Expression],
    group: str | None = None,
    percents=PERCENTS,
    counts: dict[str, Aggregate] | None = None,
) -> dict:
    """``{group value: {name: {percent: timedelta}}}`` for each duration expression in
    ``values`` over ``qs``; one key, None, when not grouped. Groups or names without
    any non-NULL value are absent (the caller shows a dash, not a zero).

    ``counts`` (grouped only): other aggregates per group, under ``COUNTS``; on
    PostgreSQL they come from the same scan as the percentiles."""
    out: dict = {}
    counts = counts or {}
    if connection.vendor == "postgresql":
        aggregates = {f"{name}__{p}": PercentileCont(expr, p) for name, expr in values.items() for p in percents}
        rows = qs.values(group).annotate(**aggregates, **counts) if group else [qs.aggregate(**aggregates)]
        for row in rows:
            key = row[group] if group else None
            if counts:
                out.setdefault(key, {})[COUNTS] = {name: row[name] for name in counts}
            for name in values:
                figures = {p: row[f"{name}__{p}"] for p in percents}
                if figures[percents[0]] is not None:
                    out.setdefault(key, {})[name] = figures
        return out
    from django.db.models import F

    if counts:
        for row in qs.values(group).annotate(**counts):
            out.setdefault(row[group], {})[COUNTS] = {name: row[name] for name in counts}
    for name, expr in values.items():
        found = _sqlite(qs, expr, F(group) if group else Value(0), percents)
        for key, figures in found.items():
            out.setdefault(key if group else None, {})[name] = figures
    return out
