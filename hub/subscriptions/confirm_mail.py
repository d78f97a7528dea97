"""The confirm mail of an email subscription (double opt-in), written to the outbox.

Like the sign-in link (hub/web/links.py), the row holds a placeholder that the worker replaces
with the derived token when it sends the mail, so the outbox never holds a usable link.
"""

from __future__ import annotations

from datetime import datetime

from hub.app.context import queue_job
from hub.app.models import Notification
from hub.app.settings import Settings
from hub.app.timefmt import local_full
from hub.channels.email.compose import service_mail
from hub.policy.model import Policy

TEMPLATE = "subscribe-confirm"
TOKEN_PLACEHOLDER = "MIHUB-SUBSCRIBE-TOKEN"


def confirm_payload(settings: Settings, address: str, what: str, url: str, expires: str) -> dict:
    """Subject, bodies and headers of the confirm mail (the shape the mail transports send)."""
    values = {"what": what, "address": address, "url": url, "expires_local": expires}
    return service_mail(settings, TEMPLATE, values, address, "subscribe")


def queue_confirm_mail(
    session, settings: Settings, policy: Policy, row, what: str, now: datetime
) -> Notification:
    """The confirm mail of pending subscription `row`, delivered by the worker."""
    expires = row.created_at + settings.duration("HUB_SUBSCRIBE_CONFIRM_LIFETIME")
    url = f"{settings.base_url}/subscribe/confirm/{row.id}-{TOKEN_PLACEHOLDER}"
    mail = Notification(
        key=f"subscribe:{row.id}|{row.address.lower()[:200]}|email",
        channel="email",
        recipient=row.address,
        template=TEMPLATE,
        status="pending",
        attempts=0,
        payload={
            **confirm_payload(
                settings, row.address, what, url, local_full(expires, policy.timezone)
            ),
            "fill": {TOKEN_PLACEHOLDER: {"purpose": "subscribe-confirm", "nonce": row.nonce}},
        },
        created_at=now,
        next_attempt_at=now,
    )
    session.add(mail)
    session.flush()
    queue_job(session, "deliver", mail.id)
    return mail
