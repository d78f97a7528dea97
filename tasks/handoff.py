"""Wake-ups handed to the queue without holding a request: at most `WAIT` seconds.

A web request commits its work and then enqueues wake-ups for the worker. When the queue
(Redis) hangs, that enqueue would hold the request — and its web worker — for the socket
timeout. `Handoff` gives the enqueue to one background thread and waits at most `WAIT`
for it: normally the wake-up is in the queue before the response goes out, as before; when
the queue is slow, the response goes out anyway and the wake-up follows when it can. A
wake-up that cannot be enqueued at all is harmless: the work is committed in the database
and the worker's pump and reconcile tick find it (tasks/pump.py, hub/ticker.py).

Wake-ups of draining tasks (tasks/registry.py: one run applies every row waiting) are not
waited for, and the thread sends one per task for all the batches waiting when it takes
them — each was committed before it was handed over, so that one wake-up comes after every
commit it stands for. An alert storm's thousands of wake-ups become a few, and its requests
do not queue on the queue's own write lock.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable

from hub.app.quietlog import RepeatLog
from tasks.registry import DRAINING

log = logging.getLogger("hub.web")
repeats = RepeatLog(log)

WAIT = 0.25  # seconds a request waits for its wake-ups to be enqueued
BACKLOG = 10_000  # batches waiting for a slow queue; beyond, they are left to the pump


def _draining(job: tuple) -> bool:
    """A wake-up of a draining task for now (one at a time, `(name, id, eta)`, is its own)."""
    return len(job) == 2 and job[0] in DRAINING


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
            if all(_draining(job) for job in batch):
                return  # committed; its wake-up follows within milliseconds (see above)
            if not done.wait(self.wait):
                repeats.warning(
                    "slow", "the queue is slow to answer; a request did not wait for its wake-up"
                )

        return handed

    def _run(self) -> None:
        while True:
            waiting = [self._work.get()]
            while not self._work.empty() and len(waiting) < 1000:
                waiting.append(self._work.get_nowait())
            sent: set[str] = set()  # draining tasks woken in this round
            for enqueue, batch, done in waiting:
                wanted = [job for job in batch if not (_draining(job) and job[0] in sent)]
                try:
                    if wanted:
                        enqueue(wanted)
                        sent.update(job[0] for job in wanted if _draining(job))
                except Exception as exc:  # the work is committed; the pump and the tick find it
                    repeats.error(
                        "failed",
                        "could not enqueue %d wake-up(s) (%s); the pump will",
                        len(wanted),
                        exc,
                    )
                finally:
                    done.set()
