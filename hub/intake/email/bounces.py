"""Bounces: mark our delivery failed and stop mailing an address that failed permanently.

A bounce names our original Message-ID (`<inc-42.m.<digest>.<sig>@mihub.domain>`); the digest
comes from the outbox key, so the Notification row is found among the incident's email rows
without storing anything extra. A permanently failed address is suppressed
(hub/notifications/suppression.py), which the email channel asks before it writes a row.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.app.models import Notification
from hub.channels.email.compose import address_of
from hub.channels.email.ids import message_id, verify_message_id
from hub.intake.email.kinds import Bounce
from hub.notifications.suppression import suppress

RECENT = timedelta(days=7)  # a bounce without our Message-ID matches a delivery this recent


def _domain(settings) -> str:
    sender = settings.text("HUB_MAIL_FROM")
    return address_of(sender, "HUB_MAIL_FROM").rpartition("@")[2].lower()


def deliveries_for(session: Session, settings, bounce: Bounce, now: datetime) -> list[Notification]:
    """Our email rows the bounce is about: by original Message-ID, else by recipient."""
    secret, domain = settings.secret_key, _domain(settings)
    rows: list[Notification] = []
    for mid in bounce.original_ids:
        number = verify_message_id(secret, mid)
        if not number:
            continue
        for row in session.scalars(
            select(Notification).where(
                Notification.incident_id == number, Notification.channel == "email"
            )
        ):
            ours = message_id(secret, number, row.key, domain).strip("<>").lower()
            if ours == mid and row not in rows:
                rows.append(row)
        if rows:
            break
    if bounce.recipients:
        if rows:
            return [r for r in rows if r.recipient.lower() in bounce.recipients] or rows
        for address in bounce.recipients:
            row = session.scalars(
                select(Notification)
                .where(
                    Notification.channel == "email",
                    Notification.recipient.ilike(address),
                    Notification.status == "sent",
                    Notification.created_at >= now - RECENT,
                )
                .order_by(Notification.id.desc())
                .limit(1)
            ).first()
            if row is not None:
                rows.append(row)
    return rows


def apply_bounce(session: Session, settings, bounce: Bounce, inbound_id: int, now: datetime) -> str:
    """Mark the deliveries failed and suppress permanently failed addresses; says what it did."""
    rows = deliveries_for(session, settings, bounce, now)
    status = bounce.status or "unknown status"
    if bounce.action not in ("failed", ""):
        return f"{bounce.action} ({status}) for {len(rows)} delivery(ies); nothing to do"
    for row in rows:
        row.status, row.next_attempt_at, row.claimed_until = "failed", None, None
        row.last_error = f"bounced: {status} {bounce.diagnostic}".strip()[:2000]
    suppressed = []
    if bounce.permanent:
        for address in bounce.recipients:
            if suppress(session, address, status, bounce.diagnostic or bounce.why, inbound_id, now):
                suppressed.append(address)
    text = f"{status}: marked {len(rows)} delivery(ies) failed"
    if rows:
        text += " (" + ", ".join(f"#{r.id} to {r.recipient}" for r in rows) + ")"
    if suppressed:
        text += "; suppressed " + ", ".join(suppressed)
    return text
