"""Reading an inbound message without tripping the parser: limits first, then safe header access.

CPython's email parser has quadratic cases (long structured headers, deep nesting), so the raw
bytes are measured before parsing (`check_limits`), and headers we only need as text are read
raw (`raw_values`), never through the structured header parser.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import getaddresses

from hub.intake.email.charsets import guess, header_text
from hub.intake.raw import content_key

MAX_FIELD_BYTES = 16384  # one header field, unfolded
_HEADER_END = re.compile(rb"\r?\n\r?\n")
_BOUNDARY = re.compile(rb"""(?i)boundary\s*=\s*(?:"([^"\r\n]{1,200})"|([^\s;"]{1,200}))""")
_MSGID = re.compile(r"<([^<>\s]{1,900})>")
_ANGLE = re.compile(r"<([^<>\s@]+@[^<>\s@]+)>")


@dataclass(frozen=True)
class Limits:
    """What we accept: whole size, header block, MIME parts and nesting depth."""

    max_bytes: int
    max_header_bytes: int
    max_parts: int
    max_depth: int

    @classmethod
    def from_settings(cls, settings, max_bytes: int) -> Limits:
        """The limits of this installation (the size comes from the policy)."""
        return cls(
            max_bytes,
            settings.int("HUB_MAIL_MAX_HEADER_BYTES"),
            settings.int("HUB_MAIL_MAX_PARTS"),
            settings.int("HUB_MAIL_MAX_DEPTH"),
        )


def header_block(raw: bytes, limit: int) -> bytes | None:
    """The top header block, or None if it does not end within `limit` bytes."""
    match = _HEADER_END.search(raw, 0, limit + 4)
    if match:
        return raw[: match.start()]
    return raw if len(raw) <= limit else None


def mime_shape(raw: bytes) -> tuple[int, int]:
    """(parts, depth) from the boundary lines alone, in one linear pass."""
    declared = {(m[1] or m[2]).strip() for m in _BOUNDARY.finditer(raw)}
    if not declared:
        return 1, 0
    stack: list[bytes] = []
    parts = depth = 0
    for line in raw.split(b"\n"):
        if not line.startswith(b"--"):
            continue
        token = line[2:].rstrip()
        closing = token.endswith(b"--") and token[:-2] in declared
        name = token[:-2] if closing else token
        if name not in declared:
            continue
        if closing:
            if name in stack:
                del stack[stack.index(name) :]
            continue
        if name not in stack:
            stack.append(name)
            depth = max(depth, len(stack))
        else:
            del stack[stack.index(name) + 1 :]
        parts += 1
    return max(parts, 1), depth


def check_limits(raw: bytes, limits: Limits) -> str | None:
    """Why the message is refused before parsing, or None."""
    if len(raw) > limits.max_bytes:
        return f"{len(raw)} bytes, over the limit of {limits.max_bytes}"
    block = header_block(raw, limits.max_header_bytes)
    if block is None:
        return f"header block over {limits.max_header_bytes} bytes"
    field = 0
    for line in block.split(b"\n"):
        field = field + len(line) if line[:1] in (b" ", b"\t") else len(line)
        if field > MAX_FIELD_BYTES:
            return f"a header field is over {MAX_FIELD_BYTES} bytes"
    parts, depth = mime_shape(raw)
    if parts > limits.max_parts:
        return f"{parts} MIME parts, over the limit of {limits.max_parts}"
    if depth > limits.max_depth:
        return f"MIME nesting {depth} deep, over the limit of {limits.max_depth}"
    return None


def parse(raw: bytes) -> EmailMessage:
    """The message (call after `check_limits`), as an EmailMessage read with the compat32
    policy: headers stay raw text until asked for (we decode them ourselves, see charsets.py),
    where the modern policy runs its header parser on every `get_content_type()` — a sixth of
    the whole processing time of a message."""
    if raw.startswith(b"\xef\xbb\xbf"):  # a UTF-8 BOM before the first header
        raw = raw[3:]
    return BytesParser(_class=EmailMessage, policy=policy.compat32).parsebytes(raw)


def raw_values(msg: EmailMessage, name: str) -> list[str]:
    """Every value of a header as text, unparsed (encoded words left as they are)."""
    return [_as_text(v) for v in _held(msg)[1].get(name.lower(), ())]


def _held(msg: EmailMessage) -> tuple[int, dict[str, list], dict]:
    """(header count, the raw header values by lower-case name, what was read from them),
    made once per message: the steps ask for some thirty headers. A header added or removed
    since makes it anew."""
    held = msg.__dict__.get("_hub_headers")
    if held is None or held[0] != len(msg._headers):
        index: dict[str, list] = {}
        for key, value in msg.raw_items():
            index.setdefault(key.lower(), []).append(value)
        held = msg.__dict__["_hub_headers"] = (len(msg._headers), index, {})
    return held


def raw_value(msg: EmailMessage, name: str) -> str | None:
    """The first value of a header, unparsed, whitespace unfolded; None if absent."""
    values = raw_values(msg, name)
    return " ".join(values[0].split()) if values else None


def _as_text(value) -> str:
    """A raw header value as text: raw 8-bit bytes (kept as surrogates by the parser) are
    UTF-8 when they are that, else decoded by charsets.guess."""
    if isinstance(value, str):
        if value.isascii():
            return value
        data = value.encode("utf-8", "surrogateescape")
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            return guess(value.encode("ascii", "surrogateescape")) if _escaped(value) else value
    return str(value)


def _escaped(value: str) -> bool:
    try:
        value.encode("ascii", "surrogateescape")
    except UnicodeEncodeError:
        return False
    return True


def decoded(msg: EmailMessage, name: str, limit: int = 1000) -> str:
    """An unstructured header (Subject) decoded, control characters removed, cut at `limit`."""
    value = raw_value(msg, name)
    if value is None:
        return ""
    text = header_text(value)
    text = " ".join("".join(c if c.isprintable() else " " for c in text).split())
    return text[:limit]


def sender_of(msg: EmailMessage) -> str | None:
    """The one From address, lower-case, or None if there is not exactly one."""
    read = _held(msg)[2]
    if "sender" not in read:
        read["sender"] = _sender(msg)
    return read["sender"]


_ADDRESS = re.compile(r"[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+")


def _sender(msg: EmailMessage) -> str | None:
    values = raw_values(msg, "From")
    if len(values) != 1 or len(values[0]) > 2000:
        return None
    value = " ".join(values[0].split())
    found = list(dict.fromkeys(a.lower() for _n, a in getaddresses([value]) if "@" in a))
    angle = _ANGLE.findall(value)
    if len(found) != 1 and len(angle) == 1:  # `a@b.example <a@b.example>`: the display
        found = [angle[0].lower()]  # name is itself an address, or the name is unquoted
    if len(found) != 1:
        return None
    address = found[0].strip().lower()
    return address if _ADDRESS.fullmatch(address) else None


def addresses_in(msg: EmailMessage, *names: str) -> list[str]:
    """Addresses in these headers, lower-case (raw text; display names ignored)."""
    out: list[str] = []
    for name in names:
        for value in raw_values(msg, name):
            out += [a.strip().lower() for _n, a in getaddresses([value]) if "@" in a]
    return out


def normalise_message_id(value: str | None) -> str | None:
    """`<Local@Domain>` → `local@domain`: the first id in the value, or None."""
    if not value:
        return None
    match = _MSGID.search(value)
    text = match.group(1) if match else value.strip()
    if "@" not in text or len(text) > 400 or any(c.isspace() for c in text):
        return None
    return text.lower()


def message_ids(value: str | None) -> list[str]:
    """Every `<id>` in In-Reply-To or References, normalised, in order."""
    return [m.lower() for m in _MSGID.findall(value or "") if "@" in m]


TRANSPORT_HEADERS = frozenset(
    b"received return-path delivered-to x-original-to x-envelope-from x-envelope-to "
    b"authentication-results arc-seal arc-message-signature arc-authentication-results "
    b"x-received received-spf x-spam-status x-spam-score x-spam-flag x-virus-scanned "
    b"x-ms-exchange-organization-authas x-forefront-antispam-report".split()
)


def normalised(raw: bytes) -> bytes:
    """The message as its author wrote it: LF line ends, no trailing white space, header
    fields unfolded, the headers added in transport (Received, Return-Path, …) removed."""
    text = raw.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
    head, _sep, body = text.partition(b"\n\n")
    fields: list[bytes] = []
    for line in head.split(b"\n"):
        if line[:1] in (b" ", b"\t") and fields:
            fields[-1] += b" " + line.strip()
        else:
            fields.append(line.rstrip())
    kept = [f for f in fields if f.split(b":", 1)[0].strip().lower() not in TRANSPORT_HEADERS]
    lines = b"\n".join(line.rstrip() for line in body.split(b"\n")).rstrip(b"\n")
    return b"\n".join(kept) + b"\n\n" + lines


def dedupe_key(msg: EmailMessage | None, raw: bytes) -> str:
    """`mid:<normalised Message-ID>`, else `sha256:<hash of the normalised message>`."""
    mid = normalise_message_id(raw_value(msg, "Message-ID")) if msg is not None else None
    return f"mid:{mid}" if mid else content_key(normalised(raw))
