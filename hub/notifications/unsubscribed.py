"""Queued notices whose subscriber left before they went out: not sent, marked `skipped`.

A subscriber's row is written while the subscription is active, and the unsubscribe (the
one-click link, the console, Teams `unsubscribe payroll` or `unsubscribe INC-42`) may come
while it waits (a throttled queue, a retry). Delivery checks the subscription again just
before sending, on every channel:

- a self-service email subscriber's row carries its subscription (id, nonce) for the
  unsubscribe link (hub.channels.email.channel);
- any other subscriber's row (a Teams subscription's bot message and mail) carries it as
  `payload["subscription"]`, and a person who follows an incident with Teams
  `subscribe INC-42` as `payload["follows"]` (incident id, person), written by `marked`.
"""

from __future__ import annotations

import logging

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from hub.app.models import Incident, Notification
from hub.app.subscription_models import Subscription
from hub.notifications.subscribers import subscribers

log = logging.getLogger(__name__)

REASON = "unsubscribed"

Mark = tuple[str, int, str]  # ("subscription", id, nonce) or ("follows", incident id, person)


def marked(payload: dict, recipient) -> dict:
    """The row's payload with what its recipient is reached through (if not already named)."""
    if recipient.subscription and recipient.subscription != recipient.unsubscribe:
        payload = {**payload, "subscription": list(recipient.subscription)}
    if recipient.follows:
        payload = {**payload, "follows": list(recipient.follows)}
    return payload


def subscription_of(payload: dict | None) -> Mark | None:
    """What a row's unrendered payload is sent through: ("subscription", id, nonce),
    ("follows", incident id, person), or None (not a subscriber's row)."""
    payload = payload or {}
    pair = payload.get("subscription")
    if not pair:
        spec = payload.get("render") or {}  # hub.channels.base.render_spec
        recipient = (spec.get("context") or {}).get("recipient") or {}
        pair = recipient.get("unsubscribe") if isinstance(recipient, dict) else None
    if pair and len(pair) == 2:
        return "subscription", int(pair[0]), str(pair[1])
    follows = payload.get("follows")
    if follows and len(follows) == 2:
        return "follows", int(follows[0]), str(follows[1])
    return None


def ended(session: Session, marks: dict[int, Mark]) -> list[int]:
    """The rows among `marks` (row id -> its `subscription_of`) whose subscription is no
    longer active, or whose person no longer follows the incident."""
    if not marks:
        return []
    wanted = {m[1] for m in marks.values() if m[0] == "subscription"}
    active = {
        ("subscription", sid, nonce)
        for sid, nonce in (
            session.execute(
                select(Subscription.id, Subscription.nonce).where(
                    Subscription.id.in_(wanted), Subscription.state == "active"
                )
            )
            if wanted
            else ()
        )
    }
    for incident_id in {m[1] for m in marks.values() if m[0] == "follows"}:
        incident = session.get(Incident, incident_id)
        for follower in subscribers(incident) if incident is not None else ():
            if follower["person"]:
                active.add(("follows", incident_id, follower["person"]))
    return sorted(i for i, mark in marks.items() if mark not in active)


def mark_skipped(session: Session, row_ids: list[int]) -> None:
    """Not sent, for good: `skipped`, reason "unsubscribed"."""
    session.execute(
        update(Notification)
        .where(Notification.id.in_(row_ids))
        .values(status="skipped", last_error=REASON, claimed_until=None, next_attempt_at=None)
    )
    log.info("%d queued notice(s) not sent: their subscriber unsubscribed", len(row_ids))
