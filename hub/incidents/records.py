"""An incident's rows: look-up and lock, the timeline, state moves, role holders, names."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.app.db import row_id
from hub.app.errors import Conflict, NotFound
from hub.app.models import Incident, RoleAssignment
from hub.core import lifecycle
from hub.incidents.timeline import add_timeline


def parse_ref(ref: str) -> int:
    """`INC-42` (or `42`) to 42."""
    number = row_id(ref.strip().upper().removeprefix("INC-"))
    if number is None:
        raise NotFound(f"no incident {ref!r}; incident ids look like INC-42")
    return number


def locked_incident(session: Session, number: int) -> Incident | None:
    """The incident by id, its row locked for a change and as the database has it now.

    On SQLite a writing transaction holds the database's one write lock from its start, so an
    incident this session loaded already is current (no statement writes incidents around the
    session): it is taken as loaded, without a second SELECT."""
    if session.get_bind().dialect.name == "sqlite":
        with session.no_autoflush:  # by number: nothing pending need be written first
            return session.get(Incident, number)
    return session.get(Incident, number, with_for_update=True, populate_existing=True)


def get_incident(session: Session, ref: str | int, *, lock: bool = False) -> Incident:
    """The incident or NotFound (`lock`: its row locked for a change)."""
    number = ref if isinstance(ref, int) else parse_ref(ref)
    stmt = select(Incident).where(Incident.id == number)
    if lock:
        stmt = stmt.with_for_update()
    incident = session.scalars(stmt).first()
    if incident is None:
        raise NotFound(f"no incident INC-{number}")
    return incident


def transition(incident: Incident, event: str, why: str) -> tuple[str, dict]:
    """Move the incident's state; the timeline entry's text and data for it."""
    try:
        step = lifecycle.transition(incident.state, event, major=incident.major)
    except lifecycle.IllegalTransition as exc:
        raise Conflict(f"{incident.ref}: {exc}", code="illegal_transition") from exc
    incident.state = step.to_state
    return (
        f"{step.from_state} → {step.to_state}: {why}",
        {"event": event, "from": step.from_state, "to": step.to_state},
    )


def apply_event(
    session: Session, incident: Incident, event: str, *, actor: str | None, now: datetime, why: str
) -> None:
    """Move the incident's state, on the timeline."""
    text, data = transition(incident, event, why)
    add_timeline(session, incident, "state", text, actor=actor, now=now, data=data)


def active_roles(incident: Incident, person: str | None = None) -> list[RoleAssignment]:
    """Current role holders (optionally only those of one person)."""
    return [r for r in incident.roles if r.active and (person is None or r.person == person)]


def timeline_role(role: str) -> str:
    """`Tech lead`: a role as the timeline names it (from its key, not the labels)."""
    return role.replace("_", " ").capitalize()


def remaining(due: datetime, now: datetime) -> int:
    """Whole seconds until `due` (negative once passed)."""
    return int((due - now) // timedelta(seconds=1))
