"""The timer pump: the worker's wake-up source for timers (the database is the schedule).

Every half second it asks the database for pending timers that are due (an indexed query)
and enqueues `fire_timer` for each; firing claims the timer atomically, so several workers'
pumps racing on one timer fire it once. A timer it handed over is not handed over again for
`REPEAT_AFTER` (the task may still be queued behind other work); if that task was lost, the
next pass after that picks it up.

Scheduling a timer therefore writes one row in the event's transaction and nothing else:
no queue write per timer on the request path. Lateness is at most one interval plus the
queue's own latency (the consumer polls every 0.5 s at most). A timer handed over by a worker
whose clock runs ahead is re-armed for its due time by the firing worker (hub/incidents/firing.py).
"""

from __future__ import annotations

import logging
import threading
import time

from hub.app.context import Hub
from hub.app.db import utcnow
from hub.incidents import timers
from hub.notifications import outbox
from hub.ticker import tick

log = logging.getLogger("hub.worker")

INTERVAL = 0.5  # seconds between two looks at the timers table
RECLAIM_EVERY = 2.0  # seconds between two looks for delivery claims of dead workers
REPEAT_AFTER = 30.0  # seconds before a timer handed to the queue is handed over again
BATCH = 500


class TimerPump:
    """A daemon thread that hands due timers to the queue until `stop()`."""

    def __init__(self, hub: Hub, enqueue, interval: float = INTERVAL):
        self.hub, self.enqueue, self.interval = hub, enqueue, interval
        self._stop = threading.Event()
        self._handed: dict[int, float] = {}
        self._thread = threading.Thread(target=self._run, name="timer-pump", daemon=True)

    def start(self) -> TimerPump:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def pass_once(self) -> int:
        """One look: enqueue what is due and not handed over recently; returns how many."""
        with self.hub.db.session(write=False) as session:
            due = timers.due_ids(session, utcnow(), BATCH)
        clock = time.monotonic()
        fresh = [i for i in due if clock - self._handed.get(i, -REPEAT_AFTER) >= REPEAT_AFTER]
        self._handed = {i: at for i, at in self._handed.items() if clock - at < REPEAT_AFTER}
        if fresh:
            self.enqueue([("fire_timer", i) for i in fresh])
            self._handed.update((i, clock) for i in fresh)
        return len(fresh)

    def reclaim_once(self) -> bool:
        """If a dead worker's delivery claims ran out, run the tick now (it replays journals,
        puts those rows back to pending and enqueues them) instead of at the next minute."""
        with self.hub.db.session(write=False) as session:
            expired = outbox.expired_claims(session, utcnow())
        if expired:
            counts = tick(self.hub, utcnow())
            log.warning("claims of a stopped worker ran out; re-enqueued %s", counts)
        return expired

    def _run(self) -> None:
        failing, reclaimed_at = 0, time.monotonic()
        while not self._stop.wait(self.interval):
            try:
                self.pass_once()
                if time.monotonic() - reclaimed_at >= RECLAIM_EVERY:
                    reclaimed_at = time.monotonic()
                    self.reclaim_once()
                if failing:
                    log.warning(
                        "timer pump: the database answers again (%d failed passes)", failing
                    )
                failing = 0
            except Exception as exc:  # the database is away: try again at the next pass
                failing += 1
                if failing == 1:  # once per outage, not twice a second
                    log.error("timer pump: could not read due timers (%s); retrying", exc)
