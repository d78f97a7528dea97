"""The console's schedules page: each schedule's next 4 weeks as a timeline, on call now,
overrides and gaps. The timeline is an SVG (one row a day, in the schedule's time zone) with
the same stretches listed in text beside it, so it reads at 390 px and without colour."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from flask import Blueprint
from markupsafe import Markup

from hub.app.db import utcnow
from hub.core.schedules import HORIZON, Shift, next_shift, oncall_at, shifts
from hub.policy.model import Policy, Schedule, person_name
from hub.schedules.overrides import active_overrides, list_overrides
from hub.web.common import render, the_hub

bp = Blueprint("schedules_page", __name__)
WIDTH, LABEL, ROW = 360, 54, 12  # the SVG's units; it scales to the page
PALETTE = 6  # person colours (classes p0…p5); gaps and overrides have their own marks


@dataclass
class View:
    name: str
    timezone: str
    oncall: str
    next: str
    chart: Markup
    stretches: list[tuple[str, str, str, str]]  # (when, who, kind, css class)
    overrides: list


def _when(shift: Shift, tz: ZoneInfo) -> str:
    a, b = shift.start.astimezone(tz), shift.end.astimezone(tz)
    end = f"{b:%H:%M}" if a.date() == b.date() else f"{b:%a %d %b %H:%M}"
    return f"{a:%a %d %b %H:%M} – {end} {b:%Z}"


def chart(policy: Policy, schedule: Schedule, stretches: list[Shift], now: datetime) -> Markup:
    """An SVG: 28 rows of local days, each stretch a bar coloured by person, gaps hatched."""
    tz = ZoneInfo(schedule.timezone)
    first = now.astimezone(tz).replace(hour=0, minute=0, second=0, microsecond=0)
    days = HORIZON.days + 1
    colour = {
        p: i % PALETTE for i, p in enumerate(sorted({s.person for s in stretches if s.person}))
    }
    scale = (WIDTH - LABEL) / 24
    parts = []
    for d in range(days):
        day = (first.replace(tzinfo=None) + timedelta(days=d)).replace(tzinfo=tz)
        y = 14 + d * ROW
        parts.append(
            Markup('<text class="day" x="0" y="{}">{}</text>').format(y + 8, f"{day:%a %d %b}")
        )
        for s in stretches:
            a, b = s.start.astimezone(tz), s.end.astimezone(tz)
            lo = max(a.replace(tzinfo=None), day.replace(tzinfo=None))
            hi = min(b.replace(tzinfo=None), day.replace(tzinfo=None) + timedelta(days=1))
            if hi <= lo:
                continue
            x0 = LABEL + (lo - day.replace(tzinfo=None)).total_seconds() / 3600 * scale
            w = (hi - lo).total_seconds() / 3600 * scale
            css = (
                "gap"
                if s.person is None
                else f"p{colour[s.person]}" + (" over" if s.override else "")
            )
            who = person_name(policy, s.person, "nobody (a gap)")
            parts.append(
                Markup(
                    '<rect class="{}" x="{:.1f}" y="{}" width="{:.1f}" height="{}"><title>{}: {}</title></rect>'
                ).format(css, x0, y, w, ROW - 2, who, _when(s, tz))
            )
    for h in (0, 6, 12, 18, 24):
        x = LABEL + h * scale
        parts.append(
            Markup('<text class="hour" x="{:.1f}" y="9" text-anchor="middle">{:02d}</text>').format(
                x, h % 24
            )
        )
    height = 14 + days * ROW
    return Markup(
        '<svg class="schedule-chart" viewBox="0 0 {} {}" role="img" aria-label="{}">{}</svg>'
    ).format(WIDTH, height, f"On call in {schedule.name}, the next 4 weeks", Markup("").join(parts))


@bp.get("/schedules")
def schedules():
    """Every schedule: on call now and next, the next 4 weeks, overrides and gaps."""
    hub, now = the_hub(), utcnow()
    policy = hub.policy
    views = []
    with hub.db.session(write=False) as session:
        mine = active_overrides(session, now)
        for name, schedule in policy.schedules.items():
            tz = ZoneInfo(schedule.timezone)
            stretches = shifts(schedule, now, now + HORIZON, mine)
            upcoming = next_shift(schedule, now, mine)
            views.append(
                View(
                    name=name,
                    timezone=schedule.timezone,
                    oncall=person_name(policy, oncall_at(schedule, now, mine), "nobody (a gap)"),
                    next=f"{person_name(policy, upcoming.person)} from {upcoming.start.astimezone(tz):%a %d %b %H:%M %Z}"
                    if upcoming
                    else "nobody in the next 8 weeks",
                    chart=chart(policy, schedule, stretches, now),
                    stretches=[
                        (
                            _when(s, tz),
                            person_name(policy, s.person, "nobody"),
                            "gap" if s.person is None else ("override" if s.override else ""),
                            "gap" if s.person is None else "",
                        )
                        for s in stretches
                    ],
                    overrides=[
                        (o, _when(Shift(o.person, o.start_at, o.end_at), tz))
                        for o in list_overrides(session, name, now)
                    ],
                )
            )
    return render("schedules.html", title="On-call schedules", views=views)
