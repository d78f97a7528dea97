"""A polled mailbox's cursor in the database, read and moved in the caller's transaction.

Shared by the IMAP source (hub/intake/email/mailbox.py) and the Graph delta source
(hub/intake/email/graph_inbox.py).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.app.models import MailCursor


def load_cursor(session: Session, key: str, *, lock: bool = False) -> MailCursor | None:
    """The stored cursor of a mailbox, if any."""
    stmt = select(MailCursor).where(MailCursor.key == key)
    return session.scalars(stmt.with_for_update() if lock else stmt).first()


def save_cursor(session: Session, key: str, now: datetime, **values) -> None:
    """Move the cursor (created on first use) in the caller's transaction."""
    cursor = load_cursor(session, key, lock=True)
    if cursor is None:
        cursor = MailCursor(key=key, last_uid=0)
        session.add(cursor)
    for name, value in values.items():
        setattr(cursor, name, value)
    cursor.updated_at = now
