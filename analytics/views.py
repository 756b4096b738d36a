"""The analytics pages: thin views over analytics.selectors.

Staff see everyone's numbers; an agent sees the same pages with the agent filter
fixed to themselves and without the bot's figures.
"""

import itertools
from collections.abc import AsyncIterator, Iterator
from urllib.parse import parse_qsl, urlencode

from asgiref.sync import sync_to_async
from django.contrib import messages as flash
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.handlers.asgi import ASGIRequest
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from analytics import charts, selectors, services
from analytics.filters import ReportForm
from analytics.periods import user_time_zone
from analytics.tables import csv_lines


def _report(request: HttpRequest):
    """The form and the filters it yields (the defaults when it is invalid)."""
    tz = user_time_zone(request.user)
    now = timezone.now()
    form = ReportForm(request.GET, tz=tz, now=now)
    if not form.is_valid():
        fallback = ReportForm({}, tz=tz, now=now)
        fallback.is_valid()
        form.cleaned_data = fallback.cleaned_data
    forced = None if request.user.is_staff else request.user
    return form, form.filters(agent=forced), now


def _sections(filters, *, staff: bool, now) -> dict:
    sections = {"queue": selectors.queue_report(filters=filters)}
    if staff:
        sections["bot"] = selectors.bot_report(filters=filters)
    sections["sla"] = selectors.sla_report(filters=filters, now=now)
    sections["agents"] = selectors.agents_report(filters=filters, now=now)
    return sections


@login_required
@require_GET
def dashboard(request: HttpRequest) -> HttpResponse:
    form, filters, now = _report(request)
    staff = request.user.is_staff
    sections = _sections(filters, staff=staff, now=now)
    day_labels = [d.strftime("%b %d") for d in filters.period.days]
    chart = {}
    if "bot" in sections:
        days = sections["bot"]["days"]
        chart["conversations"] = charts.bar_chart(
            label="Conversations started per day",
            categories=day_labels,
            series=[
                charts.Series("Contained", "#2e7d32", [d["contained"] for d in days]),
                charts.Series("Handed off", "#ef6c00", [d["handed_off"] for d in days]),
                charts.Series("Other", "#90a4ae", [d["total"] - d["contained"] - d["handed_off"] for d in days]),
            ],
        )
        bins = sections["bot"]["confidence_bins"]
        chart["confidence"] = charts.bar_chart(
            label="Bot confidence: answered vs handed-off turns (% of each)",
            categories=[b["range"] for b in bins],
            series=[
                charts.Series("Answered", "#2f5bea", [round(b["answered_share"] or 0, 1) for b in bins]),
                charts.Series("Handed off", "#c62828", [round(b["handed_off_share"] or 0, 1) for b in bins]),
            ],
            stacked=False,
        )
    breaches = sections["sla"]["days"]
    chart["breaches"] = charts.bar_chart(
        label="SLA breaches per day",
        categories=day_labels,
        series=[charts.Series("Breaches", "#c62828", [d["breaches"] for d in breaches])],
    )
    return render(
        request,
        "analytics/dashboard.html",
        {
            "form": form,
            "filters": filters,
            "query": filters.query_string(),
            "sections": sections,
            "chart": chart,
            "staff": staff,
            "tz": filters.period.tz,
            "now_panel": selectors.now_panel(now=now),
        },
    )


def _next_chunk(lines: Iterator[str], size: int = 500) -> str:
    return "".join(itertools.islice(lines, size))


async def _async_chunks(lines: Iterator[str]) -> AsyncIterator[str]:
    """The CSV lines in chunks, each read in the thread that holds the database cursor."""
    while chunk := await sync_to_async(_next_chunk, thread_sensitive=True)(lines):
        yield chunk


@login_required
@require_GET
def export(request: HttpRequest, key: str) -> StreamingHttpResponse:
    """One table as CSV, with the page's filters; large tables stream from a cursor."""
    if key == "conversations" and not request.user.is_staff:
        raise PermissionDenied("Only staff can export every conversation.")
    _form, filters, now = _report(request)
    if key == "conversations":
        table = selectors.conversation_rows(filters=filters)
    elif key == "breaches":
        table = selectors.breach_rows(filters=filters)
    else:
        sections = _sections(filters, staff=request.user.is_staff, now=now)
        found = [t for s in sections.values() for t in s["tables"] if t.key == key]
        if not found:
            raise Http404("No such table.")
        table = found[0]
    period = filters.period
    lines = csv_lines(table, tz=period.tz)
    # Under ASGI a synchronous iterator would be read whole before the first byte is sent.
    content = _async_chunks(lines) if isinstance(request, ASGIRequest) else lines
    response = StreamingHttpResponse(content, content_type="text/csv; charset=utf-8")
    name = f"baton-{key}-{period.first_day.isoformat()}-{period.last_day.isoformat()}.csv"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


@login_required
@require_GET
def breach_list(request: HttpRequest) -> HttpResponse:
    if not request.user.is_staff:
        raise PermissionDenied("Only staff can see every breach.")
    form, filters, _now = _report(request)
    limit = 500
    table = selectors.breach_rows(filters=filters, limit=limit + 1)
    rows = list(table.rows)
    return render(
        request,
        "analytics/breaches.html",
        {
            "form": form,
            "filters": filters,
            "query": filters.query_string(),
            "table": table,
            "rows": rows[:limit],
            "more": len(rows) > limit,
            "tz": filters.period.tz,
        },
    )


@login_required
@require_GET
def now_fragment(request: HttpRequest) -> HttpResponse:
    """The live panel alone, re-fetched by the page on each live event."""
    return render(request, "analytics/_now.html", {"now_panel": selectors.now_panel(now=timezone.now())})


@login_required
@require_POST
def time_zone_set(request: HttpRequest) -> HttpResponse:
    try:
        services.preference_set(user=request.user, time_zone=request.POST.get("time_zone", ""))
    except ValidationError as e:
        flash.error(request, e.messages[0])
    # Back to the same report: the query string is re-encoded, never used as a URL.
    query = urlencode(parse_qsl(request.POST.get("next_query", "")))
    return redirect(reverse("analytics") + (f"?{query}" if query else ""))
