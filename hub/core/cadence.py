"""Stakeholder update cadence: when the next update is due, when to remind, when to say "no change"."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from hub.policy.model import Severity

REMIND_BEFORE = timedelta(minutes=5)  # remind the Communications Owner this long before due...
REMIND_FRACTION = 0.2  # ...or this fraction of the interval before, whichever is smaller


@dataclass(frozen=True)
class Cycle:
    """One update interval: it starts at declaration or at the last update sent."""

    number: int  # 1 = the first update after declaration
    starts_at: datetime
    due_at: datetime
    remind_at: datetime


def interval(severity: Severity, number: int) -> timedelta | None:
    """The length of cycle `number`: first_update_within for the first, then update_every."""
    if number == 1 and severity.first_update_within:
        return severity.first_update_within
    return severity.update_every


def reminder_at(due_at: datetime, length: timedelta) -> datetime:
    """When to remind the Communications Owner of an update due at `due_at`."""
    return due_at - min(REMIND_BEFORE, length * REMIND_FRACTION)


def plan_cycle(severity: Severity, number: int, starts_at: datetime) -> Cycle | None:
    """Cycle `number` starting at `starts_at`; None when the severity has no cadence."""
    length = interval(severity, number)
    if not length:
        return None
    due = starts_at + length
    return Cycle(number=number, starts_at=starts_at, due_at=due, remind_at=reminder_at(due, length))


def after_update(severity: Severity, number: int, sent_at: datetime) -> Cycle | None:
    """The cycle that follows an update (posted or "no change") sent at `sent_at`."""
    return plan_cycle(severity, number + 1, sent_at)


def after_no_change(severity: Severity, cycle: Cycle, now: datetime) -> Cycle | None:
    """The cycle after a "no change" update for `cycle`, sent at (or late after) its due time.

    It counts from the due time so that the cadence keeps its rhythm, unless the hub was down
    for a whole interval: then it counts from now, so stakeholders are not flooded.
    """
    nxt = after_update(severity, cycle.number, cycle.due_at)
    if nxt is not None and nxt.due_at <= now:
        nxt = after_update(severity, cycle.number, now)
    return nxt


def needs_no_change(cycle_starts_at: datetime, last_update_at: datetime | None) -> bool:
    """True when nobody posted an update since the cycle began."""
    return last_update_at is None or last_update_at <= cycle_starts_at
