"""The raw-message store every inbound channel shares: one row per message, kept before use.

Each message is stored as received (an InboundMessage row) before anything reads it, under
a dedupe key unique per channel: the channel's own message id when it has one, else a hash
of the raw bytes. A key already taken means the message was seen before.
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import datetime

from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from hub.app.models import InboundMessage

MAX_KEY = 200  # longer keys are stored as their hash


def content_key(raw: bytes) -> str:
    """The dedupe key of a message without an id of its own: a hash of its raw bytes."""
    return "sha256:" + hashlib.sha256(raw).hexdigest()


def bounded_key(key: str) -> str:
    """`key` itself, or its hash when it is longer than MAX_KEY."""
    return key if len(key) <= MAX_KEY else content_key(key.encode())


def add_raw(
    session: Session,
    channel: str,
    raw: bytes,
    *,
    now: datetime,
    key: str | None = None,
    envelope: dict | None = None,
    decisions: list | None = None,
) -> InboundMessage:
    """Add the message as `received`; without a key, a provisional unique one (claim_key later)."""
    row = InboundMessage(
        channel=channel,
        dedupe_key=key or f"new:{uuid.uuid4().hex}",
        raw=raw,
        received_at=now,
        status="received",
        outcome=None,
        envelope=envelope,
        decisions=decisions or [],
    )
    session.add(row)
    session.flush()
    return row


def insert_raw(
    session: Session, channel: str, raw: bytes, *, now: datetime, key: str, sender: str
) -> int:
    """Insert the message as `received` (Core, no ORM object); IntegrityError if its key is
    taken (the caller's transaction is then to be rolled back)."""
    row = {
        "channel": channel,
        "dedupe_key": key,
        "raw": raw,
        "received_at": now,
        "status": "received",
        "decisions": [],
        "sender": sender,
    }
    return session.execute(
        insert(InboundMessage).values(**row).returning(InboundMessage.id)
    ).scalar_one()


def decisions_for(session: Session, channel: str, key: str) -> list | None:
    """The decisions recorded for the message stored under `key`, if there is one."""
    return session.scalar(
        select(InboundMessage.decisions).where(
            InboundMessage.channel == channel, InboundMessage.dedupe_key == key
        )
    )


def claim_key(session: Session, row: InboundMessage, key: str) -> int | None:
    """Give `row` its real key; the id of the message holding it already, if any (-1: unknown)."""
    if row.dedupe_key == key:
        return None
    holder = select(InboundMessage.id).where(
        InboundMessage.channel == row.channel, InboundMessage.dedupe_key == key
    )
    taken = session.scalar(holder)  # most keys are new: a look first, no savepoint for those
    if taken is not None:
        return taken
    try:
        with session.begin_nested():  # a writer that took it meanwhile (PostgreSQL)
            session.execute(
                update(InboundMessage)
                .where(InboundMessage.id == row.id)
                .values(dedupe_key=key)
                .execution_options(synchronize_session=False)
            )
    except IntegrityError:
        return session.scalar(holder) or -1
    set_committed_value(row, "dedupe_key", key)
    return None
