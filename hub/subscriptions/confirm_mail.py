"""The confirm mail of an email subscription (double opt-in), written to the outbox.

Like the sign-in link (hub/web/links.py), the row holds a placeholder that the worker replaces
with the derived token when it sends the mail, so the outbox never holds a usable link.
"""

from __future__ import annotations

from datetime import datetime
from email.utils import make_msgid
from functools import lru_cache

import jinja2

from hub.app.context import queue_job
from hub.app.models import Notification
from hub.app.settings import Settings
from hub.app.templates import TEMPLATES
from hub.app.timefmt import local_full
from hub.channels.email.compose import AUTO_HEADERS, LOOP_HEADER, address_of
from hub.channels.email.ids import loop_token
from hub.policy.model import Policy

TEMPLATE = "subscribe-confirm"
TOKEN_PLACEHOLDER = "MIHUB-SUBSCRIBE-TOKEN"


@lru_cache(maxsize=1)
def _env() -> jinja2.Environment:
    """templates/web/mail/: HTML escaped, an unknown name an error."""
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES / "web" / "mail")),
        autoescape=jinja2.select_autoescape(enabled_extensions=("html",), default=False),
        undefined=jinja2.StrictUndefined,
    )


def confirm_payload(settings: Settings, address: str, what: str, url: str, expires: str) -> dict:
    """Subject, bodies and headers of the confirm mail (the shape the mail transports send)."""
    sender = settings.text("HUB_MAIL_FROM")
    domain = address_of(sender, "HUB_MAIL_FROM").rpartition("@")[2]
    values = {"what": what, "address": address, "url": url, "expires_local": expires}
    subject, text, html = (
        _env().get_template(f"{TEMPLATE}/{part}").render(values)
        for part in ("subject.txt", "body.txt", "body.html")
    )
    headers = {
        "Message-ID": make_msgid("subscribe", domain=domain),
        **AUTO_HEADERS,
        LOOP_HEADER: loop_token(settings.secret_key),
        "X-Mihub-Template": TEMPLATE,
    }
    return {
        "to": address,
        "from": sender,
        "subject": " ".join(subject.split()),
        "text": text,
        "html": html,
        "headers": headers,
    }


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
