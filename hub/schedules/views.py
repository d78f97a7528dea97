"""What the API, the console and Teams show of a schedule: on call now, next, the next 4 weeks."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from hub.core.schedules import HORIZON, Override, Shift, next_shift, oncall_at, shifts
from hub.policy.model import Policy, person_name
from hub.schedules.feeds import feed_url
from hub.schedules.overrides import active_overrides, list_overrides, override_json


def shift_json(shift: Shift) -> dict:
    """A stretch of the timeline as JSON (person None: a gap)."""
    return {
        "person": shift.person,
        "start": shift.start.isoformat(),
        "end": shift.end.isoformat(),
        "override": shift.override,
    }


def timelines(policy: Policy, overrides: list[Override], now: datetime) -> dict[str, list[Shift]]:
    """Every schedule's next 4 weeks."""
    return {name: shifts(s, now, now + HORIZON, overrides) for name, s in policy.schedules.items()}


def schedule_doc(
    session: Session,
    policy: Policy,
    name: str,
    *,
    now: datetime,
    secret: str,
    base_url: str,
    overrides: list[Override] | None = None,
    detail: bool = True,
) -> dict:
    """`{name, timezone, oncall_now, next, shifts, ics_url, overrides}` of one schedule."""
    schedule = policy.schedules[name]
    if overrides is None:
        overrides = active_overrides(session, now)
    upcoming = next_shift(schedule, now, overrides)
    doc = {
        "name": name,
        "timezone": schedule.timezone,
        "oncall_now": oncall_at(schedule, now, overrides),
        "next": {"person": upcoming.person, "start": upcoming.start.isoformat()}
        if upcoming
        else None,
        "ics_url": feed_url(session, secret, base_url, f"schedule:{name}"),
    }
    if detail:
        doc["shifts"] = [shift_json(s) for s in shifts(schedule, now, now + HORIZON, overrides)]
        doc["overrides"] = [override_json(o) for o in list_overrides(session, name, now)]
    return doc


def oncall_lines(
    policy: Policy, names: list[str], overrides: list[Override], now: datetime
) -> list[str]:
    """Who is on call now and next, one line per schedule, times in the schedule's zone."""
    lines = []
    for name in names:
        schedule = policy.schedules[name]
        tz = ZoneInfo(schedule.timezone)
        current = person_name(policy, oncall_at(schedule, now, overrides), "nobody (a gap)")
        upcoming = next_shift(schedule, now, overrides)
        then = (
            f"; next: {person_name(policy, upcoming.person)} from "
            f"{upcoming.start.astimezone(tz):%a %d %b %H:%M %Z}"
            if upcoming
            else ""
        )
        lines.append(f"{name}: {current}{then}")
    return lines
