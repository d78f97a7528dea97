"""The ticket system: action items exported as signed JSON to one webhook (HUB_TICKET_WEBHOOK_URL).

An export is one outbox row of kind `ticket` (written by hub/reviews/ticket_export.py), so it
is delivered, retried and shown like every other outgoing message. The transport POSTs the
row's document as compact JSON with `X-Mihub-Signature: sha256=<hex HMAC-SHA256 of the body
with HUB_TICKET_WEBHOOK_SECRET>` and `X-Mihub-Delivery: <the row's idempotency key>` (the
same on every retry, so the ticket system can drop a repeat). 2xx: sent; 408, 429 and 5xx:
retried (honouring Retry-After); any other answer fails the row with the reason. The channel
notifies nobody: it is not a policy's `via:`.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
from urllib.parse import urlsplit

import requests

from hub.app.redact import SHOWN_PATH, redact_url
from hub.app.settings import Settings
from hub.channels.base import (
    Channel,
    PermanentError,
    Sent,
    TransientError,
    parse_retry_after,
)
from hub.channels.registry import register

KIND = "ticket"
TIMEOUT = (5.0, 20.0)  # connect, read (seconds)


def sign(secret: str, body: bytes) -> str:
    """The `X-Mihub-Signature` value of a body: `sha256=<hex HMAC-SHA256>`."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def body_of(document: dict) -> bytes:
    """The exact bytes sent (and signed): compact JSON, keys sorted, UTF-8."""
    return json.dumps(document, separators=(",", ":"), sort_keys=True, ensure_ascii=False).encode()


def endpoint(url: str) -> str:
    """The URL if it may be posted to: https anywhere, plain http only to a loopback host."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.scheme == "https" and host:
        return url
    if parts.scheme == "http" and _loopback(host):
        return url
    raise PermanentError(
        f"refusing to post to {redact_url(url, SHOWN_PATH)}: the ticket system needs https"
    )


def _loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class TicketTransport:
    """POSTs one signed export; reads the URL and the secret at each send (never stored)."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.http = requests.Session()

    def send(self, message: dict) -> Sent:
        url, secret = (
            self.settings["HUB_TICKET_WEBHOOK_URL"],
            self.settings["HUB_TICKET_WEBHOOK_SECRET"],
        )
        if not url or not secret:
            raise PermanentError(
                "export to a ticket system is off: HUB_TICKET_WEBHOOK_URL and "
                "HUB_TICKET_WEBHOOK_SECRET must both be set"
            )
        body = body_of(message["document"])
        headers = {
            "Content-Type": "application/json",
            "X-Mihub-Signature": sign(secret, body),
            "X-Mihub-Delivery": message["delivery"],
            "User-Agent": "mihub-ticket-export",
        }
        try:
            answer = self.http.post(
                endpoint(url), data=body, headers=headers, timeout=TIMEOUT, allow_redirects=False
            )
        except requests.Timeout as exc:
            raise TransientError(f"ticket system: timed out ({type(exc).__name__})") from exc
        except requests.ConnectionError as exc:
            raise TransientError(f"ticket system: cannot connect ({type(exc).__name__})") from exc
        except requests.RequestException as exc:
            raise PermanentError(f"ticket system: {type(exc).__name__}") from exc
        return _outcome(answer)


def _outcome(answer: requests.Response) -> Sent:
    status = answer.status_code
    said = f"{status} {answer.reason or ''}".strip()
    if 200 <= status < 300:
        return Sent(_ticket_ref(answer) or said, said)
    text = " ".join((answer.text or "").split())[:200]
    reason = f"the ticket system answered {said}" + (f": {text}" if text else "")
    if status in (408, 429) or status >= 500:
        raise TransientError(reason, parse_retry_after(answer.headers.get("Retry-After")))
    raise PermanentError(reason)


def _ticket_ref(answer: requests.Response) -> str:
    """What the ticket system called the ticket (`Location`, or `url`/`id` in its JSON)."""
    if answer.headers.get("Location"):
        return answer.headers["Location"]
    try:
        found = answer.json()
    except ValueError:
        return ""
    if isinstance(found, dict):
        for name in ("url", "id", "key"):
            if isinstance(found.get(name), str | int) and not isinstance(found.get(name), bool):
                return str(found[name])
    return ""


@register
class TicketChannel(Channel):
    """Action items to a ticket system; rows are written by the export, never by a notice."""

    name = KIND
    kinds = (KIND,)
    notifies = False
    label = "Ticket system"

    def person_recipients(self, policy, key, person) -> list:
        return []

    def audience_recipients(self, policy, key, audience) -> list:
        return []

    def route(self, row, recipient, context, prepared, policy, settings) -> bool:
        return False

    def render(self, spec: dict, settings) -> dict:
        """The export as sent: its document and its delivery key."""
        return {"delivery": spec["delivery"], "document": spec["context"]}

    def make_transport(self, settings, kind: str) -> TicketTransport:
        return TicketTransport(settings)
