"""What kind of mail this is before anyone reads it: our own (a loop), a bounce, or automatic."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.parser import BytesParser

from hub.channels.email.compose import LOOP_HEADER
from hub.channels.email.ids import loop_token, verify_message_id
from hub.intake.email.message import (
    message_ids,
    normalise_message_id,
    raw_value,
    raw_values,
    sender_of,
)

AUTOMATIC_PRECEDENCE = ("bulk", "junk", "list", "auto_reply")
DAEMONS = ("mailer-daemon", "postmaster")
_STATUS = re.compile(r"(?<![\d.])([245]\.\d{1,3}\.\d{1,3})(?![\d.])")
_OUR_ID = re.compile(r"<inc-\d+\.m\.[a-z2-7]+\.[a-z2-7]+@[^>\s]+>", re.IGNORECASE)


def own_mail(msg: EmailMessage, secret: str, our_addresses: set[str]) -> str | None:
    """Why this is mail we sent ourselves (a loop), or None."""
    for name in ("Message-ID", "X-Mihub-Message-Id"):
        mid = normalise_message_id(raw_value(msg, name))
        if mid and verify_message_id(secret, mid):
            return f"{name} is one we signed"
    if (raw_value(msg, LOOP_HEADER) or "").strip() == loop_token(secret):
        return f"our {LOOP_HEADER} header"
    sender = sender_of(msg)
    if sender and _bare(sender) in our_addresses:
        return f"sent from our own address {sender}"
    return None


def _bare(address: str) -> str:
    local, _, domain = address.lower().rpartition("@")
    return f"{local.split('+', 1)[0]}@{domain}"


def automatic(msg: EmailMessage) -> str | None:
    """Why this is automatic mail (never answered, never reopens), or None."""
    auto = (raw_value(msg, "Auto-Submitted") or "").split(";")[0].strip().lower()
    if auto and auto != "no":
        return f"Auto-Submitted: {auto}"
    precedence = (raw_value(msg, "Precedence") or "").strip().lower()
    if precedence in AUTOMATIC_PRECEDENCE:
        return f"Precedence: {precedence}"
    for name in ("X-Autoreply", "X-Autorespond"):
        if raw_value(msg, name) is not None:
            return f"{name} header"
    list_id = raw_value(msg, "List-Id")
    if list_id is not None:
        return f"mailing list {list_id[:200]}"
    return None


@dataclass
class Bounce:
    """A delivery failure report: who failed, with what status, for which message of ours."""

    why: str
    recipients: list[str] = field(default_factory=list)
    status: str | None = None  # e.g. 5.1.1
    action: str = "failed"
    diagnostic: str = ""
    original_ids: list[str] = field(default_factory=list)

    @property
    def permanent(self) -> bool:
        return self.action == "failed" and (self.status or "5").startswith("5")


def bounce(msg: EmailMessage, mail_from: str | None) -> Bounce | None:
    """The bounce this message reports, or None if it is not one."""
    dsn = (
        msg.get_content_type() == "multipart/report"
        and (msg.get_param("report-type") or "").lower() == "delivery-status"
    )
    failed = ",".join(raw_values(msg, "X-Failed-Recipients"))
    sender = sender_of(msg) or ""
    null_path = (raw_value(msg, "Return-Path") or "").strip() == "<>" or mail_from == ""
    daemon = sender.split("@")[0] in DAEMONS and null_path
    if not (dsn or failed or daemon):
        return None
    why = (
        "delivery status notification"
        if dsn
        else "X-Failed-Recipients"
        if failed
        else "mail from the mailer daemon, null Return-Path"
    )
    found = Bounce(why, [a.strip().lower() for a in failed.split(",") if "@" in a])
    for part in msg.walk():
        kind = part.get_content_type()
        if kind == "message/delivery-status":
            _read_status(part, found)
        elif kind in ("message/rfc822", "text/rfc822-headers") and not found.original_ids:
            found.original_ids = _original_ids(part)
    text = _text_of(msg)
    if not found.status:
        match = _STATUS.search(text)
        found.status = (
            match.group(1) if match else ("5.0.0" if re.search(r"\b5\d\d\b", text) else None)
        )
    if not found.original_ids:
        found.original_ids = [m.lower().strip("<>") for m in _OUR_ID.findall(text)]
    found.original_ids += message_ids(raw_value(msg, "In-Reply-To"))
    found.original_ids += message_ids(raw_value(msg, "References"))
    return found


def _read_status(part: EmailMessage, found: Bounce) -> None:
    groups = part.get_payload()
    for group in groups[1:] if isinstance(groups, list) else ():
        recipient = str(group.get("Final-Recipient") or group.get("Original-Recipient") or "")
        address = recipient.split(";", 1)[-1].strip().strip("<>").lower()
        if "@" in address and address not in found.recipients:
            found.recipients.append(address)
        found.action = str(group.get("Action") or found.action).strip().lower()
        status = _STATUS.search(str(group.get("Status") or ""))
        found.status = status.group(1) if status else found.status
        found.diagnostic = " ".join(str(group.get("Diagnostic-Code") or "").split())[:500]


def _original_ids(part: EmailMessage) -> list[str]:
    try:
        if part.get_content_type() == "message/rfc822":
            inner = part.get_payload()[0]
        else:
            inner = BytesParser().parsebytes(part.get_payload(decode=True) or b"", headersonly=True)
        return [m for m in [normalise_message_id(inner.get("Message-ID"))] if m]
    except Exception:  # a mangled copy of the original: fall back to the text
        return []


def _text_of(msg: EmailMessage) -> str:
    texts = []
    for part in msg.walk():
        if part.get_content_maintype() == "text":
            payload = part.get_payload(decode=True) or b""
            texts.append(payload[:200_000].decode("utf-8", "replace"))
    return "\n".join(texts)
