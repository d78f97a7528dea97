"""The outbox: claim rows, record the providers' answers, back off and retry, find due work.

Delivering rows takes four steps (hub/notifications/delivery.py):
1. `claim_many` commits pending → sending with `claimed_until = now + lease` for a chunk of
   rows, in one short transaction (only pending rows: an expired claim goes back to pending in
   `due_rows`, after the journals were replayed);
2. the worker renders and sends each row, holding no transaction and no lock, while its lease
   keeper renews the claims (hub/notifications/leases.py); no send starts while renewals fail;
3. the moment a provider accepts a message, the worker appends one line to its sent journal
   (hub/notifications/sent_journal.py: one `write(2)`, which survives the process being killed);
4. `mark_sent_many` commits the accepted rows in small batches.
A worker killed between (3) and (4) leaves rows `sending`, but its journal says they went:
the tick replays it before `due_rows` puts expired claims back to pending. What can still
cause a duplicate: the moment between the provider accepting a message and the worker
reading that answer and writing the journal line; a worker machine down for longer than the
lease (other machines reclaim its rows, only it can replay its journal); a journal that cannot
be written while the database is away too. See the README's "Duplicates".
"""

from __future__ import annotations

import logging
import random
from datetime import datetime, timedelta

from sqlalchemy import bindparam, or_, select, update
from sqlalchemy.orm import Session, object_session

from hub.app.models import Notification
from hub.app.redact import redact_text
from hub.notifications import batches, priority

log = logging.getLogger("hub.notifications.outbox")

LEASE = timedelta(seconds=15)  # the engine passes HUB_DELIVERY_LEASE (hub/notifications/leases.py)
# seconds before the first retry (GoAlert's figure); the engine passes HUB_RETRY_BASE
BASE_DELAY = 15.0
MAX_DELAY = 30 * 60.0  # backoff cap
MAX_RETRY_AFTER = 24 * 3600.0  # a Retry-After beyond this is treated as a day
MAX_ATTEMPTS = 10  # then the row fails (~2 h of trying with the defaults)


def claim(session: Session, row_id: int, now: datetime, lease: timedelta = LEASE) -> bool:
    """Atomically take a due pending row; True if we won."""
    return claim_many(session, [row_id], now, lease) == [row_id]


def claim_many(
    session: Session, row_ids: list[int], now: datetime, lease: timedelta = LEASE
) -> list[int]:
    """Atomically take the due pending rows among `row_ids` in one statement; the ids we won."""
    won = claim_rows(session, row_ids, now, lease)
    return [i for i in row_ids if i in won]


def claim_rows(
    session: Session, row_ids: list[int], now: datetime, lease: timedelta = LEASE, *columns
) -> dict[int, tuple]:
    """`claim_many` that also reads `columns` of the rows we won, in the same statement:
    {id: (column values, …)}."""
    if not row_ids:
        return {}
    found = session.execute(
        update(Notification)
        .where(
            Notification.id.in_(row_ids),
            # Only pending rows: a `sending` row whose lease ran out goes back to pending
            # in `due_rows`, after the sent journals were replayed (hub/ticker.py), so a
            # message a dead worker had sent is never claimed again.
            Notification.status == "pending",
            or_(Notification.next_attempt_at.is_(None), Notification.next_attempt_at <= now),
        )
        .values(status="sending", claimed_until=now + lease, attempts=Notification.attempts + 1)
        .returning(Notification.id, *columns)
        .execution_options(synchronize_session=False)
    )
    return {row[0]: tuple(row[1:]) for row in found}


_SENT = (
    Notification.__table__.update()
    .where(
        Notification.__table__.c.id == bindparam("row_id"),
        # not IN (…): an expanding parameter cannot be used with executemany
        or_(
            Notification.__table__.c.status == "sending",
            Notification.__table__.c.status == "pending",
        ),
    )
    .values(
        status="sent",
        sent_at=bindparam("sent_at"),
        claimed_until=None,
        provider_id=bindparam("provider"),
        last_error=None,
        next_attempt_at=None,
    )
)
_SENT_RENDERED = _SENT.values(payload=bindparam("rendered"))  # and what went out, at once
_RENDERED = (
    Notification.__table__.update()
    .where(Notification.__table__.c.id == bindparam("row_id"))
    .values(payload=bindparam("rendered"))
)


def mark_sent_many(
    session: Session,
    sent: list[tuple[int, str, datetime, dict | None]],
    batch_ids: list[int] | None = None,
) -> int:
    """Rows the providers accepted: (id, provider id, when, rendered payload or None).
    `batch_ids`: those of them that are batches (their members are marked with them); None
    when the caller does not know (every row is looked at)."""
    if not sent:
        return 0
    conn = session.connection()
    plain = [{"row_id": i, "provider": p[:500], "sent_at": at} for i, p, at, b in sent if b is None]
    rendered = [
        {"row_id": i, "provider": p[:500], "sent_at": at, "rendered": b}
        for i, p, at, b in sent
        if b is not None
    ]
    count = conn.execute(_SENT, plain).rowcount if plain else 0
    if rendered:  # one statement a row: its status and the message it was sent as
        done = conn.execute(_SENT_RENDERED, rendered).rowcount
        count += done
        if done != len(rendered):
            # Some were marked sent already (the tick, from our journal, while we could not
            # reach the database): they keep the message they were sent as all the same.
            conn.execute(
                _RENDERED, [{"row_id": r["row_id"], "rendered": r["rendered"]} for r in rendered]
            )
    batches.members_sent(conn, [i for i, _, _, _ in sent] if batch_ids is None else batch_ids)
    return count


def _ours(row: Notification) -> bool:
    if row.status in ("sending", "pending"):
        return True
    log.warning("notification %s is already %s; leaving it", row.id, row.status)
    return False


def retry_delay(
    attempts: int, retry_after: float | None = None, rng=random, *, base: float = BASE_DELAY
) -> float:
    """Seconds before the next try: exponential from `base` with jitter, never sooner than
    `retry_after`."""
    if retry_after is not None:
        # The server said when to come back: do that (a page must not wait for our own
        # backoff after a 2 s throttle), spread a little so a burst of 429s does not return
        # as one, and never sooner than a second so Retry-After: 0 cannot make a tight loop.
        return max(1.0, min(MAX_RETRY_AFTER, retry_after)) * rng.uniform(1.0, 1.1)
    backoff = min(MAX_DELAY, base * 2 ** max(0, attempts - 1))
    return rng.uniform(backoff / 2, backoff)


def mark_retry(
    row: Notification,
    error: str,
    retry_after: float | None,
    now: datetime,
    *,
    max_attempts: int = MAX_ATTEMPTS,
    rng=random,
    base_delay: float = BASE_DELAY,
) -> datetime | None:
    """A transient failure: back to pending at the next attempt time (None: gave up, failed)."""
    if not _ours(row):
        return None
    if row.attempts >= max_attempts:
        mark_failed(row, f"gave up after {row.attempts} attempts: {error}", now)
        return None
    row.status, row.claimed_until, row.last_error = "pending", None, redact_text(error)
    delay = retry_delay(row.attempts, retry_after, rng, base=base_delay)
    row.next_attempt_at = now + timedelta(seconds=delay)
    return row.next_attempt_at


def mark_failed(row: Notification, error: str, now: datetime) -> None:
    """A permanent failure: the reason stays on the row, visible in the API."""
    if _ours(row):
        row.status, row.claimed_until, row.next_attempt_at = "failed", None, None
        row.last_error = redact_text(error)
        log.error("notification %s (%s to %s) failed: %s", row.id, row.template, row.channel, error)
        session = object_session(row)
        if session is not None and batches.is_batch(row):
            batches.members_failed(session, row.id, error)


def release(row: Notification, at: datetime) -> None:
    """Give the claim back without an attempt (the endpoint's throttle said wait until `at`)."""
    if _ours(row):
        row.status, row.claimed_until, row.next_attempt_at = "pending", None, at
        row.attempts = max(0, row.attempts - 1)


def unclaim_many(session: Session, row_ids: list[int]) -> int:
    """Give back claims that were never tried (pending again, the attempt not counted)."""
    return session.execute(
        update(Notification)
        .where(Notification.id.in_(row_ids), Notification.status == "sending")
        .values(status="pending", claimed_until=None, attempts=Notification.attempts - 1)
        .execution_options(synchronize_session=False)
    ).rowcount


def expired_claims(session: Session, now: datetime) -> bool:
    """Whether some `sending` row's claim ran out (its worker died): one indexed look."""
    return (
        session.scalar(
            select(Notification.id)
            .where(Notification.status == "sending", Notification.claimed_until < now)
            .limit(1)
        )
        is not None
    )


def due_rows(session: Session, now: datetime, limit: int = 500) -> list[int]:
    """Rows to (re)enqueue: due pending rows, after expired `sending` claims went back to pending.

    A row whose claims keep expiring (its worker dies every time, e.g. the message crashes
    it) fails after MAX_ATTEMPTS instead of being tried forever.
    """
    gave_up = session.execute(
        update(Notification)
        .where(
            Notification.status == "sending",
            Notification.claimed_until < now,
            Notification.attempts >= MAX_ATTEMPTS,
        )
        .values(
            status="failed",
            claimed_until=None,
            next_attempt_at=None,
            last_error=f"gave up: claimed {MAX_ATTEMPTS} times by workers that stopped before "
            "finishing it",
        )
        .execution_options(synchronize_session=False)
    ).rowcount
    if gave_up:
        log.error("%d notification(s) failed: their workers kept stopping mid-delivery", gave_up)
        batches.orphans_failed(session)
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
        .order_by(*priority.order_by())  # pages first, then by age (hub/notifications/priority.py)
        .limit(limit)
    )
    return list(session.scalars(stmt))
