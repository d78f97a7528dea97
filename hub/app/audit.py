"""The audit log: one append-only record per change, inside incidents and outside them.

`record(session, action, target, …)` writes a row in the caller's transaction, so the record
and the change commit together or not at all. Who changed it is the `actor`; where from is
the request's client address (set per request by the web layer in `source`), else "cli"
or "worker". Rows are never updated (a SQLite trigger refuses it); `purge` removes only those
older than the retention (`HUB_AUDIT_RETENTION`, default 365 days).
"""

from __future__ import annotations

from contextvars import ContextVar
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from hub.app.models import AuditRecord
from hub.app.timefmt import iso

# where the current change comes from: a client address, "cli" or "worker"
source: ContextVar[str | None] = ContextVar("audit_source", default=None)

# the changes recorded, and what their target names
ACTIONS = {
    "sign-in": "person",
    "sign-out": "person",
    "token-created": "person",
    "token-revoked": "token",
    "policy-reloaded": "policy file",
    "role-assigned": "incident",
    "reclassified": "incident",
    "override-created": "schedule",
    "quarantine-released": "inbound message",
    "suppression-lifted": "address",
    "review-published": "incident",
    "task-ticked": "incident",
    "action-item-changed": "action item",
    "action-item-exported": "action item",
    "update-drafted": "incident draft",
    "update-draft-edited": "incident draft",
    "update-approved": "incident draft",
    "update-draft-discarded": "incident draft",
    "maintenance-scheduled": "maintenance window",
    "maintenance-cancelled": "maintenance window",
}


def record(
    session: Session,
    action: str,
    target: str,
    *,
    actor: str | None,
    now: datetime,
    before: dict | None = None,
    after: dict | None = None,
    incident_id: int | None = None,
    where: str | None = None,
) -> AuditRecord:
    """Append one record (in the caller's transaction)."""
    if action not in ACTIONS:
        raise ValueError(f"unknown audit action {action!r}")
    row = AuditRecord(
        at=now,
        actor=actor,
        action=action,
        target=target[:300],
        source=(where or source.get() or "worker")[:100],
        before=before,
        after=after,
        incident_id=incident_id,
    )
    session.add(row)
    return row


def records(
    session: Session,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    action: str | None = None,
    actor: str | None = None,
    limit: int | None = None,
) -> list[AuditRecord]:
    """Records oldest first, filtered."""
    stmt = select(AuditRecord).order_by(AuditRecord.at, AuditRecord.id)
    if since is not None:
        stmt = stmt.where(AuditRecord.at >= since)
    if until is not None:
        stmt = stmt.where(AuditRecord.at < until)
    if action:
        stmt = stmt.where(AuditRecord.action == action)
    if actor:
        stmt = stmt.where(AuditRecord.actor == actor)
    if limit:
        stmt = stmt.limit(limit)
    return list(session.scalars(stmt))


def record_doc(row: AuditRecord) -> dict:
    """A record as the API and the export give it."""
    return {
        "id": row.id,
        "at": iso(row.at),
        "actor": row.actor,
        "action": row.action,
        "target": row.target,
        "source": row.source,
        "before": row.before,
        "after": row.after,
        "incident": f"INC-{row.incident_id}" if row.incident_id else None,
    }


def purge(session: Session, retention: timedelta, now: datetime) -> int:
    """Delete the records older than the retention; returns how many."""
    result = session.execute(delete(AuditRecord).where(AuditRecord.at < now - retention))
    return result.rowcount or 0
