"""Statements of the analytics app written by hand, each beside its ORM twin.

Both compute duration percentiles (the definition is in ``analytics/percentiles.py``)
where the ORM has no words for the statement: SQLite has no percentile aggregate,
and the ORM has no ``GROUP BY ROLLUP``. ``analytics.percentiles.duration_percentiles``
is their only caller. Each twin reads every value through the ORM and does the
arithmetic in Python: the same figures, one row per conversation instead of a few
per group. ``tests/analytics/test_queries.py`` runs both on the same data, on both
databases, and compares them.
"""

from datetime import timedelta
from fractions import Fraction

from django.db import connection
from django.db.models import Expression, F, QuerySet

from core.db import sql_rows

# The keys under which the grouped figures carry each group's counts, and the
# figures over all groups.
COUNTS = "counts"
TOTAL = "total"

ONE_MICROSECOND = timedelta(microseconds=1)


def interpolate(rows: dict[int, int], n: int, percent: int) -> timedelta:
    """The percentile of n sorted values from the two around its position h = (n - 1) * p
    (``rows``: 0-based position to value in integer microseconds)."""
    h = Fraction((n - 1) * percent, 100)
    lo = int(h)  # floor: h >= 0
    value = rows[lo]
    if h != lo:
        value += (h - lo) * (rows[lo + 1] - value)
    return timedelta(microseconds=round(value))


def _micros(value) -> int:
    # SQLite stores a duration as integer microseconds; PostgreSQL returns an interval.
    return value if isinstance(value, int) else value // ONE_MICROSECOND


def percentile_positions(*, qs: QuerySet, value: Expression, group: Expression, percents) -> dict:
    """``{group: (n, {position: microseconds})}``: per group, its count of non-NULL
    values and only the values at the positions each percentile interpolates between.

    Written out for SQLite, which has no percentile aggregate (PostgreSQL uses
    ``percentile_cont``): one window query numbers each group's values in order and
    returns at most four rows per group, where the twin fetches every value. Plain
    SQL, so it runs on PostgreSQL too (the parity test does).

    Measured (``bench.analytics`` data, 20,000 conversations, 10,000 in the window,
    the three durations per priority, on a loaded 2-core machine): SQLite 407 ms,
    the twin 375 ms. It is no faster at this size; what it bounds is memory (four
    rows per group, not one per conversation)."""
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
    for grp, n, position, found in sql_rows(query, params):
        groups.setdefault(grp, (n, {}))[1][position] = _micros(found)
    return groups


def percentile_positions_orm(*, qs: QuerySet, value: Expression, group: Expression, percents) -> dict:
    """The twin of ``percentile_positions``: every non-NULL value, in order, through
    the ORM; the positions are picked in Python."""
    ordered = (
        qs.annotate(a_grp=group, a_val=value)
        .filter(a_val__isnull=False)
        .order_by("a_grp", "a_val")
        .values_list("a_grp", "a_val")
    )
    by_group: dict = {}
    for grp, found in ordered:
        by_group.setdefault(grp, []).append(_micros(found))
    groups = {}
    for grp, values in by_group.items():
        n = len(values)
        wanted = {((n - 1) * p) // 100 + step for p in percents for step in (0, 1)}
        groups[grp] = (n, {i: values[i] for i in sorted(wanted) if i < n})
    return groups


def percentiles_grouped(*, qs: QuerySet, values: dict[str, Expression], group: str, percents, counts, total) -> dict:
    """``{group: {name: {percent: timedelta}, COUNTS: {name: count}}}`` (and the
    figures over all groups under ``TOTAL`` when ``total``); names without a value
    in a group are absent.

    Written out for PostgreSQL: ``percentile_cont`` per group and, with ``GROUP BY
    ROLLUP``, over all of them, in one scan of the period's index. The ORM has no
    ROLLUP: grouped ``PercentileCont`` aggregates plus a second ``aggregate()`` for the
    total would scan twice. On other databases the twin runs (the dashboard uses
    ``percentile_positions`` there).

    Measured as ``percentile_positions``, on PostgreSQL: 13-17 ms, against 12-20 ms for
    the ORM's grouped ``PercentileCont`` plus ``aggregate()`` (within the machine's
    noise) and 190-260 ms for the twin; the sure gain is one query instead of two."""
    if connection.vendor != "postgresql":
        return percentiles_grouped_orm(qs=qs, values=values, group=group, percents=percents, counts=counts, total=total)
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
    for grp, is_total, *figures in sql_rows(query, params):
        key = TOTAL if is_total else grp
        found = out.setdefault(key, {})
        for i, name in enumerate(values):
            by_percent = dict(zip(percents, figures[i * len(percents) : (i + 1) * len(percents)], strict=True))
            if by_percent[percents[0]] is not None:
                found[name] = by_percent
        if counts:
            found[COUNTS] = dict(zip(counts, figures[len(values) * len(percents) :], strict=True))
    return out


def percentiles_grouped_orm(
    *, qs: QuerySet, values: dict[str, Expression], group: str, percents, counts, total
) -> dict:
    """The twin of ``percentiles_grouped``: every row through the ORM, counted and
    interpolated in Python (on any database)."""
    names = list(values)
    rows = qs.annotate(a_grp=F(group), **{f"a_v{i}": expr for i, expr in enumerate(values.values())}).values_list(
        "a_grp", *(f"a_v{i}" for i in range(len(names))), *(field or "pk" for field in counts.values())
    )
    grouped: dict = {TOTAL: []} if total else {}  # ROLLUP's total row comes even from no rows
    for grp, *cells in rows:
        grouped.setdefault(grp, []).append(cells)
        if total:
            grouped.setdefault(TOTAL, []).append(cells)
    out: dict = {}
    for key, members in grouped.items():
        found = out.setdefault(key, {})
        for i, name in enumerate(names):
            ordered = sorted(_micros(cells[i]) for cells in members if cells[i] is not None)
            if ordered:
                at = dict(enumerate(ordered))
                found[name] = {p: interpolate(at, len(ordered), p) for p in percents}
        if counts:
            found[COUNTS] = {
                name: sum(1 for cells in members if cells[len(names) + j] is not None) for j, name in enumerate(counts)
            }
    return out
