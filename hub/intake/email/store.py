"""Store a raw message before anything else reads it; the answer to the sender waits for this."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import insert
from sqlalchemy.orm import Session

from hub.app.context import queue_job
from hub.app.models import InboundMessage
from hub.intake.raw import add_raw

TASK = "process_inbound"


def store_raw(
    session: Session,
    raw: bytes,
    *,
    via: str,
    now: datetime,
    envelope: dict | None = None,
    key: str | None = None,
) -> InboundMessage:
    """Insert the message as `received` with a provisional unique key (dedupe comes later)."""
    row = add_raw(
        session,
        "email",
        raw,
        now=now,
        key=key,
        envelope={"via": via, **(envelope or {})},
        decisions=[
            {"step": "store", "decision": "stored", "reason": f"{len(raw)} bytes via {via}"}
        ],
    )
    queue_job(session, TASK, row.id)
    return row


def store_many(
    session: Session, items: list[tuple[bytes, dict, str]], *, via: str, now: datetime
) -> list[int]:
    """Insert several messages as `received` in one statement, each `(raw, envelope, key)`
    under its unique provisional key, and ask for their processing; their ids, in order."""
    if not items:
        return []
    rows = [
        {
            "channel": "email",
            "dedupe_key": key,
            "raw": raw,
            "received_at": now,
            "status": "received",
            "outcome": None,
            "envelope": {"via": via, **envelope},
            "decisions": [
                {"step": "store", "decision": "stored", "reason": f"{len(raw)} bytes via {via}"}
            ],
        }
        for raw, envelope, key in items
    ]
    stmt = insert(InboundMessage).returning(InboundMessage.id, InboundMessage.dedupe_key)
    ids = dict((key, ident) for ident, key in session.execute(stmt, rows))
    ordered = [ids[key] for _raw, _envelope, key in items]
    for ident in ordered:
        queue_job(session, TASK, ident)
    return ordered
