"""The worker's side of a storm: stored notifications applied oldest first, several per
transaction, by one thread of a worker process at a time.

A storm stores thousands of notifications in seconds and asks for as many wake-ups. Applied
one per transaction, each pays a commit and a turn of SQLite's one write lock, and the web's
inserts queue behind every turn. Applied in batches, a commit serves up to `BATCH`
notifications; a batch stops taking more after `BATCH_SECONDS`, and the thread rests before
the next, so the lock goes back to the web often. Each notification keeps its own savepoint (`ingest.process_row`): one that fails
is marked failed, the rest of its batch stands. Rows are taken with `FOR UPDATE SKIP LOCKED`
on PostgreSQL, so several worker processes share a backlog without waiting on each other.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import datetime

from sqlalchemy import select

from hub.app.context import Hub
from hub.app.db import utcnow
from hub.app.models import InboundMessage
from hub.intake.alerts.ingest import CHANNEL, process_row

BATCH = 50  # notifications in one transaction at most
BATCH_SECONDS = 0.03  # a batch takes no more notifications after this long
REST_MAX = 0.02  # seconds the thread rests after a batch, at most

_PENDING = (
    select(InboundMessage)
    .where(InboundMessage.channel == CHANNEL, InboundMessage.status == "received")
    .order_by(InboundMessage.id)
    .with_for_update(skip_locked=True)
)


def apply_batch(hub: Hub, now: datetime, limit: int = BATCH, seconds: float = BATCH_SECONDS) -> int:
    """Apply up to `limit` stored notifications in one transaction, taking no more after
    `seconds`; how many."""
    started = time.perf_counter()
    done = 0
    with hub.transaction() as session:
        for row in session.scalars(_PENDING.limit(limit)):
            process_row(session, hub.policy, row, now)
            done += 1
            if time.perf_counter() - started >= seconds:
                break
    return done


def apply_pending(
    hub: Hub, clock: Callable[[], datetime] = utcnow, sleep: Callable[[float], None] = time.sleep
) -> int:
    """Apply every stored notification still `received`, batch by batch; how many.

    On SQLite, after each batch the thread rests as long as the batch took (at most `REST_MAX`): a
    writer that lets go of the lock and takes it again at once keeps it (neither flock(2)
    nor a thread lock queues fairly), and the storm's requests, each waiting for its commit,
    would wait behind the backlog. With the rest, the web's inserts get the lock between
    batches: in bench/alerts_bench.py the storm's p99 was 315–418 ms without the rest and
    128–372 ms with it, and applying it took up to twice as long (BENCHMARKS.md).
    """
    total = 0
    while True:
        started = time.perf_counter()
        done = apply_batch(hub, clock())
        if not done:
            return total
        total += done
        if hub.db.is_sqlite:  # PostgreSQL locks rows, not the database: nobody waits
            sleep(min(REST_MAX, time.perf_counter() - started))


class Drainer:
    """One thread of a process applies the backlog; a wake-up meanwhile makes it look again.

    Several wake-ups of one storm arrive at once; if each took a worker thread, they would all
    wait on the one write lock and deliveries (pages) would wait behind them.
    """

    def __init__(self):
        self._running = threading.Lock()
        self._again = threading.Event()

    def wake(self, hub: Hub, clock: Callable[[], datetime] = utcnow) -> int:
        """Apply the backlog, or leave it to the thread already applying it; how many here."""
        total = 0
        self._again.set()
        while self._again.is_set():
            if not self._running.acquire(blocking=False):
                return total  # the running thread sees `_again` once it lets go
            try:
                self._again.clear()
                total += apply_pending(hub, clock)
            finally:
                self._running.release()
        return total


drainer = Drainer()
