"""What the messages of one transaction of stored mail share: the wake-up that takes the mail
waiting with its own, and the dedupe keys looked up together."""

from __future__ import annotations

from collections import Counter
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.app.context import Hub
from hub.app.models import InboundMessage
from hub.intake.email.trust import reports_from_each


def with_waiting(hub: Hub, ids: list[int], limit: int) -> list[int]:
    """Those of `ids` still waiting, and with them the oldest other stored mail never processed
    yet, up to `limit` in all (a read, no write lock): a worker that fell behind the listener,
    whose wake-ups each name a few messages, then processes full batches (fewer transactions,
    and their acknowledgements delivered together); the wake-ups of the others find them done.
    Mail released or sent back for processing (`processed_at` set) is left to its own run."""
    with hub.db.reading() as conn:
        mine = list(
            conn.scalars(
                select(InboundMessage.id).where(
                    InboundMessage.id.in_(ids),
                    InboundMessage.channel == "email",
                    InboundMessage.status == "received",
                )
            )
        )
        if not mine or len(mine) >= limit:
            return mine
        others = conn.scalars(
            select(InboundMessage.id)
            .where(
                InboundMessage.channel == "email",
                InboundMessage.status == "received",
                InboundMessage.processed_at.is_(None),
                InboundMessage.id.not_in(mine),
            )
            .order_by(InboundMessage.id)
            .limit(limit - len(mine))
        )
        return sorted({*mine, *others})


class ChunkKeys:
    """The dedupe keys of a transaction's messages: who holds them, looked up in one SELECT;
    a key a message claims is written with its outcome (on SQLite the transaction holds the
    one write lock: nobody else can take it meanwhile)."""

    def __init__(self, session: Session, keys: list[str]):
        self.holders: dict[str, int] = {}
        self.claimed: dict[int, str] = {}  # row id: the key it claimed, not yet on the row
        if keys:
            found = session.execute(
                select(InboundMessage.dedupe_key, InboundMessage.id).where(
                    InboundMessage.channel == "email",
                    InboundMessage.dedupe_key.in_(sorted(set(keys))),
                )
            )
            self.holders = {key: ident for key, ident in found}

    def claim(self, session: Session, row: InboundMessage, key: str) -> int | None:
        """As `claim_key`: None if `row` now holds `key`, else the id of the row holding it."""
        if row.dedupe_key == key:
            return None
        holder = self.holders.get(key)
        if holder is not None:
            return holder
        self.holders[key], self.claimed[row.id] = row.id, key
        return None

    def write(self, row: InboundMessage) -> None:
        """Give `row` the key it claimed (written with its outcome)."""
        key = self.claimed.pop(row.id, None)
        if key is not None:
            row.dedupe_key = key


class ChunkSenders:
    """The per-sender rate of a transaction's messages: the reports each sender made by email
    in the last hour, counted in one SELECT before the messages run (nothing of theirs is
    written yet) and counted on as they make more, so that no message's count needs the
    session's pending rows flushed. The hour is the transaction's start; it holds the write
    lock for at most a fraction of a second."""

    def __init__(self, session: Session, senders: list[str], now: datetime):
        self.counts: Counter[str] = Counter()
        if senders:
            self.counts.update(reports_from_each(session, senders, now))

    def reports_from(self, sender: str) -> int:
        return self.counts[sender]

    def reported(self, sender: str) -> None:
        """One more new report from `sender` in this transaction."""
        self.counts[sender] += 1
