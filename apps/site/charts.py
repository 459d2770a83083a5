"""Small charts for the admin dashboard, drawn on the server as inline SVG (no JavaScript)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

WIDTH, HEIGHT, PAD = 320, 110, 18


def bars(items: list[dict], title: str) -> SafeString:
    """A bar per item ({label, count, href, alert}), each a link to the list it counts; alert bars red."""
    if not items:
        return SafeString("")
    top = max(max(item["count"] for item in items), 1)
    slot = WIDTH / len(items)
    plot = HEIGHT - 2 * PAD
    rows = []
    for n, item in enumerate(items):
        height = plot * item["count"] / top
        x = n * slot + slot * 0.15
        y = PAD + plot - height
        rows.append((
            item["href"], f"{item['label']}: {item['count']}", f"{x:.1f}", f"{y:.1f}", f"{slot * 0.7:.1f}",
            f"{max(height, 1):.1f}", "#ba2121" if item["alert"] else "#417690", f"{x + slot * 0.35:.1f}",
            f"{y - 3:.1f}", item["count"], f"{x + slot * 0.35:.1f}", HEIGHT - 4, item["label"],
        ))  # fmt: skip
    body = format_html_join(
        "",
        '<a href="{}"><title>{}</title><rect x="{}" y="{}" width="{}" height="{}" fill="{}"></rect>'
        '<text x="{}" y="{}" text-anchor="middle">{}</text></a><text x="{}" y="{}" text-anchor="middle">{}</text>',
        rows,
    )
    return _svg(title, body)


def band(points: list[tuple[datetime, Decimal]], low: Decimal, target: Decimal, high: Decimal, title: str,
         start: datetime, end: datetime) -> SafeString:  # fmt: skip
    """A balance over [start, end] against its band: the band shaded between low and high, the target
    dashed, the balance a line (dots where recorded)."""
    values = [float(v) for _, v in points] + [float(low), float(high)]
    top, bottom = max(values) * 1.1 or 1.0, 0.0
    span = (end - start).total_seconds() or 1.0
    plot_w, plot_h = WIDTH - 2 * PAD, HEIGHT - 2 * PAD

    def x(at: datetime) -> float:
        return PAD + plot_w * min(max((at - start).total_seconds() / span, 0.0), 1.0)

    def y(value) -> float:
        return PAD + plot_h * (1 - (float(value) - bottom) / (top - bottom))

    line = " ".join(f"{x(at):.1f},{y(value):.1f}" for at, value in points)
    dots = format_html_join(
        "", '<circle cx="{}" cy="{}" r="1.5" fill="#417690"><title>{} {}</title></circle>',
        ((f"{x(at):.1f}", f"{y(v):.1f}", at.strftime("%H:%M"), v) for at, v in points),
    )  # fmt: skip
    body = format_html(
        '<rect x="{}" y="{}" width="{}" height="{}" fill="#e3eef5"><title>band {} to {}</title></rect>'
        '<line x1="{}" x2="{}" y1="{}" y2="{}" stroke="#79aec8" stroke-dasharray="4 3"><title>target {}</title></line>'
        '<polyline points="{}" fill="none" stroke="#417690" stroke-width="1.5"></polyline>{}'
        '<text x="{}" y="{}">{}</text><text x="{}" y="{}" text-anchor="end">now</text>',
        PAD, f"{y(high):.1f}", plot_w, f"{y(low) - y(high):.1f}", low, high,
        PAD, PAD + plot_w, f"{y(target):.1f}", f"{y(target):.1f}", target,
        line, dots, PAD, HEIGHT - 4, "24 h ago", PAD + plot_w, HEIGHT - 4,
    )  # fmt: skip
    return _svg(title, body)


def _svg(title: str, body) -> SafeString:
    return format_html(
        '<svg class="dashboard-chart" viewBox="0 0 {} {}" role="img" aria-label="{}" '
        'font-size="10" fill="currentColor"><title>{}</title>{}</svg>',
        WIDTH, HEIGHT, title, title, body,
    )  # fmt: skip
