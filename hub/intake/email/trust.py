"""Sender trust: the allowlist, a per-sender rate, and DMARC from trusted Authentication-Results."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from fnmatch import fnmatchcase

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from hub.app.models import InboundMessage, Report
from hub.intake.email.message import raw_values
from hub.intake.senders import person_by_address
from hub.policy.model import Policy

_DMARC = re.compile(r"(?<![\w.-])dmarc\s*=\s*([a-z]+)", re.IGNORECASE)
_COMMENTS = re.compile(r"\([^()]*\)")


@dataclass(frozen=True)
class Verdict:
    """What we believe about the sender."""

    allowed: bool
    dmarc: str | None  # pass | fail | none | None (no trusted header)
    verified: bool  # an acknowledgement may go back to this address
    reason: str


def trusted_ids(settings) -> set[str]:
    """The authserv-ids whose Authentication-Results we believe (lower-case)."""
    value = settings.text("HUB_MAIL_TRUSTED_AUTHSERV_IDS")
    return {v.strip().lower() for v in value.split(",") if v.strip()}


def dmarc_result(msg: EmailMessage, trusted: set[str]) -> tuple[str | None, str | None]:
    """(result, authserv-id) from the first trusted Authentication-Results with a dmarc result."""
    for value in raw_values(msg, "Authentication-Results"):
        text = _COMMENTS.sub(" ", " ".join(value.split()))
        authserv = text.split(";", 1)[0].strip().split(" ")[0].lower()
        if authserv not in trusted:
            continue
        match = _DMARC.search(text.split(";", 1)[1] if ";" in text else "")
        if match:
            return match.group(1).lower(), authserv
    return None, None


def allowed_sender(address: str, policy: Policy) -> bool:
    """In the policy's allowed_senders (glob patterns), or a person of the policy."""
    address = address.lower()
    patterns = policy.intake.allowed_senders
    return any(fnmatchcase(address, p.lower()) for p in patterns) or (
        person_by_address(policy, address) is not None
    )


def judge(msg: EmailMessage, sender: str, policy: Policy, trusted: set[str]) -> Verdict:
    """Allowed and verified or not, with the reason in words."""
    allowed = allowed_sender(sender, policy)
    dmarc, authserv = dmarc_result(msg, trusted)
    if dmarc in ("fail", "reject", "quarantine"):
        return Verdict(allowed, "fail", False, f"DMARC {dmarc} according to {authserv}")
    if not allowed:
        return Verdict(False, dmarc, False, f"{sender} is not in intake.email.allowed_senders")
    if trusted:
        verified = dmarc == "pass"
        how = (
            f"DMARC pass according to {authserv}"
            if verified
            else "no DMARC pass from a trusted Authentication-Results header"
        )
    else:  # no gateway vouches for anything: the allowlist is all we have
        verified, how = True, "allowed sender (no trusted authserv-id configured)"
    return Verdict(True, dmarc, verified, how)


def reports_from(session: Session, sender: str, now: datetime) -> int:
    """New reports this sender made by email in the last hour (the per-sender rate)."""
    return reports_from_each(session, [sender], now).get(sender, 0)


def reports_from_each(session: Session, senders: list[str], now: datetime) -> dict[str, int]:
    """`reports_from` of each of several senders, in one SELECT (those with none left out)."""
    since = now - timedelta(hours=1)
    found = session.execute(
        select(InboundMessage.sender, func.count(Report.id))
        .join(Report, Report.inbound_id == InboundMessage.id)
        .where(
            InboundMessage.channel == "email",
            InboundMessage.sender.in_(sorted(set(senders))),
            InboundMessage.received_at >= since,
            Report.at >= since,
        )
        .group_by(InboundMessage.sender)
    )
    return {sender: count for sender, count in found}
