"""Signed identifiers in our mail: Message-IDs, the incident thread root, plus-address reply tokens.

Message-IDs look like `<inc-42.m.<digest>.<sig>@mihub.example.com>`: the digest comes from the
outbox key (a retried message keeps its Message-ID) and the signature is an HMAC with
HUB_SECRET_KEY, so intake can tell our own mail from a forgery. Every message of an incident
points at the same (never sent) root `<inc-42.root.<sig>@mihub.example.com>` in In-Reply-To
and References, and carries a Thread-Index with the same root GUID, so Gmail and Outlook show
one conversation per incident (both also need the same subject, see compose.py).

A reply token encodes (incident number, a keyed digest of the recipient address) and fits in a
plus-address local part: `incidents+42-k7qa3mzd-xq4vd2w7ad6mb@example.com` (local parts are
limited to 64 characters, so the address itself cannot be carried, only its digest).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re

SIG_CHARS = 12  # 60 bits of HMAC; short enough that most Message-ID lines need no folding
_MSGID = re.compile(r"<?inc-(\d+)\.(m|root)\.(?:([a-z2-7]+)\.)?([a-z2-7]+)@([^>\s]+)>?\Z")
_TOKEN = re.compile(r"(\d{1,12})-([a-z2-7]{8})-([a-z2-7]{13})\Z")


def _mac(secret: str, purpose: str, text: str, chars: int) -> str:
    digest = hmac.new(secret.encode(), f"{purpose}|{text}".encode(), hashlib.sha256).digest()
    return base64.b32encode(digest).decode().lower()[:chars]


def incident_number(incident_id: int | str) -> int:
    """42 from `INC-42`, `inc-42`, `42` or 42."""
    return int(str(incident_id).strip().upper().removeprefix("INC-"))


def root_message_id(secret: str, incident_id: int | str, domain: str) -> str:
    """The incident's thread root, `<inc-42.root.SIG@mihub.DOMAIN>`."""
    local = f"inc-{incident_number(incident_id)}.root"
    return f"<{local}.{_mac(secret, 'msgid', local, SIG_CHARS)}@mihub.{domain}>"


def key_digest(key: str) -> str:
    """16 base32 characters of the outbox key's SHA-256: names one message in ids and paths."""
    return base64.b32encode(hashlib.sha256(key.encode()).digest()).decode().lower()[:16]


def message_id(secret: str, incident_id: int | str, key: str, domain: str) -> str:
    """This message's Message-ID: the same for the same outbox key, signed."""
    digest = key_digest(key)
    local = f"inc-{incident_number(incident_id)}.m.{digest}"
    return f"<{local}.{_mac(secret, 'msgid', local, SIG_CHARS)}@mihub.{domain}>"


def verify_message_id(secret: str, value: str) -> int | None:
    """The incident number if `value` is a Message-ID we signed (root or message), else None."""
    match = _MSGID.match(value.strip().lower())
    if not match:
        return None
    number, kind, digest, sig, _domain = match.groups()
    if (kind == "m") != bool(digest):
        return None
    local = f"inc-{number}.{kind}" + (f".{digest}" if digest else "")
    return (
        int(number) if hmac.compare_digest(sig, _mac(secret, "msgid", local, SIG_CHARS)) else None
    )


def thread_index(secret: str, incident_id: int | str, key: str) -> str:
    """An Outlook Thread-Index: the incident's 22-byte root header plus a 5-byte child block."""
    number = incident_number(incident_id)
    root_mac = hmac.new(secret.encode(), f"thread|{number}".encode(), hashlib.sha256).digest()
    root = b"\x01" + root_mac[:5] + root_mac[5:21]  # reserved byte, 5 "time" bytes, 16-byte GUID
    child = hashlib.sha256(key.encode()).digest()[:5]
    return base64.b64encode(root + child).decode()


def recipient_tag(secret: str, address: str) -> str:
    """A short keyed digest of an email address (case-insensitive)."""
    return _mac(secret, "rcpt", address.strip().lower(), 8)


def make_reply_token(secret: str, incident_id: int | str, recipient: str) -> str:
    """`42-<recipient tag>-<sig>`: lower-case letters, digits and dashes, 24–35 characters."""
    body = f"{incident_number(incident_id)}-{recipient_tag(secret, recipient)}"
    return f"{body}-{_mac(secret, 'reply', body, 13)}"


def verify_reply_token(
    secret: str, token: str, sender: str | None = None
) -> tuple[int, str] | None:
    """`(incident number, recipient tag)` if we signed `token`, else None.

    With `sender`, also None unless the token was made for that address (a forwarded mail
    answered by someone else carries a token that is not theirs).
    """
    match = _TOKEN.match(token.strip().lower())
    if not match:
        return None
    number, tag, sig = match.groups()
    if not hmac.compare_digest(sig, _mac(secret, "reply", f"{number}-{tag}", 13)):
        return None
    if sender is not None and not hmac.compare_digest(tag, recipient_tag(secret, sender)):
        return None
    return int(number), tag


def reply_address(intake_address: str, token: str) -> str:
    """`incidents+TOKEN@domain` from the intake address `incidents@domain`."""
    local, _, domain = intake_address.rpartition("@")
    return f"{local.split('+', 1)[0]}+{token}@{domain}"


def token_from_address(address: str) -> str | None:
    """The token of a plus-address (`incidents+TOKEN@domain`), or None."""
    local = address.strip().strip("<>").rpartition("@")[0]
    return local.split("+", 1)[1] if "+" in local else None


_VERP = re.compile(r"b(\d{1,12})-([a-z2-7]{16})-([a-z2-7]{12})\Z")


def return_path(secret: str, sender: str, incident_id: int | str, key: str) -> str:
    """The envelope sender (VERP) of one message: `mihub+b42-<key digest>-<sig>@domain`.

    One message goes to one recipient, so a bounce that comes back to this address names the
    outbox row, hence the recipient, whatever the bouncing MTA writes (43 characters added
    to the local part at most, within RFC 5321's 64)."""
    local, _, domain = sender.rpartition("@")
    body = f"b{incident_number(incident_id)}-{key_digest(key)}"
    return f"{local.split('+', 1)[0]}+{body}-{_mac(secret, 'verp', body, SIG_CHARS)}@{domain}"


def verify_return_path(secret: str, address: str) -> tuple[int, str] | None:
    """`(incident number, key digest)` if `address` is a return path we signed, else None."""
    token = token_from_address(address.lower())
    match = _VERP.match(token or "")
    if not match:
        return None
    number, digest, sig = match.groups()
    if not hmac.compare_digest(sig, _mac(secret, "verp", f"b{number}-{digest}", SIG_CHARS)):
        return None
    return int(number), digest


def loop_token(secret: str) -> str:
    """The value of our X-Mihub-Loop header: the same for every message of this installation."""
    return _mac(secret, "loop", "mihub", 16)
