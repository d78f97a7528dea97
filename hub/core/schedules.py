"""Who is on call when: pure resolution of the policy's schedules, with overrides.

Rotations run on the schedule's local wall clock (zoneinfo), so a 08:00 hand-off stays at
08:00 across the changes to and from daylight saving time; a shift over such a night is an
hour shorter or longer. Later layers win where they cover the time; an override (a taken or
swapped shift, stored in the database) wins over every layer, the newest first.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from hub.policy.model import Layer, Schedule

HORIZON = timedelta(weeks=4)  # how far shifts are shown and gaps are looked for
_NEXT_LOOKAHEAD = timedelta(weeks=8)


@dataclass(frozen=True)
class Override:
    """`person` is on call for `schedule` from `start` to `end` (UTC), above every layer."""

    schedule: str
    person: str
    start: datetime
    end: datetime
    id: int | None = None


@dataclass(frozen=True)
class Shift:
    """A stretch of the timeline: `person` on call (None: a gap nobody covers)."""

    person: str | None
    start: datetime
    end: datetime
    override: bool = False


@lru_cache(maxsize=64)
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def _utc(naive_local: datetime, tz: ZoneInfo) -> datetime:
    return naive_local.replace(tzinfo=tz).astimezone(UTC)


def _anchor(layer: Layer) -> datetime:
    """The first hand-off, as a naive local datetime."""
    day = layer.start
    if layer.handoff_day is not None:
        day += timedelta(days=(layer.handoff_day - day.weekday()) % 7)
    return datetime.combine(day, layer.handoff)


def _boundary(layer: Layer, k: int, tz: ZoneInfo) -> datetime:
    """The start of shift k of a layer, in UTC."""
    return _utc(_anchor(layer) + k * layer.length, tz)


def _shift_index(layer: Layer, at: datetime, tz: ZoneInfo) -> int:
    """The number of the shift running at `at` (negative before the layer starts)."""
    local = at.astimezone(tz).replace(tzinfo=None)
    k = (local - _anchor(layer)) // layer.length
    # The wall clock repeats an hour in autumn: settle k against the UTC boundaries.
    while _boundary(layer, k, tz) > at:
        k -= 1
    while _boundary(layer, k + 1, tz) <= at:
        k += 1
    return k


def _in_window(layer: Layer, at: datetime, tz: ZoneInfo) -> bool:
    """Whether the layer's restricted hours and weekdays cover the instant."""
    local = at.astimezone(tz)
    day = local.weekday()
    if layer.hours is not None:
        begin, end = layer.hours
        clock = local.time()
        if begin < end:
            if not begin <= clock < end:
                return False
        elif clock < end:
            day = (day - 1) % 7  # the window opened the evening before
        elif clock < begin:
            return False
    return layer.days is None or day in layer.days


def layer_person(layer: Layer, tz: ZoneInfo, at: datetime) -> str | None:
    """Who this layer puts on call at `at` (None outside its start or hours)."""
    if not layer.people or not _in_window(layer, at, tz):
        return None
    k = _shift_index(layer, at, tz)
    return layer.people[k % len(layer.people)] if k >= 0 else None


def oncall_at(schedule: Schedule, at: datetime, overrides: Sequence[Override] = ()) -> str | None:
    """The person on call at `at`: the newest covering override, else the last covering layer."""
    for o in reversed(overrides):
        if o.schedule == schedule.name and o.start <= at < o.end:
            return o.person
    tz = _zone(schedule.timezone)
    for layer in reversed(schedule.layers):
        person = layer_person(layer, tz, at)
        if person is not None:
            return person
    return None


def _layer_points(layer: Layer, tz: ZoneInfo, start: datetime, end: datetime) -> Iterable:
    """Every instant in [start, end) where this layer may change who is on call."""
    k = max(_shift_index(layer, start, tz), 0)
    while (b := _boundary(layer, k, tz)) < end:
        yield b
        k += 1
    if layer.hours is None and layer.days is None:
        return
    first = start.astimezone(tz).date() - timedelta(days=1)
    last = end.astimezone(tz).date()
    begin, close = layer.hours or (time(0), time(0))
    for n in range((last - first).days + 1):
        day = first + timedelta(days=n)
        yield _utc(datetime.combine(day, begin), tz)
        yield _utc(datetime.combine(day, close), tz)


def shifts(
    schedule: Schedule,
    start: datetime,
    end: datetime,
    overrides: Sequence[Override] = (),
) -> list[Shift]:
    """The timeline from `start` to `end`: who is on call, merged into stretches; gaps included."""
    tz = _zone(schedule.timezone)
    points = {start, end}
    for layer in schedule.layers:
        points.update(p for p in _layer_points(layer, tz, start, end) if start < p < end)
    mine = [o for o in overrides if o.schedule == schedule.name]
    for o in mine:
        points.update(p for p in (o.start, o.end) if start < p < end)
    ordered = sorted(points)
    out: list[Shift] = []
    for a, b in zip(ordered, ordered[1:], strict=False):
        person = oncall_at(schedule, a, mine)
        taken = any(o.start <= a < o.end for o in mine)
        if out and out[-1].person == person and out[-1].override == taken:
            out[-1] = Shift(person, out[-1].start, b, taken)
        else:
            out.append(Shift(person, a, b, taken))
    return out


def gaps(
    schedule: Schedule, start: datetime, end: datetime, overrides: Sequence[Override] = ()
) -> list[Shift]:
    """The stretches between `start` and `end` that nobody covers."""
    return [s for s in shifts(schedule, start, end, overrides) if s.person is None]


def next_shift(
    schedule: Schedule, at: datetime, overrides: Sequence[Override] = ()
) -> Shift | None:
    """The next person's stretch after whoever is on call at `at` (None: nobody within 8 weeks).

    Gaps are skipped; `schedule:NAME#next` pages this person.
    """
    now_person = oncall_at(schedule, at, overrides)
    begin, window = at, timedelta(hours=12)  # widening windows: the next person is usually near
    while begin < at + _NEXT_LOOKAHEAD:
        end = min(begin + window, at + _NEXT_LOOKAHEAD)
        for shift in shifts(schedule, begin, end, overrides):
            if shift.person is not None and shift.person != now_person:
                return shift
        begin, window = end, window * 2
    return None


def schedule_people(schedule: Schedule) -> set[str]:
    """Everyone in any layer of the schedule."""
    return {person for layer in schedule.layers for person in layer.people}


def expand_entry(
    schedules: dict[str, Schedule],
    entry: str,
    at: datetime | None,
    overrides: Sequence[Override] = (),
) -> str | None:
    """A roster entry as a person: a key stays, `schedule:NAME[#next]` is who is on call at `at`."""
    if not entry.startswith("schedule:"):
        return entry
    name, _, which = entry[len("schedule:") :].partition("#")
    schedule = schedules.get(name)
    if schedule is None or at is None:
        return None
    if which == "next":
        shift = next_shift(schedule, at, overrides)
        return shift.person if shift else None
    return oncall_at(schedule, at, overrides)
