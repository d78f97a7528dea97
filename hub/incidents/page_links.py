"""Signed page links: the token of a page's one-tap "Acknowledge" or "Take over".

A link names one incident, one person, one role and what it does (`acknowledge`, or
`take-over` for a person an escalation step paged for a role someone else holds), signed with
HMAC-SHA256 under HUB_SECRET_KEY; a random nonce makes each page's link its own. What a link
may do when it is opened or used is hub/incidents/ack_links.py.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
from dataclasses import dataclass

from hub.app.models import Incident
from hub.policy.model import ROLE_NAMES

PURPOSES = ("acknowledge", "take-over", "approve-update")  # the last: hub/incidents/drafts.py
VERBS = {"acknowledge": "Acknowledge", "take-over": "Take over", "approve-update": "Approve"}
_DOMAIN = b"mihub page link v1"
_SIG_BYTES = 16


@dataclass(frozen=True)
class Claim:
    """What a link says: who may do what on which incident, and its own nonce."""

    incident_id: int
    person: str
    role: str
    purpose: str
    nonce: str

    @property
    def ref(self) -> str:
        return f"INC-{self.incident_id}"


def _key(secret: str) -> bytes:
    return hmac.new(secret.encode(), _DOMAIN, hashlib.sha256).digest()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def sign(secret: str, claim: Claim) -> str:
    """The token of a claim: its fields and an HMAC over them, URL-safe."""
    body = "|".join(
        (claim.purpose, str(claim.incident_id), claim.person, claim.role, claim.nonce)
    ).encode()
    mac = hmac.new(_key(secret), body, hashlib.sha256).digest()[:_SIG_BYTES]
    return f"{_b64(body)}.{_b64(mac)}"


def read(secret: str, token: str) -> Claim | None:
    """The claim of a token whose signature holds; None for anything changed or malformed."""
    try:
        body_text, mac_text = (token or "").split(".", 1)
        body, mac = _unb64(body_text), _unb64(mac_text)
    except (ValueError, binascii.Error):
        return None
    expected = hmac.new(_key(secret), body, hashlib.sha256).digest()[:_SIG_BYTES]
    if not hmac.compare_digest(mac, expected):
        return None
    try:
        purpose, incident_id, person, role, nonce = body.decode().split("|")
        claim = Claim(int(incident_id), person, role, purpose, nonce)
    except (UnicodeDecodeError, ValueError):
        return None
    if purpose not in PURPOSES or role not in ROLE_NAMES:
        return None
    return claim


def page_link(
    settings, incident: Incident, person: str, role: str | None, *, held: bool
) -> str | None:
    """The signed URL of a page to `person` for `role` (None when the page has no role):
    acknowledge when they hold it, take over when the escalation calls them to it."""
    if not role or role not in ROLE_NAMES or incident.id is None:
        return None
    purpose = "acknowledge" if held else "take-over"
    claim = Claim(incident.id, person, role, purpose, secrets.token_urlsafe(12))
    token = sign(settings.secret_key, claim)
    return f"{settings.base_url}/incidents/{incident.ref}/{purpose}/{token}"
