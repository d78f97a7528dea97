"""Repeated errors logged once a minute with a count, never a traceback per retry.

A database or queue outage makes every request and every retry fail the same way; logging
each (with its traceback) floods the disk exactly when people need the logs. `RepeatLog`
logs the first occurrence of a kind of error at once, then at most one line per interval
saying how many more there were.
"""

from __future__ import annotations

import logging
import re
import threading
import time

INTERVAL = 60.0  # seconds, the process's default for both; HUB_LOG_REPEAT_INTERVAL sets it


def set_interval(seconds: float) -> None:
    """The interval of every RepeatLog and RepeatFilter made without one (at start-up)."""
    global INTERVAL
    INTERVAL = seconds


class RepeatLog:
    """Log `kind`'s first occurrence, then one line per `interval` seconds with the count."""

    def __init__(self, logger: logging.Logger, interval: float | None = None, clock=time.monotonic):
        self.logger, self._interval, self.clock = logger, interval, clock
        self._seen: dict[str, tuple[float, int]] = {}  # kind -> (last logged at, suppressed)
        self._lock = threading.Lock()

    @property
    def interval(self) -> float:
        return INTERVAL if self._interval is None else self._interval

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


_NUMBERS = re.compile(r"\d+")
_OUTAGE_NAMES = ("Connection", "Timeout", "Operational", "Interface", "BusyLoading")


def is_outage(exc: BaseException | None) -> bool:
    """Whether `exc` says a dependency is away (not a bug): its traceback helps nobody."""
    if exc is None:
        return False
    if isinstance(exc, (ConnectionError, TimeoutError)):
        return True
    return type(exc).__module__.split(".")[0] in ("redis", "sqlalchemy", "psycopg") and any(
        n in type(exc).__name__ for n in _OUTAGE_NAMES
    )


class RepeatFilter(logging.Filter):
    """For a log handler: warnings and errors that repeat (the same text, numbers aside, from
    the same logger) pass once per `interval` with a count; an outage's traceback becomes one
    line. Huey's consumer logs a traceback per thread per poll while Redis is away; this turns
    that into a line a minute."""

    def __init__(self, interval: float | None = None, clock=time.monotonic):
        super().__init__()
        self._interval, self.clock = interval, clock
        self._seen: dict[tuple, tuple[float, int]] = {}
        self._lock = threading.Lock()

    @property
    def interval(self) -> float:
        return INTERVAL if self._interval is None else self._interval

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING:
            return True
        exc = record.exc_info[1] if record.exc_info else None
        key = (
            _NUMBERS.sub("#", record.name),
            _NUMBERS.sub("#", record.getMessage()),
            type(exc).__name__ if exc else None,
        )
        now = self.clock()
        with self._lock:
            last, suppressed = self._seen.get(key, (None, 0))
            if last is not None and now - last < self.interval:
                self._seen[key] = (last, suppressed + 1)
                return False
            self._seen[key] = (now, 0)
            if len(self._seen) > 10_000:
                self._seen = {k: v for k, v in self._seen.items() if now - v[0] < self.interval}
        if is_outage(exc):
            record.msg = f"{record.getMessage()}: {type(exc).__name__}: {str(exc).strip()[:300]}"
            record.args, record.exc_info, record.exc_text = None, None, None
        if suppressed:
            record.msg = (
                f"{record.getMessage()} ({suppressed} more like it in the last {self.interval:g} s)"
            )
            record.args = None
        return True
