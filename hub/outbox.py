"""The outbox: claim a row, record the provider's answer, back off and retry, find due work.

Delivering one row takes three steps, and only one window can produce a duplicate:
1. `claim` commits pending → sending with `claimed_until = now + lease`, in a short transaction;
2. the worker sends, holding no transaction and no lock;
3. `mark_sent` commits straight away in its own short transaction.
A worker killed after the provider accepted the message (2) but before the commit of (3)
leaves the row `sending`; once the lease expires, `due_rows` puts it back to pending and it
is sent again. That window is one small commit long. A send that outlived its lease could
also be claimed again, so the lease is far longer than any transport's timeout.
"""

from __future__ import annotations

import logging
import os
import random
from datetime import datetime, timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from hub.channels.base import Sent
from hub.models import Notification

log = logging.getLogger("hub.outbox")

LEASE = timedelta(minutes=2)
# seconds before the first retry (GoAlert's figure); HUB_RETRY_BASE for tests and tuning
BASE_DELAY = float(os.environ.get("HUB_RETRY_BASE") or 15.0)
MAX_DELAY = 30 * 60.0  # backoff cap
MAX_RETRY_AFTER = 24 * 3600.0  # a Retry-After beyond this is treated as a day
MAX_ATTEMPTS = 10  # then the row fails (~2 h of trying with the defaults)


def claim(session: Session, row_id: int, now: datetime, lease: timedelta = LEASE) -> bool:
    """Atomically take a due row (pending, or sending with an expired lease); True if we won."""
    result = session.execute(
        update(Notification)
        .where(
            Notification.id == row_id,
            Notification.status.in_(("pending", "sending")),
            or_(Notification.next_attempt_at.is_(None), Notification.next_attempt_at <= now),
            or_(Notification.claimed_until.is_(None), Notification.claimed_until < now),
        )
        .values(status="sending", claimed_until=now + lease, attempts=Notification.attempts + 1)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


def _ours(row: Notification) -> bool:
    if row.status in ("sending", "pending"):
        return True
    log.warning("notification %s is already %s; leaving it", row.id, row.status)
    return False


def mark_sent(row: Notification, sent: Sent, now: datetime) -> None:
    """The provider accepted the message."""
    if _ours(row):
        row.status, row.sent_at, row.claimed_until = "sent", now, None
        row.provider_id, row.last_error, row.next_attempt_at = sent.provider_id[:500], None, None


def retry_delay(attempts: int, retry_after: float | None = None, rng=random) -> float:
    """Seconds before the next try: exponential with jitter, never sooner than `retry_after`."""
    if retry_after is not None:
        # The server said when to come back: do that (a page must not wait for our own
        # backoff after a 2 s throttle), spread a little so a burst of 429s does not return
        # as one, and never sooner than a second so Retry-After: 0 cannot make a tight loop.
        return max(1.0, min(MAX_RETRY_AFTER, retry_after)) * rng.uniform(1.0, 1.1)
    backoff = min(MAX_DELAY, BASE_DELAY * 2 ** max(0, attempts - 1))
    return rng.uniform(backoff / 2, backoff)


def mark_retry(
    row: Notification,
    error: str,
    retry_after: float | None,
    now: datetime,
    *,
    max_attempts: int = MAX_ATTEMPTS,
    rng=random,
) -> datetime | None:
    """A transient failure: back to pending at the next attempt time (None: gave up, failed)."""
    if not _ours(row):
        return None
    if row.attempts >= max_attempts:
        mark_failed(row, f"gave up after {row.attempts} attempts: {error}", now)
        return None
    row.status, row.claimed_until, row.last_error = "pending", None, error
    row.next_attempt_at = now + timedelta(seconds=retry_delay(row.attempts, retry_after, rng))
    return row.next_attempt_at


def mark_failed(row: Notification, error: str, now: datetime) -> None:
    """A permanent failure: the reason stays on the row, visible in the API."""
    if _ours(row):
        row.status, row.claimed_until, row.next_attempt_at = "failed", None, None
        row.last_error = error
        log.error("notification %s (%s to %s) failed: %s", row.id, row.template, row.channel, error)


def release(row: Notification, at: datetime) -> None:
    """Give the claim back without an attempt (the endpoint's throttle said wait until `at`)."""
    if _ours(row):
        row.status, row.claimed_until, row.next_attempt_at = "pending", None, at
        row.attempts = max(0, row.attempts - 1)


def due_rows(session: Session, now: datetime, limit: int = 500) -> list[int]:
    """Rows to (re)enqueue: due pending rows, after expired `sending` claims went back to pending."""
    reclaimed = session.execute(
        update(Notification)
        .where(Notification.status == "sending", Notification.claimed_until < now)
        .values(status="pending", claimed_until=None, next_attempt_at=now)
        .execution_options(synchronize_session=False)
    ).rowcount
    if reclaimed:
        log.warning(
            "%d notification(s) were claimed by a worker that stopped; retrying them", reclaimed
        )
    stmt = (
        select(Notification.id)
        .where(
            Notification.status == "pending",
            or_(Notification.next_attempt_at.is_(None), Notification.next_attempt_at <= now),
        )
        .order_by(Notification.next_attempt_at)
        .limit(limit)
    )
    return list(session.scalars(stmt))
