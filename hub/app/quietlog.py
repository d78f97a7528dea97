"""Repeated errors logged once a minute with a count, never a traceback per retry.

A database or queue outage makes every request and every retry fail the same way; logging
each (with its traceback) floods the disk exactly when people need the logs. `RepeatLog`
logs the first occurrence of a kind of error at once, then at most one line per interval
saying how many more there were.
"""

from __future__ import annotations

import logging
import threading
import time


class RepeatLog:
    """Log `kind`'s first occurrence, then one line per `interval` seconds with the count."""

    def __init__(self, logger: logging.Logger, interval: float = 60.0, clock=time.monotonic):
        self.logger, self.interval, self.clock = logger, interval, clock
        self._seen: dict[str, tuple[float, int]] = {}  # kind -> (last logged at, suppressed)
        self._lock = threading.Lock()

    def error(self, kind: str, message: str, *args, level: int = logging.ERROR) -> bool:
        """Log unless `kind` was logged less than `interval` ago; True if this call logged."""
        now = self.clock()
        with self._lock:
            last, suppressed = self._seen.get(kind, (None, 0))
            if last is not None and now - last < self.interval:
                self._seen[kind] = (last, suppressed + 1)
                return False
            self._seen[kind] = (now, 0)
        if suppressed:
            message += f" ({suppressed} more like it in the last {self.interval:g} s)"
        self.logger.log(level, message, *args)
        return True

    def warning(self, kind: str, message: str, *args) -> bool:
        return self.error(kind, message, *args, level=logging.WARNING)
