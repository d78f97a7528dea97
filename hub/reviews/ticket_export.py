"""Exporting an action item to a ticket system: one outbox row, delivered by the worker.

`export_item` checks the feature is on (HUB_TICKET_WEBHOOK_URL) and that the person may change
the item, then writes, in the caller's transaction, one outbox row of kind `ticket` with the
idempotency key `export:<item id>:<n>` (n counts the item's exports from 1), an audit record
and a timeline entry; the wake-up for the worker follows the commit. No HTTP call is made
here: the `ticket` channel (hub/channels/ticket.py) posts the signed document, and the ticket
system writes the ticket's link back with `PATCH /api/v1/action-items/<id>` `{"ticket"}`.
"""

from __future__ import annotations

from datetime import datetime
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.app import audit
from hub.app.context import queue_job
from hub.app.errors import Conflict, Forbidden
from hub.app.models import ActionItem, Notification
from hub.app.settings import Settings
from hub.app.timefmt import iso
from hub.channels.base import render_spec
from hub.core import permissions
from hub.incidents.timeline import add_timeline
from hub.policy.model import Policy, person_name
from hub.reviews.problems import problems_of

EVENT = "action_item.export"
TEMPLATE = "action-item-export"
KIND = "ticket"  # the outbox kind of hub/channels/ticket.py


def enabled(settings: Settings) -> bool:
    """Whether exports are offered at all."""
    return bool(settings["HUB_TICKET_WEBHOOK_URL"])


def prefix(item_id: int) -> str:
    """The start of the idempotency keys of an item's exports."""
    return f"export:{item_id}:"


def document(session: Session, item: ActionItem, policy: Policy, base_url: str) -> dict:
    """What the ticket system receives: the item, where it came from, how to answer."""
    incident = item.review.incident
    return {
        "event": EVENT,
        "action_item": {
            "id": item.id,
            "title": item.title,
            "owner": item.owner,
            "owner_name": person_name(policy, item.owner, nobody=None),
            "due": item.due.isoformat() if item.due else None,
            "priority": item.priority,
            "status": item.status,
            "ticket": item.ticket,
            "incident": incident.ref,
            "incident_title": incident.title,
            "review_url": f"{base_url}/incidents/{incident.ref}/review",
            "problem": [
                {"id": p.ref, "title": p.title, "state": p.state}
                for p in problems_of(session, incident.id)
            ],
        },
        "callback": {
            "url": f"{base_url}/api/v1/action-items/{item.id}",
            "method": "PATCH",
            "field": "ticket",
        },
    }


def exports_of(session: Session, item_id: int) -> list[Notification]:
    """The item's export rows, oldest first."""
    return list(
        session.scalars(
            select(Notification)
            .where(Notification.key.startswith(prefix(item_id), autoescape=True))
            .order_by(Notification.id)
        )
    )


def export_item(
    session: Session,
    settings: Settings,
    policy: Policy,
    item: ActionItem,
    *,
    actor: str,
    now: datetime,
) -> Notification:
    """Queue the item's export (Conflict when the feature is off or one is on its way)."""
    incident = item.review.incident
    if not enabled(settings):
        raise Conflict(
            "export to a ticket system is off (HUB_TICKET_WEBHOOK_URL is not set)",
            code="not_configured",
        )
    if not permissions.changes_action_item(policy, incident, item.owner, actor):
        raise Forbidden(permissions.action_item_refusal(incident))
    earlier = exports_of(session, item.id)
    waiting = [r for r in earlier if r.status in ("pending", "sending")]
    if waiting:
        raise Conflict(
            f"action item {item.id} is already on its way to the ticket system "
            f"({waiting[0].key}, {waiting[0].status})",
            code="illegal_transition",
        )
    number = 1 + max((int(r.key.rsplit(":", 1)[1]) for r in earlier), default=0)
    key = f"{prefix(item.id)}{number}"
    host = urlsplit(settings["HUB_TICKET_WEBHOOK_URL"]).hostname or "?"
    doc = document(session, item, policy, settings.base_url)
    row = Notification(
        key=key,
        incident_id=incident.id,
        channel=KIND,
        recipient=f"ticket system ({host})",
        template=TEMPLATE,
        payload=render_spec(KIND, TEMPLATE, doc, delivery=key),
        status="pending",
        attempts=0,
        next_attempt_at=now,
        created_at=now,
    )
    session.add(row)
    session.flush()
    audit.record(
        session,
        "action-item-exported",
        f"action item {item.id} of {incident.ref}",
        actor=actor,
        now=now,
        after={"delivery": key, "ticket_system": host, "at": iso(now)},
        incident_id=incident.id,
    )
    who = person_name(policy, actor, nobody=None) or actor
    add_timeline(
        session,
        incident,
        "action-item-export",
        f"Action item {item.id} ({item.title}) sent to the ticket system by {who}",
        actor=actor,
        now=now,
        data={"action_item": item.id, "delivery": key},
        touch=False,
    )
    queue_job(session, "deliver", row.id)
    return row


def export_state(session: Session, items: list[ActionItem]) -> dict[int, Notification]:
    """Each item's latest export row (for the console)."""
    if not items:
        return {}
    rows = session.scalars(
        select(Notification)
        .where(
            Notification.incident_id.in_({i.review.incident_id for i in items}),
            Notification.channel == KIND,
            Notification.key.startswith("export:"),
        )
        .order_by(Notification.id)
    )
    wanted, latest = {i.id for i in items}, {}
    for row in rows:
        ident = int(row.key.split(":")[1])
        if ident in wanted:
            latest[ident] = row
    return latest
