"""The schedules section of the policy file: on-call rotations in layers, read into the model."""

from __future__ import annotations

import re
from datetime import date, time, timedelta

from yaml.nodes import Node

from hub.policy.checks import Reader, suggest
from hub.policy.model import Layer, Schedule

LAYER_KEYS = ("rotation", "handoff", "people", "start", "hours", "days", "length")
ROTATIONS = {"daily": timedelta(days=1), "weekly": timedelta(days=7), "custom": None}
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_CLOCK_RE = re.compile(r"([01]?[0-9]|2[0-3]):([0-5][0-9])")
_HANDOFF_RE = re.compile(r"(?:([a-z]{3})\s+)?(\S+)")
SCHEDULE_REF_RE = re.compile(r"schedule:([A-Za-z0-9_.-]+)(#next)?")


def _clock(r: Reader, node: Node, field: str, text: str) -> time | None:
    match = _CLOCK_RE.fullmatch(text)
    if match is None:
        r.problem(node, field, f'expected a time like "08:00", got {text!r}')
        return None
    return time(int(match[1]), int(match[2]))


def _weekday(r: Reader, node: Node, field: str, text: str) -> int | None:
    if text.lower()[:3] not in WEEKDAYS or len(text) < 3:
        r.problem(node, field, f"expected a weekday ({', '.join(WEEKDAYS)}), got {text!r}")
        return None
    return WEEKDAYS.index(text.lower()[:3])


def _days(r: Reader, node: Node | None, field: str) -> tuple[int, ...] | None:
    """Weekdays like [mon, tue] or [mon-fri]."""
    if node is None:
        return None
    days: set[int] = set()
    for path, item in r.items(node, field):
        text = r.string(item, path) or ""
        first, _, last = text.partition("-")
        a = _weekday(r, item, path, first) if text else None
        b = _weekday(r, item, path, last) if last else a
        if a is not None and b is not None:
            days.update((a + n) % 7 for n in range((b - a) % 7 + 1))
    return tuple(sorted(days)) or None


def _hours(r: Reader, node: Node | None, field: str) -> tuple[time, time] | None:
    """Covered hours like "20:00-08:00" (the end may be past midnight)."""
    text = r.string(node, field)
    if text is None:
        return None
    begin, dash, end = text.partition("-")
    if not dash:
        r.problem(node, field, f'expected hours like "09:00-17:00", got {text!r}')
        return None
    a, b = _clock(r, node, field, begin.strip()), _clock(r, node, field, end.strip())
    return (a, b) if a is not None and b is not None else None


def _layer(r: Reader, node: Node, path: str, known_people) -> Layer | None:
    f = r.mapping(node, path, LAYER_KEYS, required=("rotation", "people", "start"))
    if f is None:
        return None
    rotation = r.string(f.get("rotation"), f"{path}.rotation")
    length = None
    if rotation is not None and rotation not in ROTATIONS:
        r.problem(
            f["rotation"], f"{path}.rotation", f"expected daily, weekly or custom, got {rotation!r}"
        )
    elif rotation == "custom":
        length = r.duration(f.get("length"), f"{path}.length")
        if "length" not in f:
            r.problem(node, f"{path}.length", "required for a custom rotation (like 12h or 3d)")
    elif rotation is not None:
        length = ROTATIONS[rotation]
        if "length" in f:
            r.problem(f["length"], f"{path}.length", "only a custom rotation takes a length")
    start_text = r.string(f.get("start"), f"{path}.start")
    start = None
    try:
        start = date.fromisoformat(start_text) if start_text else None
    except ValueError:
        r.problem(
            f["start"], f"{path}.start", f"expected a date like 2026-01-05, got {start_text!r}"
        )
    handoff, day = time(9, 0), None
    text = r.string(f.get("handoff"), f"{path}.handoff")
    match = _HANDOFF_RE.fullmatch(text.lower()) if text else None
    if text is not None and match is None:
        r.problem(f["handoff"], f"{path}.handoff", f'expected "mon 09:00" or "08:00", got {text!r}')
    elif match:
        handoff = _clock(r, f["handoff"], f"{path}.handoff", match[2]) or handoff
        if match[1]:
            day = _weekday(r, f["handoff"], f"{path}.handoff", match[1])
    if day is None and rotation == "weekly" and start is not None:
        day = start.weekday()
    people = r.refs(f.get("people"), f"{path}.people", known_people, "person")
    if r.seq(f.get("people"), f"{path}.people", single_ok=True) == []:
        r.problem(f["people"], f"{path}.people", "needs at least one person")
    if length is None or start is None or not people:
        return None
    return Layer(
        people=people,
        start=start,
        length=length,
        handoff=handoff,
        handoff_day=day,
        hours=_hours(r, f.get("hours"), f"{path}.hours"),
        days=_days(r, f.get("days"), f"{path}.days"),
    )


def read_schedules(
    r: Reader, entries: list | None, known_people, default_tz: str
) -> dict[str, Schedule]:
    """Each schedule with its layers; problems are recorded on the reader."""
    schedules = {}
    for name, key_node, node in entries or []:
        path = f"schedules.{name}"
        f = r.mapping(node, path, ("timezone", "layers"), required=("layers",))
        if f is None:
            continue
        tz = r.timezone(f.get("timezone"), f"{path}.timezone") or default_tz
        layers = []
        items = r.seq(f.get("layers"), f"{path}.layers")
        if items == [] and "layers" in f:
            r.problem(f["layers"], f"{path}.layers", "needs at least one layer")
        for i, item in enumerate(items or []):
            layer = _layer(r, item, f"{path}.layers[{i}]", known_people)
            if layer is not None:
                layers.append(layer)
        schedules[name] = Schedule(
            name=name, timezone=tz, layers=tuple(layers), line=key_node.start_mark.line + 1
        )
    return schedules


def roster_entries(r: Reader, node: Node | None, field: str, known: dict) -> tuple[str, ...]:
    """A role's roster: person keys and `schedule:NAME[#next]` entries, the valid ones."""
    out = []
    for path, item in r.items(node, field):
        text = r.string(item, path)
        if text is None or not text.startswith("schedule:"):
            person = r.ref(item, path, known["people"], "person")
            out += [person] if person else []
            continue
        match = SCHEDULE_REF_RE.fullmatch(text)
        names = known.get("schedules")
        if match is None:
            r.problem(item, path, f"expected schedule:NAME or schedule:NAME#next, got {text!r}")
        elif names is not None and match[1] not in names:
            r.problem(item, path, f"unknown schedule {match[1]!r}{suggest(match[1], names)}")
        else:
            out.append(text)
    return tuple(out)
