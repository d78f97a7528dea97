"""Seams where lifecycle events start the major-incident workflow (pages, updates, timers).

The incident operations call these inside the same transaction as the event, so whatever
they write (outbox rows, timers) commits or rolls back with it.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from hub.models import Incident, RoleAssignment, TimelineEntry
from hub.policy_model import Policy


def on_declared(session: Session, policy: Policy, incident: Incident, *, now: datetime) -> None:
    """A major incident was declared (roles are filled already)."""


def on_acknowledged(session: Session, policy: Policy, incident: Incident, roles: list[str], *,
                    actor: str, now: datetime) -> None:
    """Someone acknowledged the roles they hold."""


def on_update(session: Session, policy: Policy, incident: Incident, entry: TimelineEntry, *,
              now: datetime) -> None:
    """A progress update was posted."""


def on_role_assigned(session: Session, policy: Policy, incident: Incident,
                     assignment: RoleAssignment, *, now: datetime) -> None:
    """A role changed hands."""


def on_severity_changed(session: Session, policy: Policy, incident: Incident, old: str, *,
                        now: datetime) -> None:
    """A major incident's severity changed."""


def on_downgraded(session: Session, policy: Policy, incident: Incident, *, now: datetime) -> None:
    """A major incident is no longer major."""


def on_resolved(session: Session, policy: Policy, incident: Incident, *, now: datetime) -> None:
    """The incident was resolved."""
