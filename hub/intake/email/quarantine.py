"""People's levers on stored mail: the quarantine (list, release, discard) and reprocessing."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.app import audit
from hub.app.context import Hub, queue_job
from hub.app.errors import Conflict, NotFound
from hub.app.models import InboundMessage
from hub.intake.email.message import decoded, parse
from hub.intake.email.pipeline import Result, process
from hub.intake.email.store import TASK

GRACE = timedelta(seconds=30)  # a message this fresh still has its own wake-up on the way
REPROCESSABLE = ("received", "failed")


def summary(row: InboundMessage) -> dict:
    """A stored message as the API and the CLI show it (no raw bytes)."""
    try:
        subject = decoded(parse(row.raw[:65536]), "Subject", 200) if row.raw else ""
    except Exception:
        subject = ""
    last = (row.decisions or [{}])[-1]
    return {
        "id": row.id,
        "received_at": row.received_at.isoformat(),
        "sender": row.sender,
        "subject": subject,
        "status": row.status,
        "outcome": row.outcome,
        "incident": f"INC-{row.incident_id}" if row.incident_id else None,
        "reason": last.get("reason", ""),
        "size": len(row.raw or b""),
        "via": (row.envelope or {}).get("via"),
    }


def list_quarantine(session: Session, limit: int = 200) -> list[dict]:
    """Quarantined messages, newest first."""
    rows = session.scalars(
        select(InboundMessage)
        .where(InboundMessage.channel == "email", InboundMessage.status == "quarantined")
        .order_by(InboundMessage.id.desc())
        .limit(limit)
    )
    return [summary(r) for r in rows]


def get_message(session: Session, inbound_id: int, *, lock: bool = False) -> InboundMessage:
    """A stored email or NotFound."""
    row = session.get(InboundMessage, inbound_id, with_for_update=lock)
    if row is None or row.channel != "email":
        raise NotFound(f"no stored email #{inbound_id}")
    return row


def _note(row: InboundMessage, step: str, decision: str, reason: str) -> None:
    row.decisions = [*(row.decisions or []), {"step": step, "decision": decision, "reason": reason}]


def release(hub: Hub, inbound_id: int, *, actor: str, now: datetime) -> Result:
    """A person vouches for a quarantined message: it runs again without the trust checks."""
    with hub.transaction() as session:
        row = get_message(session, inbound_id, lock=True)
        if row.status != "quarantined":
            raise Conflict(f"email #{inbound_id} is {row.status}, not quarantined")
        row.status, row.outcome = "received", None
        _note(row, "quarantine", "released", f"released by {actor}")
        audit.record(
            session,
            "quarantine-released",
            f"email #{inbound_id} from {row.sender or 'unknown sender'}",
            actor=actor,
            now=now,
            before={"status": "quarantined"},
            after={"status": "received"},
        )
    return process(hub, inbound_id, now, released_by=actor)


def discard(hub: Hub, inbound_id: int, *, actor: str, now: datetime) -> Result:
    """A person drops a quarantined message (the raw copy stays for audit)."""
    with hub.transaction() as session:
        row = get_message(session, inbound_id, lock=True)
        if row.status != "quarantined":
            raise Conflict(f"email #{inbound_id} is {row.status}, not quarantined")
        row.status, row.outcome, row.processed_at = "discarded", "ignored", now
        _note(row, "quarantine", "discarded", f"discarded by {actor}")
        return Result.of(row)


def reprocess(hub: Hub, inbound_id: int, *, actor: str, now: datetime) -> Result:
    """Run a failed (or never processed) message again from its raw copy."""
    with hub.transaction() as session:
        row = get_message(session, inbound_id, lock=True)
        if row.status not in REPROCESSABLE:
            raise Conflict(
                f"email #{inbound_id} is {row.status}; only failed or unprocessed "
                "mail is reprocessed (release quarantined mail instead)"
            )
        row.status, row.outcome = "received", None
        _note(row, "reprocess", "requested", f"by {actor}")
    return process(hub, inbound_id, now)


def reprocess_pending(hub: Hub, now: datetime, limit: int = 1000) -> int:
    """Enqueue stored mail still waiting to be processed (a lost wake-up); returns how many."""
    with hub.transaction() as session:
        ids = list(
            session.scalars(
                select(InboundMessage.id)
                .where(
                    InboundMessage.channel == "email",
                    InboundMessage.status == "received",
                    InboundMessage.received_at <= now - GRACE,
                )
                .order_by(InboundMessage.id)
                .limit(limit)
            )
        )
        for ident in ids:
            queue_job(session, TASK, ident)
    return len(ids)
