"""The policy as a picture: per severity, who is paged when, the update cadence, the SLAs."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import timedelta

from markupsafe import Markup

from hub.core.permissions import role_label
from hub.policy.model import Policy, Severity

WIDTH, LEFT, RIGHT, AXIS_Y = 960, 16, 60, 150


@dataclass(frozen=True)
class Step:
    after: timedelta
    who: list[str]
    via: str
    unless: str | None
    short: list[str]  # who, as briefly as the picture has room for


def duration_text(value: timedelta | None) -> str:
    """A configured interval as the policy would write it, only its non-zero units: `5 min`,
    `4 h`, `2 d`, `1 h 30 min`, and an em dash for none. Not `format_duration` (hub.core.durations),
    which reads measured times: `4 h 00 min`, `2 d 0 h`, `0 s`."""
    if not value:
        return "—"
    minutes = int(value.total_seconds() // 60)
    days, rest = divmod(minutes, 1440)
    hours, mins = divmod(rest, 60)
    parts = [
        f"{days} d" if days else "",
        f"{hours} h" if hours else "",
        f"{mins} min" if mins else "",
    ]
    return " ".join(p for p in parts if p) or f"{int(value.total_seconds())} s"


def target_text(policy: Policy, target: str) -> str:
    """`role:major_incident_manager#2` as `Major Incident Manager #2 (Ben Okafor)`."""
    kind, _, name = target.partition(":")
    if kind == "person":
        person = policy.people.get(name)
        return person.name if person else name
    if kind == "audience":
        return policy.audience_name(name)
    if kind == "schedule":
        return _schedule_text(target)
    role, _, nth = name.partition("#")
    position = int(nth) if nth.isdigit() else 1
    label = role_label(role) + (f" #{position}" if position > 1 else "")
    if role == "tech_lead":
        return f"{label} (of the affected service)"
    roster = policy.roles.get(role, ())
    who = _entry_text(policy, roster[position - 1]) if len(roster) >= position else "nobody"
    return f"{label} ({who})"


def _schedule_text(entry: str) -> str:
    name, _, which = entry.removeprefix("schedule:").partition("#")
    return f"next on call in {name}" if which == "next" else f"on call in {name}"


def _entry_text(policy: Policy, entry: str) -> str:
    """A roster entry in words: a person's name, or `on call in mim`."""
    if entry.startswith("schedule:"):
        return _schedule_text(entry)
    return policy.people[entry].name


def short_target(policy: Policy, target: str) -> str:
    """`Ben Okafor` for `role:major_incident_manager#2`; `tech lead` for the service's."""
    text = target_text(policy, target)
    if target.startswith("role:tech_lead"):
        return "tech lead" + (" #2" if "#2" in target else "")
    return text.rsplit("(", 1)[1].rstrip(")") if text.endswith(")") else text


def steps_for(policy: Policy, key: str) -> list[Step]:
    """The escalation steps of a severity, in words."""
    return [
        Step(
            s.after,
            [target_text(policy, t) for t in s.notify],
            " and ".join(s.via),
            s.unless,
            [short_target(policy, t) for t in s.notify],
        )
        for s in policy.escalation.get(key, ())
    ]


def update_times(severity: Severity, horizon: timedelta) -> list[timedelta]:
    """When stakeholder updates fall due if every one is posted just in time."""
    if not severity.update_every:
        return []
    at = severity.first_update_within or severity.update_every
    out = []
    while at <= horizon and len(out) < 40:
        out.append(at)
        at += severity.update_every
    return out


def picture(policy: Policy, key: str) -> Markup:
    """An SVG of the first hours of an incident of this severity (time on a square-root scale)."""
    severity = policy.severities[key]
    steps = steps_for(policy, key)
    marks = [s.after for s in steps] + [
        severity.ack_within or timedelta(0),
        severity.resolve_within or timedelta(0),
    ]
    horizon = max(marks + [timedelta(hours=1)])
    span = (WIDTH - LEFT - RIGHT) / math.sqrt(horizon.total_seconds())

    def scale(t: timedelta) -> float:
        return LEFT + span * math.sqrt(t.total_seconds())

    out = [
        Markup('<line class="axis" x1="{}" y1="{}" x2="{}" y2="{}"/>').format(
            LEFT, AXIS_Y, WIDTH - RIGHT, AXIS_Y
        )
    ]
    for due in update_times(severity, horizon):
        out.append(
            Markup(
                '<g class="cadence"><title>stakeholder update due after {0}</title>'
                '<line x1="{1}" y1="{2}" x2="{1}" y2="{3}"/></g>'
            ).format(duration_text(due), round(scale(due), 1), AXIS_Y - 10, AXIS_Y + 10)
        )
    for label, value in (
        ("acknowledge by", severity.ack_within),
        ("resolve by", severity.resolve_within),
    ):
        if value:
            x = round(scale(value), 1)
            out.append(
                Markup(
                    '<g class="deadline ahead"><line x1="{0}" y1="20" x2="{0}" '
                    'y2="{1}"/><text x="{0}" y="14" text-anchor="{2}">{3} {4}</text>'
                    "</g>"
                ).format(
                    x,
                    AXIS_Y + 10,
                    "end" if x > WIDTH * 0.6 else "middle",
                    label,
                    duration_text(value),
                )
            )
    for n, step in enumerate(steps):
        x = round(scale(step.after), 1)
        y = 40 + (n % 4) * 24
        text = f"+{duration_text(step.after) if step.after else '0'}: {', '.join(step.short)}"
        right = x > WIDTH * 0.55
        out.append(
            Markup(
                '<g class="step"><title>{0} via {1}{2}</title><circle cx="{3}" '
                'cy="{4}" r="6"/><line x1="{3}" y1="{4}" x2="{3}" y2="{5}"/>'
                '<text x="{6}" y="{7}" text-anchor="{8}">{9}</text></g>'
            ).format(
                text,
                step.via,
                " unless acknowledged" if step.unless else "",
                x,
                AXIS_Y,
                y,
                x - 8 if right else x + 8,
                y + 4,
                "end" if right else "start",
                text[:90],
            )
        )
    for t in (timedelta(0), horizon / 4, horizon):
        out.append(
            Markup('<text class="tick" x="{}" y="{}" text-anchor="middle">+{}</text>').format(
                round(scale(t), 1), AXIS_Y + 26, duration_text(t) if t else "0"
            )
        )
    return Markup(
        '<svg class="policy-chart" viewBox="0 0 {} {}" role="img" aria-label="{}">{}</svg>'
    ).format(
        WIDTH,
        AXIS_Y + 36,
        f"What happens after an incident is declared {key}",
        Markup("").join(out),
    )
