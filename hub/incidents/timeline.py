"""The incident's timeline: one entry for each thing that happened to it."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from hub.app.models import Incident, TimelineEntry


def add_timeline(
    session: Session,
    incident: Incident,
    kind: str,
    text: str,
    *,
    now: datetime,
    actor: str | None = None,
    data: dict | None = None,
    touch: bool = True,
) -> TimelineEntry:
    """Append one entry to the incident's timeline.

    `actor`: the person, None for the hub. `touch`: the entry is a change to the incident
    (its `updated_at` moves); the workflow's own entries (pages, reminders, SLA marks) are not.
    """
    entry = TimelineEntry(
        incident=incident, at=now, kind=kind, actor=actor, text=text, data=data or {}
    )
    session.add(entry)
    if touch:
        incident.updated_at = now
    return entry
