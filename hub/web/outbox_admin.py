"""The outbox as administrators see it: rows by status, and retrying a failed delivery.

A retry follows the outbox's claim rules (hub.notifications.outbox): only a `failed` row is touched, with
one guarded UPDATE (failed → pending, attempts from zero, due now), so it can never race a
worker that holds a claim; the delivery wake-up is enqueued after the commit. A row that is
sent, sending or pending is left alone.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from hub.app.context import queue_job
from hub.app.errors import Conflict, NotFound
from hub.app.models import Notification
from hub.app.redact import redact_text
from hub.incidents.timeline import add_timeline

STATUSES = ("failed", "pending", "sending", "sent", "suppressed", "superseded")


def counts(session: Session) -> dict[str, int]:
    """How many rows there are in each status."""
    rows = session.execute(
        select(Notification.status, func.count(Notification.id)).group_by(Notification.status)
    )
    found = dict(rows.all())
    return {status: found.get(status, 0) for status in STATUSES}


def list_rows(session: Session, statuses: tuple[str, ...], limit: int = 200) -> list[Notification]:
    """Rows in these statuses, newest first."""
    return list(
        session.scalars(
            select(Notification)
            .where(Notification.status.in_(statuses))
            .order_by(Notification.id.desc())
            .limit(limit)
        )
    )


def retry_failed(session: Session, row_id: int, *, actor: str, now: datetime) -> Notification:
    """Put a failed row back in the queue (Conflict if it is not failed)."""
    row = session.get(Notification, row_id)
    if row is None:
        raise NotFound(f"no notification #{row_id}")
    won = session.execute(
        update(Notification)
        .where(Notification.id == row_id, Notification.status == "failed")
        .values(status="pending", attempts=0, next_attempt_at=now, claimed_until=None)
        .execution_options(synchronize_session=False)
    ).rowcount
    if won != 1:
        raise Conflict(
            f"notification #{row_id} is {row.status}; only failed deliveries are retried",
            code="illegal_transition",
        )
    session.refresh(row)
    if row.incident is not None:
        add_timeline(
            session,
            row.incident,
            "delivery-retry",
            f"Delivery of {row.template} by {row.channel} retried by {actor} "
            f"(it had failed: {redact_text(row.last_error or 'no reason recorded')[:300]})",
            actor=actor,
            now=now,
            data={"notification": row_id},
        )
    queue_job(session, "deliver", row_id)
    return row
