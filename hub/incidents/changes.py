"""The incidents' change feed: what the live pages follow, read from the database.

Every change to an incident (a role, an acknowledgement, an update, the severity, the state,
a timer's page or reminder, the review's state) appends a timeline entry, so the timeline's
ids are the feed. One thread per process reads the entries newer than the last it saw every
`interval` seconds, while at least one stream listens, and wakes every waiting stream: the
source is the database, so a change made by any process (another web process, the worker,
the SMTP listener) reaches the streams of all of them. One indexed range query per process
and interval, whatever the number of streams.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from sqlalchemy import func, select

from hub.app.models import Incident, TimelineEntry

log = logging.getLogger(__name__)

# What a person sees change, by timeline kind (anything else keeps its own kind).
CATEGORIES = {
    "acknowledged": "acknowledgement",
    "role": "role",
    "update": "update",
    "update-auto": "update",
    "classified": "severity",
    "reclassified": "severity",
    "state": "state",
    "merged": "state",
    "paged": "timer",
    "reminder": "timer",
    "sla-breach": "timer",
    "replanned": "timer",
}
# An id below the newest seen but not yet seen may be a transaction that took its id earlier
# and commits later (PostgreSQL sequences); it is looked for this long, then taken as a gap.
GAP_SECONDS = 5.0


@dataclass(frozen=True)
class Change:
    """One timeline entry as the feed tells it: `seq` orders the feed, `id` is the entry's."""

    seq: int
    id: int
    incident: int
    kind: str

    @property
    def category(self) -> str:
        return CATEGORIES.get(self.kind, self.kind)

    def as_event(self) -> dict:
        return {"incident": f"INC-{self.incident}", "kind": self.category, "entry": self.id}


class ChangeFeed:
    """One per process: polls the timeline and wakes the streams that wait on it."""

    def __init__(self, db, interval: float = 0.25, keep: int = 5000):
        self.db = db
        self.interval = interval
        self._cond = threading.Condition()
        self._recent: deque[Change] = deque(maxlen=keep)
        self._seq = 0
        self._cursor: int | None = None  # the newest timeline id read
        self._gaps: dict[int, float] = {}  # id → when first missed
        self._listeners = 0
        self._thread: threading.Thread | None = None
        self.closed = False
        self.polls = 0

    @contextmanager
    def listening(self) -> Iterator[int]:
        """While a stream is open: the feed polls; yields the sequence number to wait after."""
        with self._cond:
            self._listeners += 1
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="change-feed", daemon=True)
                self._thread.start()
            seq = self._seq
        try:
            yield seq
        finally:
            with self._cond:
                self._listeners -= 1

    @property
    def listeners(self) -> int:
        return self._listeners

    def wait(self, after: int, timeout: float) -> tuple[int, list[Change]]:
        """The changes after sequence number `after`, waiting up to `timeout` seconds for one."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._seq <= after and not self.closed:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._cond.wait(left)
            changes = [c for c in self._recent if c.seq > after]
            return self._seq, changes

    def close(self) -> None:
        """Wake every stream and end them (the process is stopping)."""
        with self._cond:
            self.closed = True
            self._cond.notify_all()

    def newest_id(self) -> int:
        """The newest timeline id now (what a new stream starts after)."""
        with self.db.reading() as conn:
            return conn.execute(select(func.max(TimelineEntry.id))).scalar() or 0

    def since(self, incident: int | None, after_id: int, limit: int = 200) -> list[Change]:
        """The entries after `after_id` (of one incident, or all), for a reconnecting stream."""
        query = select(TimelineEntry.id, TimelineEntry.incident_id, TimelineEntry.kind).where(
            TimelineEntry.id > after_id
        )
        if incident is not None:
            query = query.where(TimelineEntry.incident_id == incident)
        with self.db.reading() as conn:
            rows = conn.execute(query.order_by(TimelineEntry.id).limit(limit)).all()
        return [Change(0, r.id, r.incident_id, r.kind) for r in rows]

    def exists(self, incident: int) -> bool:
        """Whether the incident exists (a stream for none is a 404)."""
        with self.db.reading() as conn:
            found = conn.execute(select(Incident.id).where(Incident.id == incident)).first()
        return found is not None

    def _run(self) -> None:
        idle_since = None
        while not self.closed:
            if self._listeners == 0:
                idle_since = idle_since or time.monotonic()
                if time.monotonic() - idle_since > 30:
                    with self._cond:  # nobody for 30 s: stop; the next stream starts it again
                        if self._listeners == 0:
                            self._thread = None
                            self._cursor = None
                            return
            else:
                idle_since = None
            try:
                self.poll()
            except Exception:  # the database restarting: the streams wait, then heartbeat
                log.warning("change feed: reading the timeline failed", exc_info=True)
                time.sleep(1.0)
            time.sleep(self.interval)

    def poll(self) -> int:
        """Read the entries newer than the last seen (and the missing ids still awaited)."""
        self.polls += 1
        if self._cursor is None:
            self._cursor = self.newest_id()
            return 0
        now = time.monotonic()
        self._gaps = {i: t for i, t in self._gaps.items() if now - t < GAP_SECONDS}
        low = min(self._gaps, default=self._cursor + 1) - 1
        query = (
            select(TimelineEntry.id, TimelineEntry.incident_id, TimelineEntry.kind)
            .where(TimelineEntry.id > low)
            .order_by(TimelineEntry.id)
            .limit(5000)
        )
        with self.db.reading() as conn:
            rows = conn.execute(query).all()
        fresh = [r for r in rows if r.id > self._cursor or r.id in self._gaps]
        if not fresh:
            return 0
        newest = max(r.id for r in rows)
        seen = {r.id for r in rows}
        for missing in range(self._cursor + 1, newest):
            if missing not in seen:
                self._gaps.setdefault(missing, now)
        for r in fresh:
            self._gaps.pop(r.id, None)
        self._cursor = max(self._cursor, newest)
        with self._cond:
            for r in fresh:
                self._seq += 1
                self._recent.append(Change(self._seq, r.id, r.incident_id, r.kind))
            self._cond.notify_all()
        return len(fresh)
