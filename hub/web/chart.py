"""The incident room's timeline chart: inline SVG drawn on the server, SLA deadlines on it.

Events sit on one lane and deliveries on another, both against local time; every SLA
deadline (acknowledge, resolve, next update, review) is a dashed line, green when met in
time, red when missed, amber while it is still ahead. All text is escaped.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from markupsafe import Markup, escape

from hub.app.timeaxis import TimeAxis

WIDTH, LEFT, RIGHT = 960, 96, 24
EVENT_Y, DELIVERY_Y, AXIS_Y, HEIGHT = 118, 150, 176, 200
STEPS = [timedelta(minutes=m) for m in (1, 2, 5, 10, 15, 30, 60, 120, 180, 360, 720, 1440, 2880)]
COLOURS = {
    "report": "#1f5fa8",
    "page": "#6a3fa0",
    "ack": "#1d7a3a",
    "update": "#0b7285",
    "state": "#333333",
    "warn": "#b3261e",
    "other": "#6b6b6b",
    "sent": "#1d7a3a",
    "failed": "#b3261e",
    "pending": "#8a8a8a",
}
KIND_GROUP = {
    "reported": "report",
    "report": "report",
    "classified": "report",
    "reclassified": "report",
    "paged": "page",
    "escalated": "page",
    "role": "page",
    "acknowledged": "ack",
    "update": "update",
    "update-auto": "update",
    "state": "state",
    "merged": "state",
    "sla-warning": "warn",
    "sla-breach": "warn",
}
LEGEND = (
    ("report", "report, classification"),
    ("page", "pages, roles"),
    ("ack", "acknowledged"),
    ("update", "updates"),
    ("state", "state change"),
    ("warn", "SLA warning"),
)


@dataclass(frozen=True)
class Deadline:
    label: str
    due: datetime
    met_at: datetime | None = None  # when it was met, if it was
    stopped_at: datetime | None = None  # the clock stopped unmet (the incident was resolved)

    @property
    def state(self) -> str:
        """met (in time), missed (late, or stopped unmet after the due time), open, or unmet."""
        if self.met_at is not None:
            return "met" if self.met_at <= self.due else "missed"
        if self.stopped_at is not None:
            return "missed" if self.stopped_at > self.due else "unmet"
        return "open"


def _nice_step(span: timedelta) -> timedelta:
    return next((s for s in STEPS if span / s <= 8), STEPS[-1])


def _ticks(start: datetime, end: datetime, tz: ZoneInfo) -> list[datetime]:
    step = _nice_step(end - start)
    local = start.astimezone(tz)
    floor = local.replace(second=0, microsecond=0, minute=0)
    if step < timedelta(hours=1):
        floor = local.replace(
            second=0,
            microsecond=0,
            minute=local.minute - local.minute % int(step.total_seconds() // 60),
        )
    elif step >= timedelta(days=1):
        floor = floor.replace(hour=0)
    ticks, at = [], floor
    while at <= end:
        if at >= start:
            ticks.append(at)
        at += step
    return ticks


def window(
    start: datetime, now: datetime, end: datetime | None, deadlines: list[Deadline]
) -> datetime:
    """The right edge: what happened so far plus a margin, stretched to near deadlines."""
    last = now if end is None else end
    right = last + max((last - start) * 0.25, timedelta(minutes=10))
    for d in sorted(deadlines, key=lambda d: d.due):
        if right < d.due <= start + (right - start) * 1.6:
            right = d.due + (d.due - start) * 0.04
    return right


def _stacked(xs: list[float], levels: int = 4, gap: float = 9.0) -> list[int]:
    """A level per marker so that markers at nearly the same x do not hide each other."""
    out, last_at = [], {}
    for x in xs:
        level = next((n for n in range(levels) if x - last_at.get(n, -1e9) >= gap), 0)
        last_at[level] = x
        out.append(level)
    return out


def timeline_svg(
    events: list[tuple[datetime, str, str]],
    deliveries: list[tuple[datetime, str, str]],
    deadlines: list[Deadline],
    *,
    start: datetime,
    now: datetime,
    end: datetime | None,
    tz: str,
    deliveries_total: int | None = None,
) -> Markup:
    """The chart. `events`/`deliveries`: (at, kind or status, text); `end`: resolved, if it is;
    `deliveries_total`: how many there are, when `deliveries` are only the latest of them."""
    zone = ZoneInfo(tz)
    right = window(start, now, end, deadlines)
    x = TimeAxis(start, right, LEFT, WIDTH - RIGHT).x

    def hhmm(at: datetime) -> str:
        local = at.astimezone(zone)
        same_day = local.date() == start.astimezone(zone).date()
        return local.strftime("%H:%M" if same_day else "%a %H:%M")

    out = [
        Markup('<line x1="{}" y1="{}" x2="{}" y2="{}" class="axis"/>').format(
            LEFT, AXIS_Y, WIDTH - RIGHT, AXIS_Y
        )
    ]
    for tick in _ticks(start, right, zone):
        out.append(
            Markup(
                '<line x1="{0}" y1="{1}" x2="{0}" y2="{2}" class="grid"/>'
                '<text x="{0}" y="{3}" class="tick">{4}</text>'
            ).format(x(tick), 40, AXIS_Y, AXIS_Y + 16, hhmm(tick))
        )
    out.append(
        Markup(
            '<text x="8" y="{}" class="lane">Events</text>'
            '<text x="8" y="{}" class="lane">Deliveries</text>'
        ).format(EVENT_Y + 4, DELIVERY_Y + 4)
    )
    for n, d in enumerate(sorted(deadlines, key=lambda d: d.due)):
        state = {"met": "met", "missed": "missed", "unmet": "missed"}.get(
            d.state, "missed" if now > d.due else "ahead"
        )
        later = d.due > right
        y = 18 + (n % 3) * 16
        label = f"{d.label} {hhmm(d.due)}" + (" →" if later else "")
        out.append(
            Markup(
                '<g class="deadline {0}"><title>{1} due {2} ({0})</title>'
                '<line x1="{3}" y1="{4}" x2="{3}" y2="{5}"/>'
                '<text x="{3}" y="{6}" text-anchor="{7}">{8}</text></g>'
            ).format(
                state,
                d.label,
                hhmm(d.due),
                x(d.due),
                y + 4,
                AXIS_Y,
                y,
                "end" if x(d.due) > WIDTH * 0.7 else "start",
                label,
            )
        )
    if end is None:
        out.append(
            Markup(
                '<g class="now"><title>now {0}</title><line x1="{1}" y1="36" '
                'x2="{1}" y2="{2}"/><text x="{1}" y="{3}" text-anchor="middle">now'
                "</text></g>"
            ).format(hhmm(now), x(now), AXIS_Y, AXIS_Y + 30)
        )
    levels = _stacked([x(at) for at, _k, _t in events])
    for (at, kind, text), level in zip(events, levels, strict=True):
        group = KIND_GROUP.get(kind, "other")
        out.append(
            Markup(
                '<circle cx="{}" cy="{}" r="5" fill="{}" class="event">'
                "<title>{} {}</title></circle>"
            ).format(x(at), EVENT_Y - level * 11, COLOURS[group], hhmm(at), text[:200])
        )
    for at, status, text in deliveries:
        colour = COLOURS.get(status, COLOURS["pending"])
        out.append(
            Markup(
                '<rect x="{}" y="{}" width="4" height="14" fill="{}" class="delivery">'
                "<title>{} {} ({})</title></rect>"
            ).format(x(at) - 2, DELIVERY_Y - 7, colour, hhmm(at), text[:200], status)
        )
    legend = [Markup('<g class="legend">')]
    for n, (group, label) in enumerate(LEGEND):
        lx = LEFT + n * 140
        legend.append(
            Markup('<circle cx="{}" cy="{}" r="5" fill="{}"/><text x="{}" y="{}">{}</text>').format(
                lx, HEIGHT + 12, COLOURS[group], lx + 9, HEIGHT + 16, label
            )
        )
    legend.append(Markup("</g>"))
    summary = "; ".join(f"{d.label} due {hhmm(d.due)}" for d in deadlines) or "no SLA deadlines"
    return Markup(
        '<svg class="timeline-chart" viewBox="0 0 {} {}" role="img" '
        'aria-labelledby="chart-title chart-desc" preserveAspectRatio="xMinYMin meet">'
        '<title id="chart-title">Timeline from {} to {}</title><desc id="chart-desc">{} events, '
        "{}; {}</desc>{}{}</svg>"
    ).format(
        WIDTH,
        HEIGHT + 26,
        hhmm(start),
        hhmm(right),
        len(events),
        _counted(len(deliveries), deliveries_total),
        escape(summary),
        Markup("").join(out),
        Markup("").join(legend),
    )


def _counted(drawn: int, total: int | None) -> str:
    """`12 deliveries`, or `the latest 200 of 10,250 deliveries` when not all are drawn."""
    if total is None or total <= drawn:
        return f"{drawn:,} deliveries"
    return f"the latest {drawn:,} of {total:,} deliveries"
