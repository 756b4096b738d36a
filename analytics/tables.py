"""A report table: the page renders it, the CSV export writes the same rows raw."""

import csv
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta


@dataclass(frozen=True)
class Column:
    key: str
    header: str
    # int | pct | duration | text | datetime | link (a (text, url) pair)
    kind: str = "int"


@dataclass
class Table:
    key: str
    title: str
    columns: list[Column]
    rows: Iterable[dict] = field(default_factory=list)
    note: str = ""
    # Large tables: the page shows the first rows and the export streams them all.
    streamed: bool = False


def duration_text(value: timedelta | None) -> str:
    """4m 30s, 2h 05m, 3d 4h; rounded to the second."""
    if value is None:
        return "—"
    seconds = round(value.total_seconds())
    if seconds < 60:
        return f"{seconds}s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m {seconds:02d}s"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours}h {minutes:02d}m"
    days, hours = divmod(hours, 24)
    return f"{days}d {hours}h"


def cell_text(value, kind: str, tz=None) -> str:
    """How a value reads on the page; never "None"."""
    if value is None:
        return "—"
    if kind == "duration":
        return duration_text(value)
    if kind == "pct":
        return f"{value:.1f}%"
    if kind == "int":
        return f"{value:,}"
    if kind == "datetime":
        return value.astimezone(tz).strftime("%Y-%m-%d %H:%M") if tz else value.isoformat()
    if kind == "link":
        return str(value[0])
    return str(value)


_FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def csv_value(value, kind: str, tz=None):
    """How a value reads in CSV: durations in seconds, percentages as numbers, local ISO times."""
    if value is None:
        return ""
    if kind == "duration":
        return f"{value.total_seconds():.1f}"
    if kind == "pct":
        return f"{value:.1f}"
    if kind == "datetime":
        return value.astimezone(tz).isoformat() if tz else value.isoformat()
    if kind == "link":
        value = value[0]
    if isinstance(value, str) and value.startswith(_FORMULA_PREFIXES):
        # Customer-written text a spreadsheet would run as a formula (OWASP's CSV
        # injection advice): kept, prefixed with a quote so it stays text.
        return "'" + value
    return value


class _Echo:
    def write(self, value):
        return value


def csv_lines(table: Table, *, tz) -> Iterator[str]:
    """The table as CSV lines, produced as the rows are read (for streaming)."""
    writer = csv.writer(_Echo())
    yield writer.writerow([c.header for c in table.columns])
    for row in table.rows:
        yield writer.writerow([csv_value(row.get(c.key), c.kind, tz) for c in table.columns])


def pct(part: int, whole: int) -> float | None:
    """A percentage, or None (shown as a dash) when there is nothing to divide by."""
    return 100 * part / whole if whole else None
