"""The bytes of an outgoing message, made directly: what the email package's compat32
`MIMEMultipart` of the same headers and parts gives through its generator
(`as_bytes(policy=SMTP_BYTES)`), without building a Message tree and running the generator.

A worker spends most of a message's CPU time turning it into bytes (the generator's per-header
folding and its walk of the tree), and every worker thread of a process shares one interpreter
lock: a cheaper message is more messages a second from each worker. The structure is fixed —
multipart/alternative, a text and an HTML part, both UTF-8 quoted-printable — so the bytes are
written in order; a header that fits on one line is written as it is, any other (long, or not
ASCII) is folded by the same compat32 policy as before. tests/channels/email/test_wire.py
checks that the bytes are those of the generator's message (built there, as the oracle).
"""

from __future__ import annotations

import re
from datetime import datetime
from email.header import Header
from email.policy import compat32

from hub.channels.email.compose import _boundary, mime_headers, quoted_printable

SMTP_BYTES = compat32.clone(linesep="\r\n")  # what smtplib.send_message would flatten with
MAX_LINE = 78  # compat32's max_line_length: a longer header line is folded
_NL = re.compile(r"\r\n|\r|\n")
_PLAIN_HEADER = re.compile(r"[!-~]+(?: [!-~]+)*")  # printable ASCII words, single spaces
_PARTS = {
    sub: (
        f'Content-Type: text/{sub}; charset="utf-8"\r\n'
        "Content-Transfer-Encoding: quoted-printable\r\n\r\n"
    ).encode()
    for sub in ("plain", "html")
}


def _fold(name: str, value: str | Header) -> bytes:
    if (
        isinstance(value, str)
        and len(name) + 2 + len(value) <= MAX_LINE
        and _PLAIN_HEADER.fullmatch(value)
    ):
        return f"{name}: {value}\r\n".encode("ascii")
    return SMTP_BYTES.fold_binary(name, value)


def _part(body: str, subtype: str) -> bytes:
    return _PARTS[subtype] + _NL.sub("\r\n", quoted_printable(body)).encode("ascii")


def mime_bytes(payload: dict, *, now: datetime | None = None, bcc: bool = False) -> bytes:
    """The message of `payload` as sent (CRLF line ends), as the email package's generator would make it."""
    boundary = _boundary()
    out = [
        _fold("Content-Type", f'multipart/alternative; boundary="{boundary}"'),
        b"MIME-Version: 1.0\r\n",
    ]
    out += [_fold(name, value) for name, value in mime_headers(payload, now, bcc)]
    delimiter = f"--{boundary}".encode("ascii")
    out += [
        b"\r\n",
        delimiter + b"\r\n",
        _part(payload["text"], "plain"),
        b"\r\n" + delimiter + b"\r\n",
        _part(payload["html"], "html"),
        b"\r\n" + delimiter + b"--\r\n",
    ]
    return b"".join(out)
