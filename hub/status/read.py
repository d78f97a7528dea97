"""The status page's rows and change counter, read from the database."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func, or_, select

from hub.app.models import Incident, Maintenance, TimelineEntry, Timer
from hub.status.board import (
    GONE_STATES,
    HISTORY_DAYS,
    OPEN_STATES,
    IncidentRow,
    MaintenanceRow,
    UpdateRow,
)

UPDATE_KINDS = ("update", "update-auto")


def change_counter(connection) -> tuple:
    """What the page depends on, in one cheap statement: the newest timeline entry (every
    change to an incident appends one) and the maintenance table's newest edit and size."""
    row = connection.execute(
        select(
            select(func.max(TimelineEntry.id)).scalar_subquery(),
            select(func.max(Maintenance.updated_at)).scalar_subquery(),
            select(func.count(Maintenance.id)).scalar_subquery(),
        )
    ).one()
    return tuple(row)


def load_rows(connection, now: datetime) -> tuple[list[IncidentRow], list[MaintenanceRow]]:
    """Open major incidents, those resolved in the last 30 days, and maintenance windows
    not over more than 30 days ago, with their updates."""
    since = now - timedelta(days=HISTORY_DAYS)
    incidents = connection.execute(
        select(
            Incident.id,
            Incident.title,
            Incident.severity,
            Incident.state,
            Incident.services,
            Incident.impact,
            Incident.declared_at,
            Incident.created_at,
            Incident.resolved_at,
        ).where(
            Incident.major.is_(True),
            Incident.state.not_in(GONE_STATES),
            or_(Incident.state.in_(OPEN_STATES), Incident.resolved_at >= since),
        )
    ).all()
    ids = [i.id for i in incidents]
    updates: dict[int, list[UpdateRow]] = {}
    next_due: dict[int, datetime] = {}
    if ids:
        for e in connection.execute(
            select(
                TimelineEntry.id,
                TimelineEntry.incident_id,
                TimelineEntry.at,
                TimelineEntry.kind,
                TimelineEntry.text,
                TimelineEntry.data,
            ).where(TimelineEntry.incident_id.in_(ids), TimelineEntry.kind.in_(UPDATE_KINDS))
        ):
            public = (e.data or {}).get("public_text") if e.kind == "update" else None
            updates.setdefault(e.incident_id, []).append(
                UpdateRow(e.id, e.at, e.kind, e.text, public or None)
            )
        next_due = dict(
            connection.execute(
                select(Timer.incident_id, func.min(Timer.due_at))
                .where(
                    Timer.incident_id.in_(ids),
                    Timer.state == "pending",
                    Timer.kind == "update-due",
                )
                .group_by(Timer.incident_id)
            ).all()
        )
    rows = [
        IncidentRow(
            id=i.id,
            title=i.title,
            severity=i.severity,
            state=i.state,
            services=tuple(i.services or ()),
            impact=i.impact,
            started_at=i.declared_at or i.created_at,
            resolved_at=i.resolved_at,
            next_update_at=next_due.get(i.id),
            updates=tuple(updates.get(i.id, ())),
        )
        for i in incidents
    ]
    windows = [
        MaintenanceRow(
            id=w.id,
            services=tuple(w.services or ()),
            start_at=w.start_at,
            end_at=w.end_at,
            text=w.text,
            public_text=w.public_text,
        )
        for w in connection.execute(
            select(Maintenance).where(Maintenance.state == "scheduled", Maintenance.end_at >= since)
        ).all()
    ]
    return rows, windows
