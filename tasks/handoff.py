"""Wake-ups handed to the queue without holding a request: at most `WAIT` seconds.

A web request commits its work and then enqueues wake-ups for the worker. When the queue
(Redis) hangs, that enqueue would hold the request — and its web worker — for the socket
timeout. `Handoff` gives the enqueue to one background thread and waits at most `WAIT`
for it: normally the wake-up is in the queue before the response goes out, as before; when
the queue is slow, the response goes out anyway and the wake-up follows when it can. A
wake-up that cannot be enqueued at all is harmless: the work is committed in the database
and the worker's pump and reconcile tick find it (tasks/pump.py, hub/ticker.py).
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable

from hub.app.quietlog import RepeatLog

log = logging.getLogger("hub.web")
repeats = RepeatLog(log)

WAIT = 0.25  # seconds a request waits for its wake-ups to be enqueued
BACKLOG = 10_000  # batches waiting for a slow queue; beyond, they are left to the pump


class Handoff:
    def __init__(self, wait: float = WAIT, backlog: int = BACKLOG):
        self.wait = wait
        self._work: queue.Queue = queue.Queue(maxsize=backlog)
        threading.Thread(target=self._run, name="queue-handoff", daemon=True).start()

    def wrap(self, enqueue: Callable[[list], None]) -> Callable[[list], None]:
        """`enqueue`, run by the handoff thread; the caller waits at most `wait` seconds."""

        def handed(batch: list) -> None:
            done = threading.Event()
            try:
                self._work.put_nowait((enqueue, batch, done))
            except queue.Full:
                repeats.warning("full", "queue hand-off backlog full; the pump will find the work")
                return
            if not done.wait(self.wait):
                repeats.warning(
                    "slow", "the queue is slow to answer; a request did not wait for its wake-up"
                )

        return handed

    def _run(self) -> None:
        while True:
            enqueue, batch, done = self._work.get()
            try:
                enqueue(batch)
            except Exception as exc:  # the work is committed; the pump and the tick find it
                repeats.error(
                    "failed", "could not enqueue %d wake-up(s) (%s); the pump will", len(batch), exc
                )
            finally:
                done.set()
