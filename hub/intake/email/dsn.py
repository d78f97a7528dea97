"""What a bounce reports: the failed recipients, the status, the diagnostic, the original message.

RFC 3464 `message/delivery-status` groups first (stdlib parsing); for bounces without one,
`flufl.bounce` (the detectors Mailman uses across MTAs: qmail, Exim, Postfix, Exchange,
GroupWise, Yahoo, AOL, …) names the recipients and whether they failed for good. The original
message is found in the attached `message/rfc822` or `text/rfc822-headers` part, else its
Message-ID in the text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.parser import BytesParser

from flufl.bounce import all_failures

from hub.intake.email.charsets import part_text
from hub.intake.email.message import message_ids, normalise_message_id, raw_value, raw_values

STATUS = re.compile(r"(?<![\d.])([245]\.\d{1,3}\.\d{1,3})(?![\d.])")
SMTP_CODE = re.compile(r"\b([45])\d\d[ -]")
MSGID_IN_TEXT = re.compile(r"message-id:\s*(<[^<>\s]{1,900}>)", re.IGNORECASE)
TEXT_LIMIT = 200_000


@dataclass
class Bounce:
    """A delivery report: who failed, with what status, about which message."""

    why: str
    recipients: list[str] = field(default_factory=list)
    status: str | None = None  # e.g. 5.1.1
    action: str = "failed"
    diagnostic: str = ""
    original_ids: list[str] = field(default_factory=list)
    temporary: list[str] = field(default_factory=list)  # flufl.bounce: delayed, not failed


def text_of(msg: EmailMessage, limit: int = TEXT_LIMIT) -> str:
    """The text parts of a message, decoded, up to `limit` characters."""
    texts, size = [], 0
    for part in msg.walk():
        if part.get_content_maintype() == "text" and size < limit:
            text = part_text(part)[: limit - size]
            texts.append(text)
            size += len(text)
    return "\n".join(texts)


def read_bounce(msg: EmailMessage, why: str, text: str) -> Bounce:
    """The report of a message the classifier called a bounce."""
    found = Bounce(why)
    for value in raw_values(msg, "X-Failed-Recipients"):
        found.recipients += [a.strip().lower() for a in value.split(",") if "@" in a]
    for part in msg.walk():
        kind = part.get_content_type()
        if kind in ("message/delivery-status", "message/global-delivery-status"):
            _read_status(part, found)
        elif kind in ("message/rfc822", "text/rfc822-headers") and not found.original_ids:
            found.original_ids = _original_ids(part)
    if not found.recipients:
        _by_flufl(msg, found)
    if not found.status:
        match = STATUS.search(text)
        code = SMTP_CODE.search(text)
        found.status = match.group(1) if match else (f"{code.group(1)}.0.0" if code else None)
    if not found.diagnostic:
        found.diagnostic = _diagnostic(text)
    if not found.original_ids:
        found.original_ids = [m.strip("<>").lower() for m in MSGID_IN_TEXT.findall(text)]
    found.original_ids += message_ids(raw_value(msg, "In-Reply-To"))
    found.original_ids += message_ids(raw_value(msg, "References"))
    return found


def _read_status(part: EmailMessage, found: Bounce) -> None:
    groups = part.get_payload()
    for group in groups[1:] if isinstance(groups, list) else ():
        recipient = str(group.get("Original-Recipient") or group.get("Final-Recipient") or "")
        final = str(group.get("Final-Recipient") or "")
        for value in dict.fromkeys((recipient, final)):
            address = value.split(";", 1)[-1].strip().strip("<>").lower()
            if "@" in address and address not in found.recipients:
                found.recipients.append(address)
        found.action = str(group.get("Action") or found.action).strip().lower()
        status = STATUS.search(str(group.get("Status") or ""))
        found.status = status.group(1) if status else found.status
        found.diagnostic = " ".join(str(group.get("Diagnostic-Code") or "").split())[:500]


def _by_flufl(msg: EmailMessage, found: Bounce) -> None:
    try:
        temporary, permanent = all_failures(msg)
    except Exception:  # a detector tripping over a mangled bounce must not fail the message
        return
    found.recipients += sorted(_text(a) for a in permanent if b"@" in a)
    found.temporary = sorted(_text(a) for a in temporary if b"@" in a)
    if found.temporary and not found.recipients:
        found.action = "delayed"
    if found.recipients or found.temporary:
        found.why += "; recipients by flufl.bounce"


def _text(address: bytes) -> str:
    return address.decode("utf-8", "replace").strip().strip("<>").lower()


def _diagnostic(text: str) -> str:
    for line in text.splitlines():
        if STATUS.search(line) or SMTP_CODE.search(line + " "):
            return " ".join(line.split())[:500]
    return ""


def _original_ids(part: EmailMessage) -> list[str]:
    try:
        if part.get_content_type() == "message/rfc822":
            inner = part.get_payload()[0]
        else:
            inner = BytesParser().parsebytes(part.get_payload(decode=True) or b"", headersonly=True)
        return [m for m in [normalise_message_id(inner.get("Message-ID"))] if m]
    except Exception:  # a mangled copy of the original: fall back to the text
        return []
