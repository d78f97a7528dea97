"""A time axis for the SVG charts the hub draws (the console's timeline, a review's timeline)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class TimeAxis:
    """Times from `start` to `end` laid out from x=`left` to x=`right` (SVG user units)."""

    start: datetime
    end: datetime
    left: float
    right: float

    def x(self, at: datetime) -> float:
        """Where a time sits, to 0.1 unit; a time after `end` sits at `right`."""
        span = max((self.end - self.start).total_seconds(), 1.0)
        seconds = (min(at, self.end) - self.start).total_seconds()
        return round(self.left + (self.right - self.left) * seconds / span, 1)
