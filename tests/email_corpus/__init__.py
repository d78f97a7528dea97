"""A corpus of inbound mail, read from cases.yaml: each case is raw bytes plus the outcome we expect.

`build(world)` returns the cases in processing order (duplicates follow their originals);
`world` says what the hub already holds (the seeded incident, our Message-IDs and tokens).
`python -m tests.email_corpus DIR` writes them as .eml files to look at.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime

from hub.channels.email.ids import make_reply_token, message_id, reply_address, root_message_id

DOMAIN = "northwind.example"
INTAKE = f"incidents@{DOMAIN}"
DATE = format_datetime(datetime(2026, 3, 3, 9, 0, tzinfo=UTC))


@dataclass
class World:
    """What the corpus refers to: the secret, the seeded incident, one of our deliveries."""

    secret: str
    incident: int  # a major payroll incident reported by ben; anna is its MIM
    delivery_key: str  # outbox key of an email we sent to anna about it
    delivery_to: str = "anna.schmidt@northwind.example"

    def our_mid(self, key: str | None = None) -> str:
        return message_id(self.secret, self.incident, key or self.delivery_key, DOMAIN)

    def root(self) -> str:
        return root_message_id(self.secret, self.incident, DOMAIN)

    def reply_to(self, recipient: str) -> str:
        return reply_address(INTAKE, make_reply_token(self.secret, self.incident, recipient))


@dataclass
class Case:
    """One message and what must become of it."""

    name: str
    raw: bytes
    outcome: str  # created | threaded | duplicate | ignored | quarantined | new (either of the first two)
    step: str | None = None  # the step that settled it, when it matters
    expect_text: list[str] = field(default_factory=list)  # must appear on the incident timeline
    refuse_text: list[str] = field(default_factory=list)  # must not appear anywhere on it


_counter = iter(range(1, 10_000))


def mail(
    subject="Payroll is down",
    body="Nobody can open payroll.",
    *,
    sender="ben.okafor",
    to=INTAKE,
    headers=None,
    mid: str | bool = True,
    html: str | None = None,
    cte: str | None = None,
    charset="utf-8",
) -> EmailMessage:
    """A message as a mail client writes it."""
    msg = EmailMessage(policy=SMTP)
    msg["From"] = (
        sender if "@" in sender else f"{sender.replace('.', ' ').title()} <{sender}@{DOMAIN}>"
    )
    msg["To"] = to
    msg["Subject"] = subject
    msg["Date"] = DATE
    if mid is True:
        msg["Message-ID"] = f"<corpus-{next(_counter)}@mail.{DOMAIN}>"
    elif mid:
        msg["Message-ID"] = mid
    for name, value in (headers or {}).items():
        msg[name] = value
    if body is not None:
        msg.set_content(body, cte=cte, charset=charset) if cte else msg.set_content(body)
    if html is not None:
        if body is None:
            msg.set_content(html, subtype="html")
        else:
            msg.add_alternative(html, subtype="html")
    return msg


def raw(msg: EmailMessage) -> bytes:
    return msg.as_bytes()


def crlf(text: str) -> bytes:
    """Hand-written raw mail: LF line ends become CRLF."""
    return text.replace("\r\n", "\n").replace("\n", "\r\n").encode("utf-8", "surrogateescape")


def b64(data: bytes) -> str:
    return base64.encodebytes(data).decode()
