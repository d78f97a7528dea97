"""Queued notices whose subscriber left before they went out: not sent, marked `skipped`.

A self-service subscriber's row carries its subscription (id, nonce) for the unsubscribe link
(hub.channels.email.channel); the row was written while the subscription was active, and the
one-click unsubscribe may come while it waits (a throttled queue, a retry). Delivery checks
the subscription again just before sending.
"""

from __future__ import annotations

import logging

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from hub.app.models import Notification
from hub.app.subscription_models import Subscription

log = logging.getLogger(__name__)

REASON = "unsubscribed"


def subscription_of(payload: dict | None) -> tuple[int, str] | None:
    """The (subscription id, nonce) a row's unrendered payload is addressed through, or None."""
    spec = (payload or {}).get("render") or {}  # hub.channels.base.render_spec
    recipient = (spec.get("context") or {}).get("recipient") or {}
    pair = recipient.get("unsubscribe") if isinstance(recipient, dict) else None
    if not pair or len(pair) != 2:
        return None
    return int(pair[0]), str(pair[1])


def ended(session: Session, pairs: dict[int, tuple[int, str]]) -> list[int]:
    """The rows among `pairs` (row id -> its `subscription_of`) whose subscription is no
    longer active."""
    if not pairs:
        return []
    active = {
        (sid, nonce)
        for sid, nonce in session.execute(
            select(Subscription.id, Subscription.nonce).where(
                Subscription.id.in_({sid for sid, _ in pairs.values()}),
                Subscription.state == "active",
            )
        )
    }
    return sorted(i for i, pair in pairs.items() if pair not in active)


def mark_skipped(session: Session, row_ids: list[int]) -> None:
    """Not sent, for good: `skipped`, reason "unsubscribed"."""
    session.execute(
        update(Notification)
        .where(Notification.id.in_(row_ids))
        .values(status="skipped", last_error=REASON, claimed_until=None, next_attempt_at=None)
    )
    log.info("%d queued notice(s) not sent: their subscriber unsubscribed", len(row_ids))
