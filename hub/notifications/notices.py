"""Who a notice goes to and what every template gets: recipients and the standard context."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from hub.app.db import children
from hub.app.models import Incident
from hub.app.settings import Settings
from hub.app.timefmt import local_full, local_hhmm
from hub.channels import registry
from hub.core.bridge import bridge_url
from hub.core.permissions import role_label
from hub.policy.model import Policy


@dataclass(frozen=True)
class Recipient:
    """Where one notification goes: `address` is an email, a webhook URL, or (Teams) a person."""

    channel: str  # a registered channel's name: email | teams | …
    address: str
    person: str | None = None
    name: str | None = None
    # A person with no direct route on a channel may be reached on its shared responders'
    # destination (Teams: an @mention on the pages webhook); not subscribers, whom that
    # destination tells anyway: they get Teams only in their chat with the bot.
    via_shared: bool = True
    # A self-service subscriber's (subscription id, nonce): their mail carries a one-click
    # unsubscribe link (hub.notifications.subscriptions).
    unsubscribe: tuple[int, str] | None = None
    # What the recipient is reached through, checked again just before sending (a subscriber
    # who left while the row waited gets nothing: hub.notifications.unsubscribed): a
    # self-service subscription (id, nonce) on any channel, or the incident a person follows
    # with Teams `subscribe INC-42` (incident id, person).
    subscription: tuple[int, str] | None = None
    follows: tuple[int, str] | None = None
    # The policy audience (or "responders", "subscribers") the recipient is reached for: the
    # delivery summary counts per audience, and an audience's email addresses may share one
    # message (hub/notifications/batches.py).
    audience: str | None = None


def may_reply(recipient: Recipient) -> bool:
    """Whether the mail should invite a reply: a person written to as themselves (a
    responder, the reporter), not a member of an audience (a policy audience, an Entra group)
    or a subscriber, whose reply posts no update (hub/intake/email/effect.py: only role
    holders' replies do)."""
    return recipient.audience in (None, "responders")


def person_recipients(policy: Policy, people, via) -> list[Recipient]:
    """Each person on each channel of `via` they can be reached on."""
    out = []
    for key in people:
        person = policy.people.get(key)
        if person is None:
            continue
        for name in via:
            out += registry.get(name).person_recipients(policy, key, person)
    return out


def own_copy_channels() -> tuple[str, ...]:
    """The channels on which each responder gets a copy of their own of a notice the responders'
    shared destination carries too (the channels not `responders_share_destination`)."""
    return tuple(c.name for c in registry.channels() if not c.responders_share_destination)


def audience_recipients(policy: Policy, audiences, *, responders: bool = True) -> list[Recipient]:
    """The audiences' addresses on every channel, plus the responders' destinations."""
    out = []
    for key in audiences:
        audience = policy.audiences.get(key)
        if audience is None:
            continue
        for channel in registry.channels():
            out += [
                replace(r, audience=key) for r in channel.audience_recipients(policy, key, audience)
            ]
    if responders:
        for channel in registry.channels():
            out += [replace(r, audience="responders") for r in channel.responder_recipients(policy)]
    return out


def incident_context(incident: Incident, policy: Policy, settings: Settings, now: datetime) -> dict:
    """What every template gets; callers add `update`, `sla`, `page`, `next_update_at_local`."""
    base = settings.base_url
    url = f"{base}/incidents/{incident.ref}"
    people = policy.people
    roles = [
        {
            "role": r.role,
            "role_label": role_label(r.role),
            "person": r.person,
            "person_name": people[r.person].name if r.person in people else r.person,
            "acknowledged": r.acknowledged_at is not None,
        }
        for r in children(incident, "roles")
        if r.active
    ]
    services = [
        policy.services[s].name if s in policy.services else s for s in incident.services or ()
    ]
    return {
        "incident": {
            "id": incident.ref,
            "title": incident.title,
            "severity": incident.severity,
            "state": incident.state,
            "major": incident.major,
            "services": services,
            "reasons": list(incident.reasons or ()),
            "summary": incident.summary,
            "url": url,
            "bridge_url": bridge_url(incident.plan, policy),
            "roles": roles,
            "created_at_local": local_full(incident.created_at, policy.timezone),
        },
        "recipient": None,
        "mention": None,
        "update": None,
        "next_update_at_local": None,
        "sla": None,
        "page": None,
        "policy_timezone": policy.timezone,
        "hub_url": base,
        "ack_url": f"{url}/acknowledge",
        "intake_address": policy.intake.email_address,
    }


def update_context(policy: Policy, text: str, author: str | None, at: datetime) -> dict:
    """The `update` part of a context."""
    person = policy.people.get(author or "")
    name = person.name if person else (author or "Major Incident Hub")
    return {"text": text, "author_name": name, "at_local": local_hhmm(at, policy.timezone)}
