"""Times for people: local to the policy's zone with the UTC offset shown; countdowns to deadlines.

A `Clock` is made once per page (zone and `now` fixed), so that a board of hundreds of
incidents formats its times without looking anything up again.
"""

from __future__ import annotations

from datetime import date, datetime, time
from functools import lru_cache
from zoneinfo import ZoneInfo

from markupsafe import Markup

from hub.core.durations import format_duration

DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


@lru_cache(maxsize=16)
def zone(name: str) -> ZoneInfo:
    """The ZoneInfo for a name (cached)."""
    return ZoneInfo(name)


class Clock:
    """Formats times in one zone, relative to one `now`."""

    def __init__(self, tz: str, now: datetime):
        self.tz, self.zone = tz, zone(tz)
        self.now = now
        self.today = now.astimezone(self.zone).date()
        self._offsets: dict[int, tuple] = {}  # 15-minute UTC slot -> (offset, zone name)

    def _local(self, dt: datetime) -> tuple[datetime, str, int]:
        """Wall time, zone name and offset in minutes (offsets only change on quarter hours)."""
        slot = int(dt.timestamp()) // 900
        found = self._offsets.get(slot)
        if found is None:
            local = dt.astimezone(self.zone)
            found = self._offsets[slot] = (local.utcoffset(), local.tzname())
        offset, name = found
        return dt + offset, name, int(offset.total_seconds() // 60)

    def local(self, dt: datetime | None, style: str = "auto") -> str:
        """`14:30 CET (+01:00)`; `auto` adds the day when it is not today, `full` the year."""
        if dt is None:
            return "—"
        local, name, minutes = self._local(dt)
        if style == "auto":
            style = "short" if local.date() == self.today else "day"
        # formatted by hand: a board formats a thousand times, and strftime is the slow part
        sign, minutes = ("-", -minutes) if minutes < 0 else ("+", minutes)
        when = f"{local.hour:02d}:{local.minute:02d}"
        if style != "short":
            day = f"{DAYS[local.weekday()]} {local.day:02d} {MONTHS[local.month - 1]}"
            when = f"{day} {local.year} {when}" if style == "full" else f"{day} {when}"
        return f"{when} {name} ({sign}{minutes // 60:02d}:{minutes % 60:02d})"

    def tag(self, dt: datetime | None, style: str = "auto") -> Markup:
        """A <time> element: ISO 8601 for machines, local text for people."""
        if dt is None:
            return Markup("—")
        return _tag(self.tz, self.today, dt, style)

    def countdown(self, due: datetime | None) -> Markup:
        """`in 4 min` or `overdue 3 min`, in an element the page script keeps ticking."""
        if due is None:
            return Markup("—")
        left = (due - self.now).total_seconds()
        if left < 0:
            cls, text = "countdown late", f"overdue {format_duration(int(-left))}"
        else:
            cls, text = "countdown", f"in {format_duration(int(left))}"
        return Markup(
            f'<span class="{cls}" data-due="{due.isoformat(timespec="seconds")}">{text}</span>'
        )


@lru_cache(maxsize=64)
def _formatter(tz: str, today: date) -> Clock:
    return Clock(tz, datetime.combine(today, time(12), tzinfo=zone(tz)))


@lru_cache(maxsize=4096)
def _tag(tz: str, today: date, dt: datetime, style: str) -> Markup:
    # The same incidents' times come back on every board render: format each once (the text
    # depends on the zone, the day it is today, the time and the style, nothing else).
    # local() is digits, fixed names and the zone's abbreviation: nothing to escape.
    return Markup(
        f'<time datetime="{dt.isoformat(timespec="seconds")}">'
        f"{_formatter(tz, today).local(dt, style)}</time>"
    )
