"""Addresses we must not mail: those that bounced permanently (5.x.x).

The email intake records suppressions when it reads a bounce (hub/intake/email/bounces.py);
the email channel asks here before it writes a row.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from hub.app import audit
from hub.app.models import EmailSuppression
from hub.app.uow import UnitOfWork


def bounced_addresses(session: Session, addresses: list[str]) -> set[str]:
    """Those of `addresses` that bounced permanently (compared case-insensitively)."""
    wanted = {a.lower(): a for a in addresses if a}
    if not wanted:
        return set()
    found = set(
        session.scalars(
            select(EmailSuppression.address).where(EmailSuppression.address.in_(list(wanted)))
        )
    )
    return {wanted[a] for a in found}


def suppressed_addresses(session: Session, addresses: list[str]) -> set[str]:
    """Those of `addresses` not to mail, looked up once per address and transaction.

    An event notifies the same people several times (pages, the stakeholder notice);
    bounces are recorded in their own transactions.
    """
    known: dict[str, bool] = UnitOfWork.of(session).cache.setdefault("suppressed", {})
    unknown = [a for a in dict.fromkeys(addresses) if a and a.lower() not in known]
    if unknown:
        found = {a.lower() for a in bounced_addresses(session, unknown)}
        known.update((a.lower(), a.lower() in found) for a in unknown)
    return {a for a in addresses if a and known.get(a.lower())}


def suppress(
    session: Session, address: str, status: str, reason: str, inbound_id: int | None, now: datetime
) -> bool:
    """Stop mailing an address; False if it was suppressed already."""
    address = address.lower()
    if session.scalar(select(EmailSuppression.id).where(EmailSuppression.address == address)):
        return False
    try:
        with session.begin_nested():
            session.add(
                EmailSuppression(
                    address=address,
                    status=status[:16],
                    reason=reason[:2000],
                    inbound_id=inbound_id,
                    created_at=now,
                )
            )
    except IntegrityError:  # suppressed concurrently by another bounce
        return False
    return True


def lift(session: Session, address: str, *, actor: str, now: datetime) -> bool:
    """Mail an address again (its mailbox works once more); False if it was not suppressed."""
    address = address.strip().lower()
    row = session.scalars(
        select(EmailSuppression).where(EmailSuppression.address == address)
    ).first()
    if row is None:
        return False
    before = {"status": row.status, "reason": row.reason, "since": row.created_at.isoformat()}
    session.execute(delete(EmailSuppression).where(EmailSuppression.id == row.id))
    audit.record(session, "suppression-lifted", address, actor=actor, now=now, before=before)
    return True
