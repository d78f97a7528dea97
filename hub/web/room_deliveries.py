"""The room's outgoing deliveries, bounded: the latest `SHOWN` rows as column tuples, and what is
counted of all of them (per event and status) counted in SQL, so that an incident with 10,000
stakeholder notifications reads a few hundred rows, never 10,000 ORM objects. Every recipient
is one click away on the deliveries page (hub.web.deliveries), a page at a time."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from hub.app.models import Notification
from hub.notifications.delivery_report import (
    count_rows,
    event_column,
    event_of,
    summary_rows,
)

SHOWN = 200  # the latest deliveries the room lists (the API's incident read shows as many)
WORST_FIRST = ("failed", "pending", "sending", "batched")


@dataclass
class EventCount:
    """One event's notifications, counted in SQL."""

    event: str
    template: str
    at: datetime  # the first of them written
    total: int = 0
    by_status: dict[str, int] = field(default_factory=dict)

    @property
    def worst(self) -> str:
        return next((s for s in WORST_FIRST if self.by_status.get(s)), "sent")

    @property
    def summary(self) -> str:
        ranked = sorted(self.by_status.items(), key=lambda kv: (-kv[1], kv[0]))
        return ", ".join(f"{count:,} {status}" for status, count in ranked)


@dataclass
class RoomDeliveries:
    """What the room shows of the outbox: the latest rows, the total, per-event counts."""

    latest: list  # column tuples (SUMMARY_COLUMNS), oldest first
    total: int
    events: list[EventCount]

    @property
    def bounded(self) -> bool:
        return self.total > len(self.latest)


def event_counts(session: Session, incident_id: int) -> list[EventCount]:
    """Per event (`event_of` of the key): its template, first row's time and counts by status."""
    event = event_column(session).label("event")
    rows = session.execute(
        select(
            event,
            func.min(Notification.template),
            Notification.status,
            func.count(Notification.id),
            func.min(Notification.created_at),
        )
        .where(Notification.incident_id == incident_id)
        .group_by(event, Notification.status)
    )
    out: dict[str, EventCount] = {}
    for key, template, status, count, at in rows:
        found = out.setdefault(key, EventCount(key, template, at))
        found.template = min(found.template, template)
        found.at = min(found.at, at)
        found.total += count
        found.by_status[status] = count
    return sorted(out.values(), key=lambda e: e.at)


def room_deliveries(session: Session, incident_id: int, shown: int = SHOWN) -> RoomDeliveries:
    """The latest `shown` rows, how many there are in all, and the per-event counts."""
    latest = summary_rows(session, incident_id, shown)
    total = len(latest) if len(latest) < shown else count_rows(session, incident_id)
    return RoomDeliveries(latest, total, event_counts(session, incident_id))


def children_of(deliveries: RoomDeliveries) -> dict[str, list]:
    """The shown rows by event, oldest first."""
    out: dict[str, list] = {}
    for row in deliveries.latest:
        out.setdefault(event_of(row.key), []).append(row)
    return out
