"""Store a raw message before anything else reads it; the answer to the sender waits for this."""

from __future__ import annotations

from datetime import datetime

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
