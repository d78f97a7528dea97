"""SVG charts drawn by the hub (no network, no JavaScript): a review's timeline, MTTA/MTTR trends.

Every text in a chart is XML-escaped; the files are static images the pages embed with <img>.
"""

from __future__ import annotations

import math
from datetime import datetime
from xml.sax.saxutils import escape, quoteattr
from zoneinfo import ZoneInfo

from hub.app.timeaxis import TimeAxis
from hub.reviews.publish.render import one_line

PALETTE = ("#3949ab", "#d81b60", "#00897b", "#f4511e", "#8e24aa", "#6d4c41", "#546e7a")
KEY_EVENTS = {
    "reported": "#546e7a",
    "declared": "#d81b60",
    "acknowledged": "#f4511e",
    "mobilised": "#8e24aa",
    "resolved": "#2e7d32",
}
FONT = 'font-family="Helvetica, Arial, sans-serif"'


def _text(
    x: float,
    y: float,
    value: str,
    *,
    size: int = 11,
    anchor: str = "start",
    fill: str = "#333",
    extra: str = "",
) -> str:
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" text-anchor="{anchor}" '
        f'fill="{fill}" {FONT}{extra}>{escape(one_line(value)[:80])}</text>'
    )


def _svg(width: int, height: int, title: str, body: list[str]) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label={quoteattr(one_line(title))}>'
        f"<title>{escape(one_line(title))}</title>"
        f'<rect width="{width}" height="{height}" fill="#ffffff"/>' + "".join(body) + "</svg>\n"
    )


def timeline_svg(entries: list[dict], tz: str, title: str) -> str:
    """The review's events on a time axis; the key moments are coloured and labelled."""
    events = []
    for e in entries:
        try:
            events.append((datetime.fromisoformat(e["at"]), str(e.get("kind") or "note")))
        except (KeyError, TypeError, ValueError):
            continue
    width, height, left, right, axis = 760, 150, 30, 730, 80
    body = [f'<line x1="{left}" y1="{axis}" x2="{right}" y2="{axis}" stroke="#999"/>']
    if not events:
        return _svg(width, height, title, body + [_text(left, axis - 10, "No events")])
    events.sort()
    start, end = events[0][0], events[-1][0]
    zone = ZoneInfo(tz)
    x = TimeAxis(start, end, left, right).x

    for at, kind in events:
        color = KEY_EVENTS.get(kind, "#9e9e9e")
        radius = 6 if kind in KEY_EVENTS else 3
        body.append(f'<circle cx="{x(at):.1f}" cy="{axis}" r="{radius}" fill="{color}"/>')
    labelled = [(at, kind) for at, kind in events if kind in KEY_EVENTS]
    seen: set[str] = set()
    for n, (at, kind) in enumerate(labelled):
        if kind in seen:
            continue
        seen.add(kind)
        y = axis - 14 if n % 2 == 0 else axis + 24
        local = at.astimezone(zone).strftime("%H:%M")
        anchor = "start" if x(at) < left + 60 else "end" if x(at) > right - 60 else "middle"
        body.append(_text(x(at), y, f"{kind} {local}", anchor=anchor, fill=KEY_EVENTS[kind]))
    for at, at_x, anchor in ((start, left, "start"), (end, right, "end")):  # the two ends
        when = at.astimezone(zone).strftime("%Y-%m-%d %H:%M %Z")
        body.append(_text(at_x, height - 12, when, size=10, fill="#666", anchor=anchor))
    return _svg(width, height, title, body)


def line_chart_svg(
    title: str, labels: tuple[str, ...], series: dict[str, tuple], *, unit: str
) -> str:
    """Lines per series over the labels (months); None values leave gaps."""
    width, height = 760, 320
    left, right, top, bottom = 60, 600, 40, 260
    values = [v for vals in series.values() for v in vals if v is not None]
    peak = nice_ceiling(max(values, default=0))
    body = [_text(left, 22, title, size=14, fill="#222", extra=' font-weight="bold"')]
    for i in range(5):
        y = bottom - (bottom - top) * i / 4
        body.append(f'<line x1="{left}" y1="{y:.1f}" x2="{right}" y2="{y:.1f}" stroke="#eee"/>')
        body.append(_text(left - 6, y + 4, f"{peak * i / 4:g}", size=10, anchor="end", fill="#666"))
    body.append(_text(12, top - 8, unit, size=10, fill="#666"))
    count = len(labels)

    def x(i: int) -> float:
        return left + (right - left) * (i / (count - 1) if count > 1 else 0.5)

    step = max(1, count // 12)
    for i, label in enumerate(labels):
        if i % step == 0 or i == count - 1:
            body.append(_text(x(i), bottom + 16, label, size=10, anchor="middle", fill="#666"))
    for n, (name, vals) in enumerate(series.items()):
        color = PALETTE[n % len(PALETTE)]
        points: list[str] = []
        for i, value in enumerate(vals):
            if value is None:
                body.append(_polyline(points, color))
                points = []
                continue
            y = bottom - (bottom - top) * value / peak
            points.append(f"{x(i):.1f},{y:.1f}")
            body.append(f'<circle cx="{x(i):.1f}" cy="{y:.1f}" r="2.5" fill="{color}"/>')
        body.append(_polyline(points, color))
        body.append(
            f'<rect x="{right + 20}" y="{top + 18 * n - 9}" width="12" height="12" fill="{color}"/>'
        )
        body.append(_text(right + 38, top + 18 * n + 1, name))
    return _svg(width, height, title, body)


def nice_ceiling(value: float) -> float:
    """The smallest of 1, 2, 4, 6, 8 × 10^k at or above `value`: round ticks at quarters."""
    if value <= 0:
        return 1.0
    scale = 10 ** math.floor(math.log10(value))
    return next(step * scale for step in (1, 2, 4, 6, 8, 10) if step * scale >= value)


def _polyline(points: list[str], color: str) -> str:
    if len(points) < 2:
        return ""
    return f'<polyline points="{" ".join(points)}" fill="none" stroke="{color}" stroke-width="2"/>'
