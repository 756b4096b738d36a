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
from django.db.models import Aggregate, Count, DurationField, Expression, F, QuerySet, Value

PERCENTS = (50, 90)
# The keys under which duration_percentiles returns each group's counts, and the
# figures over all groups.
COUNTS = "counts"
TOTAL = "total"


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


def _postgresql_grouped(qs, values, group, percents, counts, total) -> dict:
    """One scan: ``percentile_cont`` per group (and, with ROLLUP, over all of them)."""
    inner = qs.annotate(
        a_grp=F(group),
        **{f"a_v{i}": expr for i, expr in enumerate(values.values())},
        **{f"a_c{j}": F(field) for j, field in enumerate(counts.values()) if field},
    ).values_list(
        "a_grp", *(f"a_v{i}" for i in range(len(values))), *(f"a_c{j}" for j, f in enumerate(counts.values()) if f)
    )
    sql, params = inner.query.sql_with_params()
    columns = [
        f"percentile_cont({p / 100!r}) WITHIN GROUP (ORDER BY a_v{i})" for i in range(len(values)) for p in percents
    ] + [f"COUNT(a_c{j})" if field else "COUNT(*)" for j, field in enumerate(counts.values())]
    grouping = "ROLLUP(a_grp)" if total else "a_grp"
    query = f"SELECT a_grp, GROUPING(a_grp), {', '.join(columns)} FROM ({sql}) AS t GROUP BY {grouping}"
    out: dict = {}
    with connection.cursor() as cursor:
        cursor.execute(query, params)
        for grp, is_total, *figures in cursor.fetchall():
            key = TOTAL if is_total else grp
            found = out.setdefault(key, {})
            for i, name in enumerate(values):
                by_percent = dict(zip(percents, figures[i * len(percents) : (i + 1) * len(percents)], strict=True))
                if by_percent[percents[0]] is not None:
                    found[name] = by_percent
            if counts:
                found[COUNTS] = dict(zip(counts, figures[len(values) * len(percents) :], strict=True))
    return out


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
            return _postgresql_grouped(qs, values, group, percents, counts, total)
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
