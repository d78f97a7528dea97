"""Delivery leases kept alive by a heartbeat while their worker lives.

A worker owns the outbox rows it claimed until `claimed_until`. The lease is short
(HUB_DELIVERY_LEASE, 15 s by default) and this process's keeper renews every claim it holds
every third of it, so a live worker keeps its rows however long a send takes, and the rows of
a worker that died return to the queue within one lease (the timer pump looks for expired
claims every few seconds, tasks/pump.py) instead of minutes.

A chunk starts no send unless the keeper renewed recently (`fresh()`): a worker cut off from
the database stops sending before its claims can run out and be given to another worker.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from datetime import timedelta

from sqlalchemy import update

from hub.app.context import Hub
from hub.app.db import utcnow
from hub.app.models import Notification

log = logging.getLogger("hub.worker")


class LeaseKeeper:
    """Renews this process's claims every `lease / 3` seconds on a daemon thread."""

    def __init__(self, hub: Hub, lease: float):
        self.hub, self.lease = hub, lease
        self._held: Counter[int] = Counter()  # row id -> chunks holding it (normally 1)
        self._lock = threading.Lock()
        self._renewed = time.monotonic()  # last time every held claim was known good
        self._wake = threading.Event()
        self._thread = threading.Thread(target=self._run, name="lease-keeper", daemon=True)
        self._thread.start()

    def hold(self, row_ids) -> None:
        with self._lock:
            if not self._held:
                self._renewed = time.monotonic()  # claimed just now: valid for a whole lease
            self._held.update(row_ids)

    def drop(self, row_ids) -> None:
        with self._lock:
            self._held.subtract(row_ids)
            self._held = +self._held  # forget the zeros

    def held(self) -> list[int]:
        with self._lock:
            return list(self._held)

    def fresh(self) -> bool:
        """Whether our claims are good for at least half a lease more (renewals succeed)."""
        return time.monotonic() - self._renewed < self.lease / 2

    def renew(self) -> int:
        """Extend every held claim that is still ours to sending; how many rows."""
        ids = self.held()
        started = time.monotonic()
        if not ids:
            self._renewed = started
            return 0
        with self.hub.transaction() as session:
            count = session.execute(
                update(Notification)
                .where(Notification.id.in_(ids), Notification.status == "sending")
                .values(claimed_until=utcnow() + timedelta(seconds=self.lease))
                .execution_options(synchronize_session=False)
            ).rowcount
        self._renewed = started
        return count

    def _run(self) -> None:
        failing = 0
        while not self._wake.wait(self.lease / 3):
            try:
                self.renew()
                if failing:
                    log.warning("lease renewals work again after %d failure(s)", failing)
                failing = 0
            except Exception as exc:  # the database is away: the next beat tries again
                failing += 1
                if failing == 1:
                    log.error("could not renew delivery leases: %s", exc)


_keepers: dict[int, LeaseKeeper] = {}
_keepers_lock = threading.Lock()


def keeper_for(hub: Hub, lease: float) -> LeaseKeeper:
    """This process's keeper for `hub` (one per hub object, made at first use)."""
    with _keepers_lock:
        if id(hub) not in _keepers:
            _keepers[id(hub)] = LeaseKeeper(hub, lease)
        return _keepers[id(hub)]
