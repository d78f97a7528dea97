"""Rate limits shared by every worker process: the same GCRA as hub/notifications/throttle.py,
its state ("theoretical arrival time" and a 429 block per endpoint) kept in Redis when the
queue is Redis, else in a small locked file per endpoint in the data directory (the embedded
setup: every process on one machine shares it).

A caller reserves its slot in one atomic step (a Lua script, or under `flock`) and sleeps
outside it, so the workers of all processes queue fairly for an endpoint: two workers never
exceed a webhook's limit together. The clock is Redis's own (`TIME`) or the machine's.
If the store fails (Redis away), the process falls back to its own limiter and says so once.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import socket
import time
from pathlib import Path

try:  # only a Redis queue needs it (the `scaleout` extra)
    import redis
except ImportError:  # pragma: no cover - the embedded setup
    redis = None

log = logging.getLogger("hub.notifications.throttle")

_RESERVE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local interval, tolerance = tonumber(ARGV[1]), tonumber(ARGV[2])
local max_wait, take = tonumber(ARGV[3]), ARGV[4] == '1'
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
local blocked = tonumber(redis.call('GET', KEYS[2]) or now)
local at = math.max(now, tat - tolerance, blocked)
local wait = at - now
if (not take) or (max_wait >= 0 and wait > max_wait) then
  return {0, tostring(wait)}
end
local new = math.max(tat, at) + interval
redis.call('SET', KEYS[1], tostring(new), 'PX', math.ceil((new - now + 1) * 1000))
return {1, tostring(wait)}
"""

_BLOCK = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local untl = now + tonumber(ARGV[1])
local old = tonumber(redis.call('GET', KEYS[1]) or 0)
if untl > old then
  redis.call('SET', KEYS[1], tostring(untl), 'PX', math.ceil((untl - now + 1) * 1000))
end
return 1
"""


OWNER = f"{socket.gethostname()}:{os.getpid()}"
PAGING_FOR = 1.0  # seconds a "sending pages" mark lasts (a page lane renews it at every send)


def _slot_id(name: str, key: str) -> str:
    return f"{name}.{hashlib.sha256(key.encode()).hexdigest()[:24]}"


class RedisStore:
    """GCRA state in Redis keys that expire once they no longer matter."""

    def __init__(self, url: str, prefix: str):
        self.client = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=5)
        self.prefix = prefix
        self._reserve = self.client.register_script(_RESERVE)
        self._block = self.client.register_script(_BLOCK)

    def reserve(self, slot: str, interval: float, tolerance: float, max_wait, take: bool):
        keys = [f"{self.prefix}.{slot}.tat", f"{self.prefix}.{slot}.blocked"]
        mw = -1.0 if max_wait is None else max_wait
        ok, wait = self._reserve(keys=keys, args=[interval, tolerance, mw, "1" if take else "0"])
        return bool(ok), float(wait)

    def block(self, slot: str, seconds: float) -> None:
        self._block(keys=[f"{self.prefix}.{slot}.blocked"], args=[max(0.0, seconds)])

    def paging(self, slot: str, owner: str, seconds: float) -> None:
        key = f"{self.prefix}.{slot}.paging"
        with self.client.pipeline() as pipe:
            pipe.hset(key, owner, repr(time.time() + seconds))
            pipe.expire(key, int(seconds) + 2)
            pipe.execute()

    def paging_elsewhere(self, slot: str, owner: str) -> bool:
        found = self.client.hgetall(f"{self.prefix}.{slot}.paging")
        now = time.time()
        return any(k.decode() != owner and float(v) > now for k, v in found.items())


class FileStore:
    """GCRA state in `<dir>/<slot>`: "tat blocked", read and written under an exclusive flock."""

    def __init__(self, directory: Path):
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)

    def _update(self, slot: str, change):
        fd = os.open(self.dir / slot, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            now = time.time()
            raw = os.pread(fd, 100, 0).split()
            tat = float(raw[0]) if raw else now
            blocked = float(raw[1]) if len(raw) > 1 else now
            result, tat, blocked = change(now, tat, blocked)
            data = f"{tat!r} {blocked!r}".encode()
            os.ftruncate(fd, 0)
            os.pwrite(fd, data, 0)
            return result
        finally:
            os.close(fd)  # releases the lock

    def reserve(self, slot: str, interval: float, tolerance: float, max_wait, take: bool):
        def change(now, tat, blocked):
            at = max(now, tat - tolerance, blocked)
            wait = at - now
            if not take or (max_wait is not None and wait > max_wait):
                return (False, wait), tat, blocked
            return (True, wait), max(tat, at) + interval, blocked

        return self._update(slot, change)

    def block(self, slot: str, seconds: float) -> None:
        self._update(slot, lambda now, tat, b: (None, tat, max(b, now + max(0.0, seconds))))

    def _paging(self, slot: str, change) -> dict:
        fd = os.open(self.dir / f"{slot}.paging", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            raw = os.pread(fd, 65536, 0)
            now = time.time()
            owners = {k: v for k, v in (json.loads(raw) if raw else {}).items() if v > now}
            if change:
                owners.update(change(now))
                os.ftruncate(fd, 0)
                os.pwrite(fd, json.dumps(owners).encode(), 0)
            return owners
        finally:
            os.close(fd)

    def paging(self, slot: str, owner: str, seconds: float) -> None:
        self._paging(slot, lambda now: {owner: now + seconds})

    def paging_elsewhere(self, slot: str, owner: str) -> bool:
        return any(k != owner for k in self._paging(slot, None))


class SharedRateLimiter:
    """`RateLimiter`'s interface (delay_for, try_acquire, acquire, block) over a shared store."""

    def __init__(self, store, name: str, rate: float, burst: int = 1, fallback=None, sleep=None):
        if rate <= 0 or burst < 1:
            raise ValueError("rate must be > 0 and burst >= 1")
        self.store, self.name = store, name
        self.rate, self.burst = float(rate), int(burst)
        self._interval = 1.0 / self.rate
        self._tolerance = (self.burst - 1) * self._interval
        self._fallback, self._sleep = fallback, sleep or time.sleep
        self._failing = False

    def _reserve(self, key: str, max_wait, take: bool) -> tuple[bool, float]:
        try:
            found = self.store.reserve(
                _slot_id(self.name, key), self._interval, self._tolerance, max_wait, take
            )
        except Exception as exc:
            if not self._failing:
                log.error(
                    "shared rate limit %s unavailable (%s): limiting per process", self.name, exc
                )
            self._failing = True
            if not take:
                return False, self._fallback.delay_for(key)
            return self._fallback._reserve(key, max_wait)
        if self._failing:
            log.warning("shared rate limit %s available again", self.name)
            self._failing = False
        return found

    def delay_for(self, key: str) -> float:
        """Seconds until a request to `key` would be allowed; reserves nothing."""
        return self._reserve(key, None, take=False)[1]

    def try_acquire(self, key: str) -> float:
        """Take a slot if one is free now and return 0.0; else the delay, taking nothing."""
        return self._reserve(key, 0.0, take=True)[1]

    def acquire(self, key: str, max_wait: float | None = None) -> bool:
        """Block until a request to `key` is allowed; False (nothing taken) if over `max_wait`."""
        ok, wait = self._reserve(key, max_wait, take=True)
        if ok and wait > 0:
            self._sleep(wait)
        return ok

    def paging(self, key: str, seconds: float = PAGING_FOR) -> None:
        """Say that this process is sending pages to `key` (for the next `seconds`)."""
        # best effort: without it the processes share the slots evenly
        with contextlib.suppress(Exception):
            self.store.paging(_slot_id(self.name, key), OWNER, seconds)

    def paging_elsewhere(self, key: str) -> bool:
        """Whether another process is sending pages to `key`: rows of a lower rank wait."""
        try:
            return self.store.paging_elsewhere(_slot_id(self.name, key), OWNER)
        except Exception:
            return False

    def block(self, key: str, seconds: float) -> None:
        """No request to `key` from any process for `seconds` (the endpoint said 429)."""
        try:
            self.store.block(_slot_id(self.name, key), seconds)
        except Exception:
            self._fallback.block(key, seconds)
