"""Server-side SVG charts: no JavaScript, no CDN, readable without colour (each bar
has a <title> with its figure, and the table beside it has the numbers)."""

from dataclasses import dataclass

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe

WIDTH, HEIGHT = 640, 220
LEFT, RIGHT, TOP, BOTTOM = 44, 8, 12, 36


@dataclass(frozen=True)
class Series:
    name: str
    color: str
    values: list[float]


def _n(value: float) -> str:
    return f"{value:.1f}"


def _nice_max(value: float) -> float:
    """The axis top: 1, 2 or 5 times a power of ten, at least the largest value."""
    if value <= 0:
        return 1
    step = 1
    while True:
        for m in (1, 2, 5):
            if m * step >= value:
                return m * step
        step *= 10


def bar_chart(*, label: str, categories: list[str], series: list[Series], stacked: bool = True) -> SafeString:
    """Bars per category, stacked or side by side, with a y axis and a legend."""
    n = len(categories)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    if stacked:
        top_value = max((sum(s.values[i] for s in series) for i in range(n)), default=0)
    else:
        top_value = max((v for s in series for v in s.values), default=0)
    y_max = _nice_max(top_value)
    slot = plot_w / max(n, 1)
    bar_w = slot * 0.7 / (1 if stacked else max(len(series), 1))
    parts = []
    for i, category in enumerate(categories):
        base = 0.0
        for j, s in enumerate(series):
            value = s.values[i]
            h = plot_h * value / y_max
            x = LEFT + i * slot + slot * 0.15 + (0 if stacked else j * bar_w)
            y = TOP + plot_h - h - (plot_h * base / y_max if stacked else 0)
            parts.append(
                format_html(
                    '<rect class="bar" data-series="{}" x="{}" y="{}" width="{}" height="{}" fill="{}">'
                    "<title>{}: {} {}</title></rect>",
                    s.name,
                    _n(x),
                    _n(y),
                    _n(bar_w),
                    _n(h),
                    s.color,
                    category,
                    f"{value:,}",
                    s.name,
                )
            )
            if stacked:
                base += value
    every = max(1, -(-n // 10))  # at most ~10 labels
    labels = format_html_join(
        "",
        '<text x="{}" y="{}" font-size="10" text-anchor="middle">{}</text>',
        ((_n(LEFT + i * slot + slot / 2), HEIGHT - BOTTOM + 14, c) for i, c in enumerate(categories) if i % every == 0),
    )
    legend = format_html_join(
        "",
        '<rect x="{}" y="{}" width="10" height="10" fill="{}"/><text x="{}" y="{}" font-size="11">{}</text>',
        ((LEFT + k * 150, HEIGHT - 12, s.color, LEFT + k * 150 + 14, HEIGHT - 3, s.name) for k, s in enumerate(series)),
    )
    return format_html(
        '<svg class="chart" role="img" aria-label="{}" viewBox="0 0 {} {}" width="100%"'
        ' preserveAspectRatio="xMinYMin meet">'
        '<line x1="{}" y1="{}" x2="{}" y2="{}" stroke="#999"/>'
        '<text x="{}" y="{}" font-size="10" text-anchor="end">{}</text>'
        '<text x="{}" y="{}" font-size="10" text-anchor="end">0</text>'
        "{}{}{}</svg>",
        label,
        WIDTH,
        HEIGHT,
        LEFT,
        TOP + plot_h,
        WIDTH - RIGHT,
        TOP + plot_h,
        LEFT - 4,
        TOP + 8,
        f"{y_max:,}",
        LEFT - 4,
        TOP + plot_h,
        mark_safe("".join(parts)),  # each part built with format_html above
        labels,
        legend,
    )
