"""Lanes: one sender thread per rate-limited endpoint (a Teams webhook, a bot conversation, a
Graph mailbox) in a worker process, sending the claimed rows for it in delivery order.

A worker thread that claims a row for a limited endpoint hands it to the endpoint's lane and
goes on with its other rows (an email page never waits behind cards). The lane keeps its rows
sorted by rank and age (hub/notifications/priority.py) and sends the best one whenever the
endpoint's limit (shared by all workers: hub/notifications/shared_throttle.py) gives it a
slot, so a page that arrived later still goes before a waiting stakeholder update and a row
that waited keeps its place. Across workers, a lane sending pages says so through the shared
limit, and the other workers' lanes hold their lower-ranked rows until it stops. The rows stay claimed while they wait (the lease keeper renews
them): if the process dies, they return to pending within a lease. A lane holds at most
`MAX_WAITING` rows; beyond, the last in order goes back to the database for later (`give_back`).
Pages waiting together in a lane go out as one message when the channel can combine them
(`Channel.combine`: one card that @mentions each person). A lane with nothing to do for
`IDLE` seconds ends its thread.
"""

from __future__ import annotations

import bisect
import logging
import threading
import time
from collections.abc import Callable

log = logging.getLogger("hub.worker")

PAGE_RANK = 0  # hub/notifications/priority.py PAGE
MAX_WAITING = 500
MAX_TOGETHER = 5  # pages in one combined message
IDLE = 30.0


class Lane:
    """The waiting rows of one endpoint, best first, and the thread that sends them."""

    def __init__(self, name: str):
        self.name = name
        self.order: list[tuple[int, int]] = []  # (rank, row id), sorted
        self.jobs: dict[int, tuple[Callable[[], None], Callable[[float], None]]] = {}
        self.groups: dict[int, tuple] = {}  # row id -> (send_together, its data) for pages
        self.rate = 1.0
        self.defer = never  # True while rows below page rank must let another worker's pages by
        self.thread = threading.Thread(target=self._run, name=f"lane-{name[:40]}", daemon=True)

    def add(self, rank: int, row_id: int, send, give_back) -> None:
        """Called under `_lock`."""
        if row_id in self.jobs:
            return
        bisect.insort(self.order, (rank, row_id))
        self.jobs[row_id] = (send, give_back)
        if len(self.order) > MAX_WAITING:
            _, last = self.order.pop()
            _, back = self.jobs.pop(last)
            self.groups.pop(last, None)
            later = len(self.order) / self.rate  # after those ahead of it have gone
            threading.Thread(target=_quietly, args=(back, later), daemon=True).start()
        _lock.notify_all()

    def _run(self) -> None:
        while True:
            with _lock:
                deadline = time.monotonic() + IDLE
                while not self.order and time.monotonic() < deadline:
                    _lock.wait(deadline - time.monotonic())
                if not self.order:
                    if _lanes.get(self.name) is self:
                        del _lanes[self.name]
                    return
                head_rank, defer = self.order[0][0], self.defer
            if head_rank > PAGE_RANK and _safely(defer):  # another worker is paging here
                with _lock:
                    _lock.wait(1.0 / self.rate)  # or until a row (maybe a page) arrives
                continue
            with _lock:
                _, row_id = self.order.pop(0)
                send, _ = self.jobs.pop(row_id)
                together = self._together(row_id)
            if together:
                _quietly(together[0], together[1])
            else:
                _quietly(send)

    def _together(self, row_id: int):
        """Pages waiting with this one, sent as one message: (send_together, [data, …])."""
        head = self.groups.pop(row_id, None)
        if head is None:
            return None
        batch, data = head[0], [head[1]]
        for rank, other in list(self.order):
            if len(data) >= MAX_TOGETHER or rank > PAGE_RANK:
                break
            if other in self.groups:
                self.order.remove((rank, other))
                self.jobs.pop(other)
                data.append(self.groups.pop(other)[1])
        return (batch, data) if len(data) > 1 else None


def never() -> bool:
    return False


def _safely(fn) -> bool:
    try:
        return bool(fn())
    except Exception:
        return False


def _quietly(fn, *args) -> None:
    try:
        fn(*args)
    except Exception:  # the row stays claimed; its lease runs out and the pump retries it
        log.exception("lane: a delivery failed unexpectedly")


_lock = threading.Condition()
_lanes: dict[str, Lane] = {}


def submit(
    endpoint: str,
    rate: float,
    rank: int,
    row_id: int,
    send,
    give_back,
    defer=never,
    together=None,
) -> None:
    """Queue a claimed row on the lane of `endpoint`: `send()` delivers it when its turn
    comes; `give_back(seconds)` returns it to the database if the lane is too long;
    `defer()` says whether rows below page rank must wait (another worker is paging);
    `together`, for a page: `(send_together, data)`, and pages waiting together go out as one
    message by `send_together([data, …])` (at most MAX_TOGETHER)."""
    with _lock:
        lane = _lanes.get(endpoint)
        if lane is None:
            lane = _lanes[endpoint] = Lane(endpoint)
            lane.thread.start()
        lane.rate, lane.defer = max(rate, 0.01), defer
        if together is not None and rank == PAGE_RANK:
            lane.groups[row_id] = together
        lane.add(rank, row_id, send, give_back)


def waiting() -> dict[str, int]:
    """Rows waiting per lane (for tests and the ops view)."""
    with _lock:
        return {name: len(lane.order) for name, lane in _lanes.items()}
