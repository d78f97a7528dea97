"""Splitting a report out of the incident it joined: its own incident, classified afresh.

A Major Incident Manager splits any joined report (`split`, which follows classify); a reporter
splits their own (`not_this`: the email reply `NOT THIS`, Teams `not this INC-4`). Both
incidents' timelines say what happened and why, and the reporter is told by email.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from hub.app.errors import Conflict, NotFound
from hub.app.models import Incident
from hub.app.models import Report as ReportRow
from hub.core import lifecycle
from hub.core.classify import Report
from hub.incidents.mobilisation import settings_of
from hub.incidents.reports import create_incident
from hub.incidents.timeline import add_timeline
from hub.notifications import notices
from hub.notifications import notify as n
from hub.policy.model import Policy, person_name

TEMPLATE = "report-split"


def own_report(incident: Incident, reporter: str | None) -> ReportRow:
    """The reporter's latest report that joined the incident (not the one that opened it)."""
    joined = [r for r in incident.reports[1:] if reporter and r.reporter == reporter]
    if not joined:
        raise NotFound(f"{reporter} has no report joined to {incident.ref} to split out")
    return joined[-1]


def split_report(
    session: Session,
    policy: Policy,
    incident: Incident,
    report_id: int,
    reason: str,
    *,
    actor: str,
    now: datetime,
) -> Incident:
    """Move one joined report out of `incident` into a new incident of its own."""
    row = next((r for r in incident.reports if r.id == report_id), None)
    if row is None:
        raise NotFound(f"{incident.ref} has no report {report_id}")
    if row is incident.reports[0]:
        raise Conflict(
            f"{incident.ref} was opened from report {report_id}; re-classify or cancel it instead",
            code="first_report",
        )
    if not lifecycle.is_active(incident.state):
        raise Conflict(f"{incident.ref} is {incident.state}; reports are split from active ones")
    report = Report(title=row.title, text=row.text, source=row.source, reporter=row.reporter)
    new, _created = create_incident(
        session, policy, report, actor=actor, now=now, correlate=False, move_report=row
    )
    who = person_name(policy, actor)
    why = reason.strip() or "a different problem"
    reporter = person_name(policy, row.reporter)
    add_timeline(
        session,
        incident,
        "split",
        f"Report {row.id} by {reporter} ({row.title}) split out into {new.ref} by {who}: {why}",
        actor=actor,
        now=now,
        data={"report": row.id, "into": new.ref, "reason": why},
    )
    add_timeline(
        session,
        new,
        "split",
        f"Split out of {incident.ref} ({incident.title}) by {who}: {why}",
        actor=actor,
        now=now,
        data={"report": row.id, "from": incident.ref, "reason": why},
    )
    tell_reporter(session, policy, new, incident, row, why, now)
    return new


def tell_reporter(session, policy, new, old, row: ReportRow, why: str, now) -> None:
    """The reporter's notice: their report is now its own incident (email, once)."""
    person = policy.people.get(row.reporter or "")
    address = person.email if person else (row.reporter if "@" in (row.reporter or "") else None)
    if not address:
        return
    settings = settings_of(session)
    recipient = notices.Recipient(
        "email", address, person.key if person else None, person.name if person else None
    )
    ctx = notices.incident_context(new, policy, settings, now)
    ctx["split"] = {"from_id": old.ref, "from_title": old.title, "report": row.title, "why": why}
    n.notify(
        session,
        settings,
        policy,
        new,
        TEMPLATE,
        f"{TEMPLATE}:{row.id}:{new.ref}",
        [recipient],
        ctx,
        now,
    )
