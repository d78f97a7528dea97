"""Per-endpoint rate limits (Teams webhooks, Graph mailboxes): shared by every thread of a
process, and by every worker process once `share_limits` was called (the worker does: see
hub/notifications/shared_throttle.py)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from hub.notifications.shared_throttle import FileStore, RedisStore, SharedRateLimiter


class RateLimiter:
    """A token bucket per key: `rate` requests per second on average, at most `burst` at once.

    Implemented as GCRA (a "theoretical arrival time" per key), so a caller reserves its
    slot under the lock and then sleeps outside it: threads queue fairly and never spin.
    """

    def __init__(
        self,
        rate: float,
        burst: int = 1,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ):
        if rate <= 0 or burst < 1:
            raise ValueError("rate must be > 0 and burst >= 1")
        self.rate, self.burst = float(rate), int(burst)
        self._interval = 1.0 / self.rate
        self._tolerance = (self.burst - 1) * self._interval
        self._clock, self._sleep = clock, sleep
        self._tat: dict[str, float] = {}  # key -> theoretical arrival time of the next request
        self._blocked: dict[str, float] = {}  # key -> no request before this (after a 429)
        self._lock = threading.Lock()

    def _earliest(self, key: str, now: float) -> float:
        start = self._tat.get(key, now) - self._tolerance
        return max(now, start, self._blocked.get(key, now))

    def delay_for(self, key: str) -> float:
        """Seconds until a request to `key` would be allowed; reserves nothing."""
        with self._lock:
            now = self._clock()
            return self._earliest(key, now) - now

    def try_acquire(self, key: str) -> float:
        """Take a slot if one is free now and return 0.0; else the delay, taking nothing."""
        return self._reserve(key, max_wait=0.0)[1]

    def acquire(self, key: str, max_wait: float | None = None) -> bool:
        """Block until a request to `key` is allowed; False (nothing taken) if over `max_wait`."""
        ok, wait = self._reserve(key, max_wait)
        if ok and wait > 0:
            self._sleep(wait)
        return ok

    def _reserve(self, key: str, max_wait: float | None) -> tuple[bool, float]:
        with self._lock:
            now = self._clock()
            at = self._earliest(key, now)
            wait = at - now
            if max_wait is not None and wait > max_wait:
                return False, wait
            self._tat[key] = max(self._tat.get(key, now), at) + self._interval
            return True, wait

    def block(self, key: str, seconds: float) -> None:
        """No request to `key` for `seconds` (the endpoint said 429 Retry-After)."""
        with self._lock:
            until = self._clock() + max(0.0, seconds)
            self._blocked[key] = max(self._blocked.get(key, 0.0), until)


_SHARED: dict[tuple[str, float, int], RateLimiter | SharedRateLimiter] = {}
_SHARED_LOCK = threading.Lock()
_STORE: list = []  # the shared store, once `share_limits` chose one


def share_limits(queue_url: str, data_dir: Path) -> None:
    """Count every limit across processes: in Redis when the queue is Redis (keys prefixed
    with the queue's name), else in files under `<data_dir>/limits` (one machine)."""
    parts = urlsplit(queue_url)
    if parts.scheme in ("redis", "rediss"):
        name = parse_qs(parts.query).get("name", ["mihub"])[0]
        store = RedisStore(queue_url.split("?", 1)[0], f"mihub.rate.{name}")
    else:
        store = FileStore(Path(data_dir) / "limits")
    with _SHARED_LOCK:
        _STORE[:] = [store]
        _SHARED.clear()


def shared_limiter(name: str, rate: float, burst: int = 1) -> RateLimiter | SharedRateLimiter:
    """The process-wide limiter for `name` (e.g. "teams-webhook", "graph-mailbox")."""
    with _SHARED_LOCK:
        key = (name, float(rate), int(burst))
        if key not in _SHARED:
            local = RateLimiter(rate, burst)
            _SHARED[key] = (
                SharedRateLimiter(_STORE[0], name, rate, burst, fallback=local) if _STORE else local
            )
        return _SHARED[key]
