"""How times are shown: ISO 8601 with offset for machines, local HH:MM for people."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo


def iso(dt: datetime | None) -> str | None:
    """ISO 8601 with a UTC offset, seconds precision."""
    return None if dt is None else dt.isoformat(timespec="seconds")


def local_hhmm(dt: datetime, tz: str) -> str:
    """`14:30 CET` in the policy's timezone."""
    return dt.astimezone(ZoneInfo(tz)).strftime("%H:%M %Z")


def local_hhmmss(dt: datetime, tz: str) -> str:
    """`14:30:05 CET` in the policy's timezone (a delivery's expected finish)."""
    return dt.astimezone(ZoneInfo(tz)).strftime("%H:%M:%S %Z")


def local_full(dt: datetime, tz: str) -> str:
    """`2026-11-27 14:30 CET` in the policy's timezone."""
    return dt.astimezone(ZoneInfo(tz)).strftime("%Y-%m-%d %H:%M %Z")


def parse_iso(text: str) -> datetime:
    """Parse ISO 8601; the value must carry a UTC offset."""
    dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if dt.tzinfo is None:
        raise ValueError("time must carry a UTC offset, e.g. 2026-11-27T14:30:00+01:00")
    return dt
