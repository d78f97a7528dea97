"""Teams outgoing webhook signatures: `Authorization: HMAC <base64>` over the raw body bytes.

Teams signs the request body with HMAC-SHA256, keyed with the base64-*decoded* security token
shown when the webhook was created. The check compares in constant time and never logs the
body or the signature.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac


class SignatureError(Exception):
    """The request is not signed by Teams with our secret; the message says why (no secrets)."""


def decode_secret(secret: str | None) -> bytes:
    """The HMAC key from the security token (base64); ValueError if it is not base64."""
    if not secret or not secret.strip():
        raise ValueError("HUB_TEAMS_OUTGOING_SECRET is not set")
    try:
        key = base64.b64decode(secret.strip(), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError("HUB_TEAMS_OUTGOING_SECRET is not valid base64") from exc
    if not key:
        raise ValueError("HUB_TEAMS_OUTGOING_SECRET decodes to nothing")
    return key


def sign(body: bytes, secret: str) -> str:
    """The `Authorization` header value Teams would send for `body` (benchmarks and fakes)."""
    digest = hmac.new(decode_secret(secret), body, hashlib.sha256).digest()
    return "HMAC " + base64.b64encode(digest).decode("ascii")


def verify(header: str | None, body: bytes, key: bytes) -> None:
    """Return if `header` is a valid HMAC of `body` under `key`; raise SignatureError if not."""
    if not header:
        raise SignatureError("no Authorization header")
    scheme, _, value = header.strip().partition(" ")
    if scheme.lower() != "hmac" or not value.strip():
        raise SignatureError("Authorization is not an HMAC signature")
    try:
        given = base64.b64decode(value.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise SignatureError("the HMAC signature is not base64") from None
    expected = hmac.new(key, body, hashlib.sha256).digest()
    if not hmac.compare_digest(given, expected):
        raise SignatureError("the HMAC signature does not match the body")
