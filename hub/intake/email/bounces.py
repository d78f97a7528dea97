"""Bounces: act only on proof that the bounce is about a message the hub sent to that address.

Each message we send goes to one recipient with a signed return path (VERP,
`ids.return_path`) and a signed Message-ID (`ids.message_id`), both derived from the outbox key.
A bounce proves which delivery it is about when it comes back to such a return path (the
envelope recipient, or the To / Delivered-To / X-Original-To a gateway keeps), or quotes such a
Message-ID. Only then, and only for a permanent failure that is about the recipient (5.1.x
address failures, 5.2.1 mailbox disabled, a 5.0.0 that says "user unknown"), is the delivery
marked failed and its address suppressed (hub/notifications/suppression.py). Policy,
reputation and temporary answers (4.x.x, 5.7.x, "rate limited", "spam") suppress nobody. A
bounce that proves nothing is recorded and changes nothing: anyone can write a DSN.
"""

from __future__ import annotations

import re

from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.app.models import Notification
from hub.channels.email.compose import address_of
from hub.channels.email.ids import (
    key_digest,
    message_id,
    verify_message_id,
    verify_return_path,
)
from hub.intake.email.dsn import Bounce
from hub.notifications import batches
from hub.notifications.suppression import suppress

RECIPIENT_STATUSES = ("5.1.0", "5.1.1", "5.1.2", "5.1.3", "5.1.6", "5.1.10", "5.2.1")
GENERIC_STATUSES = ("5.0.0", "5.5.0", "5.1.0", "5.2.0", "5.4.0", "5.4.1", "5.5.1")
USER_GONE = re.compile(
    r"user unknown|unknown user|no such (user|mailbox|recipient|address)|does not exist|"
    r"doesn'?t exist|recipient (not found|unknown|address rejected: user)|unknown recipient|"
    r"invalid recipient|mailbox (not found|unavailable|disabled|does not exist)|"
    r"account (has been )?(disabled|deactivated|closed|suspended)|address rejected|"
    r"not a valid (mailbox|recipient)|no mailbox|user not found|undeliverable address",
    re.IGNORECASE,
)
NOT_ABOUT_RECIPIENT = re.compile(
    r"spam|policy|reputation|blocked|block ?list|blacklist|denied|rate|frequenc|limit|"
    r"too many|spf|dkim|dmarc|authenticat|relay|sender|tls|throttl|greylist|try again",
    re.IGNORECASE,
)


def _domain(settings) -> str:
    sender = settings.text("HUB_MAIL_FROM")
    return address_of(sender, "HUB_MAIL_FROM").rpartition("@")[2].lower()


def recipient_failure(bounce: Bounce) -> str | None:
    """Why the failure is permanent and about the recipient, or None."""
    status = bounce.status or ""
    if bounce.action not in ("failed", "") or not status.startswith("5."):
        return None
    said = f"{bounce.diagnostic} {bounce.why}"
    if status in RECIPIENT_STATUSES and not NOT_ABOUT_RECIPIENT.search(bounce.diagnostic):
        return f"{status}: the address does not take mail"
    if (
        status in GENERIC_STATUSES
        and USER_GONE.search(said)
        and not NOT_ABOUT_RECIPIENT.search(said)
    ):
        return f"{status} saying {USER_GONE.search(said).group(0)!r}"
    return None


def proven_deliveries(
    session: Session, settings, bounce: Bounce, returned_to: list[str]
) -> list[tuple[Notification, str]]:
    """Our email rows the bounce proves it is about, each with how it proves it."""
    secret, found = settings.secret_key, {}
    for address in returned_to:
        signed = verify_return_path(secret, address)
        if signed:
            number, digest = signed
            for row in _email_rows(session, number):
                if key_digest(row.key) == digest:
                    found.setdefault(row.id, (row, f"returned to our signed return path {address}"))
    domain = _domain(settings) if bounce.original_ids else ""
    for mid in bounce.original_ids:
        number = verify_message_id(secret, mid)
        if not number:
            continue
        for row in _email_rows(session, number):
            if message_id(secret, number, row.key, domain).strip("<>").lower() == mid:
                found.setdefault(row.id, (row, f"quotes our signed Message-ID <{mid}>"))
    return _batch_members(session, bounce, list(found.values()))


def _batch_members(session: Session, bounce: Bounce, proven: list) -> list:
    """A message that carried several recipients (hub/notifications/batches.py) stands for
    those of its recipients the bounce names; without a name it proves none of them."""
    out = []
    for row, how in proven:
        if not batches.is_batch(row):
            out.append((row, how))
            continue
        named = {a.lower() for a in bounce.recipients}
        members = session.scalars(select(Notification).where(Notification.batch_id == row.id))
        out += [
            (m, f"{how}, naming {m.recipient}") for m in members if m.recipient.lower() in named
        ]
    return out


def _email_rows(session: Session, number: int) -> list[Notification]:
    return list(
        session.scalars(
            select(Notification).where(
                Notification.incident_id == number, Notification.channel == "email"
            )
        )
    )


def apply_bounce(
    session: Session, settings, bounce: Bounce, returned_to: list[str], inbound_id: int, now
) -> str:
    """Mark proven deliveries failed and suppress their addresses when the failure is the
    recipient's and permanent; says what it did (and why it did nothing)."""
    status = bounce.status or "no status"
    named = ", ".join(bounce.recipients[:5]) or "no recipient named"
    proven = proven_deliveries(session, settings, bounce, returned_to)
    if not proven:
        return f"{status} for {named}: about no message the hub sent; recorded, nothing changed"
    why = recipient_failure(bounce)
    said = []
    for row, how in proven:
        address = row.recipient.lower()
        if why is None:
            said.append(
                f"#{row.id} to {address} ({how}): {status} is not a permanent "
                f"recipient failure ({bounce.action}); nothing changed"
            )
            continue
        row.status, row.next_attempt_at, row.claimed_until = "failed", None, None
        row.last_error = f"bounced: {status} {bounce.diagnostic}".strip()[:2000]
        if bounce.recipients and address not in bounce.recipients:
            said.append(
                f"#{row.id} to {address} marked failed ({how}); not suppressed: "
                f"the bounce names {named}"
            )
            continue
        cause = f"{why}; {bounce.diagnostic or bounce.why}; delivery #{row.id} ({how})"
        added = suppress(session, address, status, cause, inbound_id, now)
        said.append(
            f"#{row.id} to {address} marked failed ({how}); "
            + ("suppressed " + address if added else f"{address} was suppressed already")
        )
    return "; ".join(said)
