"""Addresses we must not mail: those that bounced permanently (5.x.x) on mail the hub sent.

The email intake records suppressions when a bounce proves a failed delivery
(hub/intake/email/bounces.py); the email channel asks here before it writes a row. People
see them (with the bounce that caused them) on the operations pages and the API, and lift them;
a role holder whose address is suppressed is shown as unreachable by email on the incident.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from hub.app import audit
from hub.app.db import utcnow
from hub.app.errors import NotFound
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


def list_suppressions(session: Session, limit: int = 500) -> list[dict]:
    """Suppressed addresses, newest first, each with the bounce (stored email) that caused it."""
    rows = session.scalars(
        select(EmailSuppression).order_by(EmailSuppression.id.desc()).limit(limit)
    )
    return [
        {
            "address": r.address,
            "status": r.status,
            "reason": r.reason,
            "since": r.created_at.isoformat(),
            "bounce": r.inbound_id,
        }
        for r in rows
    ]


def lift(
    session: Session, address: str, *, actor: str | None = None, now: datetime | None = None
) -> dict:
    """Mail the address again; the suppression as it was (on the audit log with `actor`).
    NotFound if it is not suppressed."""
    row = session.scalar(
        select(EmailSuppression).where(EmailSuppression.address == address.strip().lower())
    )
    if row is None:
        raise NotFound(f"{address} is not suppressed")
    gone = {"address": row.address, "status": row.status, "reason": row.reason}
    before = {"status": row.status, "reason": row.reason, "since": row.created_at.isoformat()}
    session.delete(row)
    UnitOfWork.of(session).cache.pop("suppressed", None)
    audit.record(
        session, "suppression-lifted", row.address, actor=actor, now=now or utcnow(), before=before
    )
    return gone


def unreachable_by_email(session: Session, policy, people: list[str]) -> dict[str, str]:
    """person key -> why mail to them is suppressed, for those of `people` whose is."""
    emails = {p: policy.people[p].email for p in people if p in policy.people}
    emails = {p: e.lower() for p, e in emails.items() if e}
    if not emails:
        return {}
    rows = session.scalars(
        select(EmailSuppression).where(EmailSuppression.address.in_(list(emails.values())))
    )
    found = {r.address: r for r in rows}
    return {
        p: f"email suppressed since {found[e].created_at:%Y-%m-%d %H:%M} UTC: "
        f"{found[e].status} bounce (stored email #{found[e].inbound_id})"
        for p, e in emails.items()
        if e in found
    }
