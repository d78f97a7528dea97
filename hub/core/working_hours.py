"""The first free working-hour slot for a meeting inside a window (pure; the review meeting).

Graph's findMeetingTimes takes delegated permissions only, so an app-only hub books the first
slot in working hours (Monday to Friday, 09:00-17:00 in the given zone by default) that
starts after `earliest` and ends by `deadline`.
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

WORKDAYS = (0, 1, 2, 3, 4)
STEP = timedelta(minutes=30)  # slots start on the hour or the half hour


def first_working_slot(
    earliest: datetime,
    deadline: datetime,
    timezone: str,
    length: timedelta = timedelta(hours=1),
    hours: tuple[time, time] = (time(9), time(17)),
    days: tuple[int, ...] = WORKDAYS,
) -> datetime | None:
    """The start (UTC) of the first slot of `length` in working hours within the window."""
    tz = ZoneInfo(timezone)
    local = earliest.astimezone(tz)
    day = local.date()
    while datetime.combine(day, hours[0], tz) < deadline + timedelta(days=1):
        if day.weekday() in days:
            opens = datetime.combine(day, hours[0], tz)
            closes = datetime.combine(day, hours[1], tz)
            start = max(opens, _round_up(local, opens))
            if start + length <= closes and start.astimezone(UTC) + length <= deadline:
                return start.astimezone(UTC)
        day += timedelta(days=1)
    return None


def _round_up(local: datetime, opens: datetime) -> datetime:
    """`local` rounded up to the next slot boundary (counted from the opening time)."""
    if local <= opens:
        return opens
    steps = -(-(local - opens) // STEP)
    return opens + steps * STEP
