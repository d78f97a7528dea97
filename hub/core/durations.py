"""How long something took, for people: `45 s`, `10 min`, `2 h 05 min`, `3 d 2 h`."""

from __future__ import annotations


def format_duration(seconds: int | None) -> str:
    """`2 h 05 min`, `45 s`, or an em dash when unknown."""
    if seconds is None:
        return "—"
    if seconds < 60:
        return f"{seconds} s"
    minutes = seconds // 60
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes:02d} min"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h"
