"""A page that reached its person by no channel: the Major Incident Manager is told.

A page (or escalation) is written as one outbox row per channel for its person. When every
one of them failed or was suppressed (a bounced address and a Teams post that failed for
good), the person was not paged at all: the MIM (the incident's, else the policy's roster
without that person) gets the `page-undeliverable` notice by email and Teams, and the timeline
says so. The delivery engine asks for the check when a page row fails (task `page_failed`);
the minute tick sweeps the day's failed pages too, as Huey may lose that wake-up. The notice's
key (`undeliverable:<page event>:<person>`) makes it once per page and person.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.app.context import Hub
from hub.app.models import Incident, Notification
from hub.channels.base import shown_recipient
from hub.core.permissions import role_label
from hub.incidents import mobilisation
from hub.incidents.timeline import add_timeline
from hub.notifications import notices
from hub.notifications import notify as n
from hub.notifications.delivery_report import event_of, short_reason
from hub.policy.model import Policy

PAGES = ("page", "escalation")
FAILED = ("failed", "suppressed")
MIM = "major_incident_manager"
SWEEP = timedelta(days=1)
TEMPLATE = "page-undeliverable"


def _notice_key(event: str, person: str) -> str:
    return f"undeliverable:{event}:{person}"


def check_row(hub: Hub, row_id: int, now: datetime) -> bool:
    """After a page row failed: tell the MIM if its person was reached by no channel."""
    with hub.transaction() as session:
        row = session.get(Notification, row_id)
        if row is None or row.template not in PAGES or not row.person or not row.incident_id:
            return False
        return _check(session, hub.policy, row.incident_id, event_of(row.key), row.person, now)


def sweep(hub: Hub, now: datetime) -> int:
    """The day's failed pages whose check may have been lost; how many MIMs were told."""
    with hub.transaction() as session:
        found = session.execute(
            select(Notification.incident_id, Notification.key, Notification.person).where(
                Notification.status.in_(FAILED),
                Notification.template.in_(PAGES),
                Notification.person.is_not(None),
                Notification.created_at >= now - SWEEP,
            )
        ).all()
        seen, told = set(), 0
        for incident_id, key, person in found:
            marker = (incident_id, event_of(key), person)
            if incident_id and marker not in seen:
                seen.add(marker)
                told += _check(session, hub.policy, incident_id, marker[1], person, now)
        return told


def _check(
    session: Session, policy: Policy, incident_id: int, event: str, person: str, now: datetime
) -> bool:
    told = session.scalar(
        select(Notification.id)
        .where(Notification.key.startswith(_notice_key(event, person) + "|", autoescape=True))
        .limit(1)
    )
    if told is not None:
        return False
    rows = list(
        session.scalars(
            select(Notification).where(
                Notification.incident_id == incident_id,
                Notification.person == person,
                Notification.template.in_(PAGES),
                Notification.key.startswith(event + "|", autoescape=True),
            )
        )
    )
    if not rows or any(r.status not in FAILED for r in rows):
        return False
    incident = session.get(Incident, incident_id)
    tell_mim(session, policy, incident, event, person, rows, now)
    return True


def mim_recipients(policy: Policy, incident: Incident, unreached: str) -> list:
    """The MIM on email and Teams: the incident's, else the policy's roster (not `unreached`)."""
    holders = [r.person for r in incident.roles if r.active and r.role == MIM and r.person]
    people = [p for p in holders if p != unreached] or [
        p for p in policy.roles.get(MIM, ()) if p != unreached
    ]
    return notices.person_recipients(policy, people, ("email", "teams"))


def tell_mim(
    session: Session,
    policy: Policy,
    incident: Incident,
    event: str,
    person: str,
    rows: list[Notification],
    now: datetime,
) -> None:
    """The `page-undeliverable` notice to the MIM, and a timeline entry."""
    who = policy.people.get(person)
    name = who.name if who else person
    role = next((r.role for r in incident.roles if r.active and r.person == person), None)
    tried = []
    for row in rows:
        to = shown_recipient(row.recipient)
        reason = short_reason(row.last_error, row.status)
        tried.append(
            {"channel": row.channel, "to": to, "reason": reason, "line": f"{row.channel}: {reason}"}
        )
    unreachable = {
        "person_name": name,
        "role_label": role_label(role) if role else None,
        "tried": tried,
    }
    ctx = mobilisation.context(session, policy, incident, now, unreachable=unreachable)
    n.notify(
        session,
        mobilisation.settings_of(session),
        policy,
        incident,
        TEMPLATE,
        _notice_key(event, person),
        mim_recipients(policy, incident, person),
        ctx,
        now,
    )
    add_timeline(
        session,
        incident,
        "page-undeliverable",
        f"Page to {name} could not be delivered by any channel; the Major Incident Manager "
        "was told",
        now=now,
        touch=False,
    )
