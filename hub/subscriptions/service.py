"""Self-service subscriptions: anyone in the organisation follows a service or an incident.

By email from a web form (double opt-in: a pending row, then a signed confirm link mailed to
the address, which must be in the policy's allowed domains), or as a person of the policy in
the console (their policy address) or Teams (the bot's chat with them). Every stakeholder
notice of a major incident goes to the active subscribers of the incident and of its services,
each email with a one-click unsubscribe link (RFC 8058). Links are derived from the secret key
and the row's nonce (hub.app.security.derived_token): the database alone opens none of them.
"""

from __future__ import annotations

import hmac
import logging
import re
from dataclasses import replace
from datetime import datetime, timedelta

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from hub.app.errors import Invalid
from hub.app.models import Incident, Subscription
from hub.app.security import derived_token, new_nonce, subscription_token
from hub.app.settings import Settings
from hub.notifications.notices import Recipient, person_recipients
from hub.policy.model import Policy, channel_names
from hub.subscriptions.confirm_mail import queue_confirm_mail

log = logging.getLogger("hub.notifications.subscriptions")

CONFIRM, UNSUBSCRIBE = "subscribe-confirm", "unsubscribe"
MAX_PENDING = 3  # confirm mails per address and hour; more requests are ignored
PENDING_WINDOW = timedelta(hours=1)
_REF = re.compile(r"^(?:#|inc-?)?(\d{1,9})$", re.IGNORECASE)  # INC-42, inc42, #42, 42


def allowed_domains(policy: Policy) -> tuple[str, ...]:
    """Where subscribers' addresses may be: `subscriptions.allowed_domains`, else the
    `*@domain` patterns of intake.email.allowed_senders, else the people's domains."""
    if policy.subscription_domains:
        return policy.subscription_domains
    senders = [s[2:].lower() for s in policy.intake.allowed_senders if s.startswith("*@")]
    if senders:
        return tuple(dict.fromkeys(senders))
    people = [p.email.rpartition("@")[2].lower() for p in policy.people.values() if p.email]
    return tuple(dict.fromkeys(people))


def address_allowed(policy: Policy, address: str) -> bool:
    """A plain `name@domain` in one of the allowed domains (subdomains not included)."""
    local, at, domain = address.strip().rpartition("@")
    if not at or not local or any(c.isspace() or c in "<>,;\"'" for c in address.strip()):
        return False
    return domain.lower() in allowed_domains(policy)


def find_service(policy: Policy, name: str) -> str | None:
    """The catalogue key of a service named by key, alias or display name (any case)."""
    wanted = " ".join(name.lower().split())
    for key, service in policy.services.items():
        names = {key.lower(), service.name.lower(), *(a.lower() for a in service.aliases)}
        if wanted in names:
            return key
    return None


def parse_target(session: Session, policy: Policy, text: str) -> str:
    """`service:<key>` or `incident:<id>` for a service name or an incident id; Invalid if
    neither is known."""
    text = (text or "").strip()
    if text.startswith(("service:", "incident:")):
        kind, _, value = text.partition(":")
        text = value if kind == "service" else f"INC-{value}"
    ref = _REF.match(text)
    if ref is not None:
        number = int(ref.group(1))
        if session.get(Incident, number) is None:
            raise Invalid(f"there is no incident INC-{number}")
        return f"incident:{number}"
    key = find_service(policy, text)
    if key is None:
        raise Invalid(f"{text[:80]!r} is neither a service of the catalogue nor an incident id")
    return f"service:{key}"


def target_label(policy: Policy, target: str) -> str:
    """`Payroll` or `INC-42`, for people."""
    kind, _, value = target.partition(":")
    if kind == "incident":
        return f"INC-{value}"
    service = policy.services.get(value)
    return service.name if service else value


def token_for(settings: Settings, purpose: str, row: Subscription) -> str:
    """The confirm or unsubscribe token of a subscription."""
    return subscription_token(settings.secret_key, purpose, row.id, row.nonce)


def _by_token(session: Session, settings: Settings, purpose: str, token: str):
    ident, _, secret = (token or "").partition("-")
    if not ident.isdigit() or len(ident) > 12 or not secret:
        return None
    row = session.get(Subscription, int(ident))
    if row is None:
        return None
    expected = derived_token(settings.secret_key, purpose, row.nonce)
    return row if hmac.compare_digest(secret.encode(), expected.encode()) else None


def _active(session: Session, channel: str, address: str, target: str) -> Subscription | None:
    return session.scalars(
        select(Subscription).where(
            Subscription.channel == channel,
            func.lower(Subscription.address) == address.lower(),
            Subscription.target == target,
            Subscription.state == "active",
        )
    ).first()


def request_email(
    session: Session, settings: Settings, policy: Policy, address: str, target: str, now: datetime
) -> Subscription | None:
    """A pending subscription and its confirm mail (queued); None when nothing is mailed
    (already subscribed, or too many requests for the address). Invalid for an address
    outside the allowed domains."""
    address = address.strip()
    if len(address) > 320 or not address_allowed(policy, address):
        domains = ", ".join(allowed_domains(policy)) or "none configured"
        raise Invalid(f"only addresses of the organisation can subscribe ({domains})")
    if _active(session, "email", address, target) is not None:
        log.info("subscription request for %s: already active", target)
        return None
    recent = session.scalar(
        select(func.count(Subscription.id)).where(
            func.lower(Subscription.address) == address.lower(),
            Subscription.channel == "email",
            Subscription.created_at > now - PENDING_WINDOW,
        )
    )
    if recent >= MAX_PENDING:
        log.warning("subscription request refused: %d requests for one address in %s", recent,
                    PENDING_WINDOW)  # fmt: skip
        return None
    row = Subscription(
        target=target, channel="email", address=address, state="pending", nonce=new_nonce(),
        source="web", created_at=now,
    )  # fmt: skip
    session.add(row)
    session.flush()
    queue_confirm_mail(session, settings, policy, row, target_label(policy, target), now)
    return row


def pending_by_token(session: Session, settings: Settings, token: str, now: datetime):
    """The pending subscription a confirm token opens (None: unknown, expired or used)."""
    row = _by_token(session, settings, CONFIRM, token)
    lifetime = settings.duration("HUB_SUBSCRIBE_CONFIRM_LIFETIME")
    if row is None or row.state != "pending" or row.created_at + lifetime <= now:
        return None
    return row


def confirm(session: Session, settings: Settings, token: str, now: datetime):
    """Activate the pending subscription of a confirm token; None if the link is no good."""
    row = pending_by_token(session, settings, token, now)
    if row is None:
        return None
    same = _active(session, row.channel, row.address, row.target)
    if same is not None:  # two confirm links for one target: keep the first subscription
        row.state, row.removed_at = "removed", now
        return same
    row.state, row.confirmed_at = "active", now
    log.info("subscription %s to %s confirmed", row.id, row.target)
    return row


def by_unsubscribe_token(session: Session, settings: Settings, token: str):
    """The subscription (any state) an unsubscribe token names, or None."""
    return _by_token(session, settings, UNSUBSCRIBE, token)


def end(row: Subscription, now: datetime) -> bool:
    """Stop a subscription; False if it was not active."""
    if row.state == "removed":
        return False
    row.state, row.removed_at = "removed", now
    log.info("subscription %s to %s ended", row.id, row.target)
    return True


def subscribe_person(
    session: Session, policy: Policy, person: str, target: str, channel: str, source: str,
    now: datetime,
) -> tuple[Subscription, bool]:  # fmt: skip
    """A person of the policy follows `target` on `channel` (email: their policy address,
    teams: the bot's chat with them), active at once; (row, False) if it already was."""
    who = policy.people.get(person)
    if who is None:
        raise Invalid(f"{person!r} is not a person of the policy")
    address = who.email if channel == "email" else person
    if not address:
        raise Invalid(f"{who.name} has no email address in the policy")
    existing = _active(session, channel, address, target)
    if existing is not None:
        return existing, False
    row = Subscription(
        target=target, channel=channel, address=address, person=person, state="active",
        nonce=new_nonce(), source=source, created_at=now, confirmed_at=now,
    )  # fmt: skip
    session.add(row)
    session.flush()
    return row, True


def person_subscriptions(session: Session, policy: Policy, person: str) -> list[Subscription]:
    """The active subscriptions of a person (by key, or by their policy address)."""
    who = policy.people.get(person)
    address = (who.email or "").lower() if who else ""
    return list(
        session.scalars(
            select(Subscription)
            .where(
                Subscription.state == "active",
                or_(Subscription.person == person, func.lower(Subscription.address) == address),
            )
            .order_by(Subscription.id)
        )
    )


def incident_targets(incident: Incident) -> list[str]:
    """What subscribers of this incident follow: the incident and each of its services."""
    return [f"incident:{incident.id}", *(f"service:{s}" for s in incident.services or ())]


def subscription_recipients(
    session: Session, policy: Policy, incident: Incident
) -> list[Recipient]:
    """The active subscribers of the incident and of its services: email subscribers with
    their unsubscribe link; Teams subscribers by their own routes on every channel (the bot's
    chat with them, their email), as `subscribe INC-42` subscribers are."""
    rows = session.scalars(
        select(Subscription)
        .where(Subscription.target.in_(incident_targets(incident)), Subscription.state == "active")
        .order_by(Subscription.id)
    ).all()
    out: list[Recipient] = []
    for row in rows:
        if row.channel == "email":
            name = policy.people[row.person].name if row.person in policy.people else None
            out.append(
                Recipient(
                    "email",
                    row.address,
                    row.person,
                    name,
                    unsubscribe=(row.id, row.nonce),
                    audience="subscribers",
                )
            )
        elif row.channel == "teams" and row.person:
            out += [
                replace(
                    r, via_shared=False, audience="subscribers", subscription=(row.id, row.nonce)
                )
                for r in person_recipients(policy, [row.person], channel_names())
            ]
    return out
