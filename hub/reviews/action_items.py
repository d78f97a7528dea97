"""Action items: set from a review, tracked to done after publication, listed across reviews."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from hub.app import audit
from hub.app.context import queue_job
from hub.app.db import row_id
from hub.app.errors import Conflict, Forbidden, Invalid, NotFound
from hub.app.models import ActionItem, Incident, Review
from hub.core import permissions
from hub.incidents.timeline import add_timeline
from hub.policy.model import Policy
from hub.reviews import reminders
from hub.reviews.content import OPEN_ITEM, check_item
from hub.reviews.docs import item_doc


def replace_items(
    session: Session, policy: Policy, review: Review, items, *, now: datetime
) -> None:
    """Make the review's items the given list: new ones added, missing ones removed."""
    if not isinstance(items, list) or len(items) > 100:
        raise Invalid("action_items must be a list of at most 100 objects", code="wrong_type")
    clean = [check_item(raw, policy, f"action_items[{n}]") for n, raw in enumerate(items)]
    existing = {i.id: i for i in review.action_items}
    kept = set()
    for values in clean:
        ident = values.pop("id", None)
        if ident is not None and ident not in existing:
            raise Invalid(
                f"action item {ident} does not belong to this review", code="invalid_value"
            )
        item = existing.get(ident) if ident is not None else None
        if item is None:
            item = ActionItem(created_at=now)
            review.action_items.append(item)
        else:
            kept.add(ident)
        apply_item(item, values, now=now)
    for ident, item in existing.items():
        if ident not in kept:
            review.action_items.remove(item)
    session.flush()
    for item in review.action_items:
        reminders.schedule_item(session, policy, review, item, now=now)


def apply_item(item: ActionItem, values: dict, *, now: datetime) -> None:
    """Set an item's fields; `done_at` follows the status."""
    for field, value in values.items():
        setattr(item, field, value)
    if item.status == "done" and item.done_at is None:
        item.done_at = now
    elif item.status != "done":
        item.done_at = None
    item.updated_at = now


def list_items(
    session: Session,
    *,
    status: tuple[str, ...] = OPEN_ITEM,
    owner: str | None = None,
    overdue_on: date | None = None,
    limit: int = 500,
) -> list[ActionItem]:
    """Action items across reviews (open ones by default), earliest due first."""
    stmt = (
        select(ActionItem)
        .options(
            selectinload(ActionItem.review)
            .selectinload(Review.incident)
            .selectinload(Incident.roles)
        )
        .where(ActionItem.status.in_(status))
    )
    if owner:
        stmt = stmt.where(ActionItem.owner == owner)
    if overdue_on is not None:
        stmt = stmt.where(ActionItem.due < overdue_on)
    stmt = stmt.order_by(ActionItem.due.is_(None), ActionItem.due, ActionItem.id).limit(limit)
    return list(session.scalars(stmt))


def update_item(
    session: Session, policy: Policy, item: ActionItem, data: dict, *, actor: str, now: datetime
) -> ActionItem:
    """Track an item (status, owner, due, priority, ticket); its owner may update it too."""
    review: Review = item.review
    incident = review.incident
    if not permissions.changes_action_item(policy, incident, item.owner, actor):
        raise Forbidden(permissions.action_item_refusal(incident))
    if review.state == "approved":
        raise Conflict(
            f"the review of {incident.ref} is {review.state}; wait until it is published",
            code="illegal_transition",
        )
    current = {
        "title": item.title,
        "owner": item.owner,
        "due": item.due,
        "priority": item.priority,
        "status": item.status,
        "ticket": item.ticket,
    }
    values = check_item({**current, **data}, policy, f"action item {item.id}")
    changed = {
        k: (current[k], values[k]) for k in current if k in values and values[k] != current[k]
    }
    if changed:
        audit.record(
            session,
            "action-item-changed",
            f"action item {item.id} of {incident.ref}",
            actor=actor,
            now=now,
            before={k: _plain(old) for k, (old, _new) in changed.items()},
            after={k: _plain(new) for k, (_old, new) in changed.items()},
            incident_id=incident.id,
        )
    if "ticket" in changed and values["ticket"]:  # e.g. written back by the ticket system
        add_timeline(
            session,
            incident,
            "action-item-ticket",
            f"Action item {item.id} ({item.title}) has a ticket: {values['ticket']}",
            actor=actor,
            now=now,
            data={"action_item": item.id, "ticket": values["ticket"]},
            touch=False,
        )
    apply_item(item, values, now=now)
    reminders.schedule_item(session, policy, review, item, now=now)
    if review.state == "published":
        queue_job(session, "refresh_site", review.id)  # the backlog page shows it
    return item


def _plain(value):
    """A value as JSON can hold it (dates as text)."""
    return value.isoformat() if isinstance(value, date) else value


def get_item(session: Session, ident: str, *, lock: bool = False) -> ActionItem:
    """An action item by id, or NotFound."""
    number = row_id(ident)
    item = session.get(ActionItem, number, with_for_update=lock) if number is not None else None
    if item is None:
        raise NotFound(f"no action item {ident}")
    return item


def items_doc(items: list[ActionItem], policy: Policy, today: date) -> list[dict]:
    """Action items as JSON."""
    return [item_doc(i, policy, today) for i in items]
