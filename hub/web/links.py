"""One-time sign-in links: made for a person of the policy, mailed through the outbox, used once.

No password is ever stored. A link is a random token (only its hash is kept) that expires
after HUB_SIGNIN_LINK_LIFETIME and is spent by the first sign-in. Opening the link shows a
"Continue" button rather than signing in at once, so mail scanners that fetch links cannot
spend it. Asking for a link answers the same whether or not the address is known.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import func, select, update

from hub.app.context import queue_job
from hub.app.models import Notification, SignInLink
from hub.app.security import derived_token, hash_token, new_nonce
from hub.app.timefmt import local_hhmm
from hub.channels.email.compose import service_mail

log = logging.getLogger("hub.web")

TEMPLATE = "sign-in-link"
TOKEN_PLACEHOLDER = "MIHUB-SIGN-IN-TOKEN"
MAX_LINKS = 5  # per person within RATE_WINDOW; more requests are ignored
RATE_WINDOW = timedelta(minutes=15)


def find_person(policy, who: str):
    """The person named by key, email or UPN (case-insensitive), or None."""
    who = (who or "").strip()
    if who in policy.people:
        return policy.people[who]
    return policy.person_by_email(who) if "@" in who else None


def mail_payload(settings, policy, person, url: str, expires_at: datetime) -> dict:
    """The outbox payload of the sign-in mail (the same shape the mail transports send)."""
    values = {
        "name": person.name,
        "url": url,
        "expires_local": local_hhmm(expires_at, policy.timezone),
    }
    return service_mail(settings, TEMPLATE, values, person.email, "signin")


def request_link(hub, who: str, next_url: str, now: datetime) -> bool:
    """Mail a one-time link to the person `who` names; False (and a log line) when none is sent."""
    policy, settings = hub.policy, hub.settings
    person = find_person(policy, who)
    if person is None or not person.email:
        log.info("sign-in link refused: %r is not a person with an email in the policy", who[:80])
        return False
    lifetime = settings.duration("HUB_SIGNIN_LINK_LIFETIME")
    # The mail holds a placeholder; the worker puts the token in when it sends the mail, so
    # the outbox row never holds a usable link (hub/app/security.py: derived_token).
    nonce = new_nonce()
    token = derived_token(settings.secret_key, "sign-in", nonce)
    with hub.transaction() as db:
        recent = db.scalar(
            select(func.count(SignInLink.id)).where(
                SignInLink.person == person.key, SignInLink.created_at > now - RATE_WINDOW
            )
        )
        if recent >= MAX_LINKS:
            log.warning(
                "sign-in link for %s refused: %d links in %s", person.key, recent, RATE_WINDOW
            )
            return False
        link = SignInLink(
            token_hash=hash_token(token),
            person=person.key,
            next_url=next_url,
            created_at=now,
            expires_at=now + lifetime,
        )
        db.add(link)
        db.flush()
        url = f"{settings.base_url}/login/link/{TOKEN_PLACEHOLDER}"
        row = Notification(
            key=f"sign-in:{link.id}|{person.email.lower()}|email",
            channel="email",
            recipient=person.email,
            template=TEMPLATE,
            status="pending",
            attempts=0,
            payload={
                **mail_payload(settings, policy, person, url, link.expires_at),
                "fill": {TOKEN_PLACEHOLDER: {"purpose": "sign-in", "nonce": nonce}},
            },
            created_at=now,
            next_attempt_at=now,
        )
        db.add(row)
        db.flush()
        queue_job(db, "deliver", row.id)
    log.info("sign-in link mailed to %s", person.key)
    return True


def pending_link(hub, token: str, now: datetime) -> SignInLink | None:
    """The unused, unexpired link for a token (not spent by looking)."""
    with hub.db.session(write=False) as db:
        link = db.scalars(
            select(SignInLink).where(SignInLink.token_hash == hash_token(token))
        ).first()
    if link is None or link.used_at is not None or link.expires_at <= now:
        return None
    return link


def spend_link(hub, token: str, now: datetime) -> SignInLink | None:
    """Use the link: exactly one caller wins; None if it is unknown, used or expired."""
    with hub.transaction() as db:
        won = db.execute(
            update(SignInLink)
            .where(
                SignInLink.token_hash == hash_token(token),
                SignInLink.used_at.is_(None),
                SignInLink.expires_at > now,
            )
            .values(used_at=now)
        ).rowcount
        if won != 1:
            return None
        return db.scalars(
            select(SignInLink).where(SignInLink.token_hash == hash_token(token))
        ).first()
