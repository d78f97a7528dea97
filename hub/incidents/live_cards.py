"""One card per incident that stays current: the context of the live card, and its refresh.

The first card the bot posted about an incident in a conversation (the declaration, or a
page) is replaced in place whenever the incident changes: `act()` calls `refresh` after every
action that appended to the timeline, and each channel that keeps such messages
(`Channel.refresh`; Teams: updateActivity) writes one outbox row per message for that
change. Stakeholder updates still go out as messages of their own.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from hub.app.models import Incident, TimelineEntry
from hub.core import lifecycle, permissions
from hub.incidents.mobilisation import context, last_update, settings_of
from hub.notifications import notify
from hub.policy.model import Policy

TEMPLATE = "incident-card"


def stamp(session: Session, incident: Incident) -> int:
    """The incident's latest timeline entry id: what a change moves on."""
    session.flush()
    found = session.scalar(
        select(func.max(TimelineEntry.id)).where(TimelineEntry.incident_id == incident.id)
    )
    return int(found or 0)


def viewer(incident: Incident, person: str | None) -> dict | None:
    """What the card offers `person`: acknowledging a role they hold, or taking over the one
    the escalation paged them for; None when there is nothing for them to press."""
    if not person or not lifecycle.is_active(incident.state):
        return None
    for r in incident.roles:
        if r.active and r.person == person and r.acknowledged_at is None:
            return {
                "action": "acknowledge",
                "role": r.role,
                "role_label": permissions.role_label(r.role),
            }
    role = permissions.paged_role(incident, person)
    if role is None:
        return None
    return {"action": "take-over", "role": role, "role_label": permissions.role_label(role)}


def card_context(
    session: Session,
    policy: Policy,
    incident: Incident,
    person: str | None,
    now: datetime,
    notice: str | None = None,
) -> dict:
    """The live card's template context for the conversation of `person`."""
    return context(
        session,
        policy,
        incident,
        now,
        update=last_update(policy, incident),
        viewer=viewer(incident, person),
        notice=notice,
    )


def refresh(
    session: Session, policy: Policy, incident: Incident, change: int, now: datetime
) -> int:
    """Bring every live card of the incident up to date: one row per card for the change
    `change` (the `stamp` after it), none twice."""

    def context_for(person: str | None) -> dict:
        return card_context(session, policy, incident, person, now)

    rows = notify.refresh_live(
        session, settings_of(session), incident, TEMPLATE, context_for, f"{change}", now
    )
    return len(rows)
