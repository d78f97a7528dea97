"""The major-incident workflow: what each lifecycle event writes (pages, notices, timers).

The incident operations call the `on_*` seams inside the same transaction as the event, so
whatever they write (outbox rows, timers, timeline) commits or rolls back with it. The
building blocks are in hub/incidents/mobilisation.py; timer actions live in
hub/incidents/timer_actions.py.

Acknowledgement: escalation is per role. A later step's `role:R#N` target is dropped once
role R is acknowledged; its `person:`/`audience:` targets once the Major Incident Manager
acknowledged. A step with nothing left is cancelled at once. The acknowledge SLA stops when
the Major Incident Manager acknowledges.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from hub.app.models import Incident, RoleAssignment, TimelineEntry
from hub.app.timefmt import local_hhmm
from hub.core import cadence, sla
from hub.core.bridge import bridge_url
from hub.core.escalation import PlannedStep, plan_escalation, steps_ahead, still_needed
from hub.core.permissions import MIM, role_label
from hub.incidents import meetings, timers
from hub.incidents.mobilisation import (
    CYCLE_KINDS,
    acked_roles,
    context,
    current_cycle,
    freeze_terms,
    last_cycle_number,
    page_context,
    page_step,
    planned_severity,
    revision,
    running,
    schedule_cycle,
    schedule_marks,
    schedule_steps,
    send_to_stakeholders,
    settings_of,
)
from hub.incidents.tasks import create_tasks
from hub.incidents.timeline import add_timeline
from hub.notifications import notices
from hub.notifications import notify as n
from hub.policy.model import Policy, channel_names
from hub.schedules.overrides import active_overrides


def on_declared(
    session: Session,
    policy: Policy,
    incident: Incident,
    *,
    now: datetime,
    started: datetime | None = None,
) -> None:
    """A major incident was declared (roles are filled already): page, notify, set timers.

    `started`: the declaration, when the worker gets to it later (`now`); the escalation
    steps, the update cadence and the SLAs count from it, the records say when they happened.
    """
    start = started or now
    rev = revision(incident) + 1 if (incident.plan or {}).get("escalation") is not None else 0
    severity = policy.severity(incident.severity)
    mine = active_overrides(session, start) if policy.schedules else []
    steps = plan_escalation(policy, incident.severity, incident.services, start, mine)
    declared = timers.timer_key("declared", incident, revision=rev)
    incident.plan = {
        "revision": rev,
        "severity": incident.severity,
        "started_at": start.isoformat(),
        "declared_event": declared,
        "escalation": [s.to_json() for s in steps],
        "communication": {"audiences": list(severity.notify)},
        "terms": freeze_terms(severity),
        **(
            {"bridge_url": incident.plan["bridge_url"]}
            if (incident.plan or {}).get("bridge_url")
            else {}
        ),
    }
    create_tasks(session, policy, incident, start, now)  # before the pages, which list them
    for step in steps:
        if step.due_at <= now:
            key = timers.timer_key("escalate", incident, step.index, revision=rev)
            page_step(session, policy, incident, step, step.targets, key, now)
    schedule_steps(session, incident, steps_ahead(steps, now), rev, now)
    cycle = cadence.plan_cycle(severity, last_cycle_number(incident) + 1, start)
    next_local = local_hhmm(cycle.due_at, policy.timezone) if cycle else None
    sent = send_to_stakeholders(
        session,
        policy,
        incident,
        "incident-declared",
        declared,
        now,
        next_update_at_local=next_local,
    )
    add_timeline(
        session,
        incident,
        "notified",
        f"Stakeholders notified ({sent} messages)"
        + (f"; bridge: {url}" if (url := bridge_url(incident.plan, policy)) else ""),
        now=now,
        touch=False,
    )
    schedule_cycle(session, incident, cycle, now)
    schedule_marks(session, incident, sla.plan_slas(severity, start, policy.sla_warn_at), rev, now)


def on_acknowledged(
    session: Session,
    policy: Policy,
    incident: Incident,
    roles: list[str],
    *,
    actor: str,
    now: datetime,
) -> None:
    """Someone acknowledged the roles they hold: stop what no longer needs to go out."""
    acked = acked_roles(incident)
    done = [
        t
        for t in timers.pending(incident, "escalate")
        if not still_needed(PlannedStep.from_json(t.data["step"]), acked)
    ]
    timers.cancel(done, f"acknowledged by {actor}", now)
    if MIM in roles:
        timers.cancel(timers.pending(incident, "sla-ack"), f"acknowledged by {actor}", now)


def on_update(
    session: Session, policy: Policy, incident: Incident, entry: TimelineEntry, *, now: datetime
) -> None:
    """A progress update was posted: send it to the stakeholders and restart the cadence."""
    if not running(incident):
        return
    severity = planned_severity(policy, incident)
    current = timers.pending(incident, where=lambda t: t.kind in CYCLE_KINDS)
    number = max((int(t.data["cycle"]) for t in current), default=last_cycle_number(incident))
    timers.cancel(current, "update posted", now)
    nxt = cadence.after_update(severity, number, now)
    schedule_cycle(session, incident, nxt, now)
    send_to_stakeholders(
        session,
        policy,
        incident,
        "stakeholder-update",
        f"update:{incident.ref}:{entry.id}",
        now,
        update=notices.update_context(policy, entry.text, entry.actor, entry.at),
        next_update_at_local=local_hhmm(nxt.due_at, policy.timezone) if nxt else None,
    )


def on_role_assigned(
    session: Session,
    policy: Policy,
    incident: Incident,
    assignment: RoleAssignment,
    *,
    now: datetime,
) -> None:
    """A role changed hands: page the new holder, invite them to the bridge."""
    if not running(incident):
        return
    meetings.schedule_attendee_update(session, incident, assignment.id, now)
    label = role_label(assignment.role)
    settings = settings_of(session)
    ctx = context(
        session,
        policy,
        incident,
        now,
        **page_context(settings, incident, assignment.person, assignment.role, label, None),
    )
    n.notify(
        session,
        settings,
        policy,
        incident,
        "page",
        f"assign:{incident.ref}:{assignment.id}",
        notices.person_recipients(policy, [assignment.person], channel_names()),
        ctx,
        now,
    )
    person = policy.people.get(assignment.person)
    add_timeline(
        session,
        incident,
        "paged",
        f"Paged {person.name if person else assignment.person} ({label})",
        now=now,
        touch=False,
    )


def on_severity_changed(
    session: Session, policy: Policy, incident: Incident, old: str, *, now: datetime
) -> None:
    """A major incident's severity changed: re-plan what is still ahead."""
    if not running(incident) or not incident.plan:
        return
    rev = revision(incident) + 1
    severity = policy.severity(incident.severity)
    started = datetime.fromisoformat(incident.plan["started_at"])
    mine = active_overrides(session, started) if policy.schedules else []
    steps = plan_escalation(policy, incident.severity, incident.services, started, mine)
    why = f"re-planned: {old} → {incident.severity}"
    timers.cancel(timers.pending(incident, "escalate"), why, now)
    schedule_steps(session, incident, steps_ahead(steps, now), rev, now)
    reached = {
        (t.data["sla"], int(t.data["percent"]))
        for t in incident.timers
        if t.kind.startswith("sla-") and t.state == "fired"
    }
    marks = [
        m
        for m in sla.plan_slas(severity, started, policy.sla_warn_at)
        if not (m.kind == "ack" and MIM in acked_roles(incident))
    ]
    timers.cancel(
        timers.pending(incident, where=lambda t: t.kind in ("sla-ack", "sla-resolve")), why, now
    )
    schedule_marks(session, incident, sla.replan(marks, reached, now), rev, now)
    cycle = current_cycle(incident, severity)
    if cycle is not None:
        schedule_cycle(session, incident, cycle, now)
    incident.plan = {
        **incident.plan,
        "revision": rev,
        "severity": incident.severity,
        "escalation": [s.to_json() for s in steps],
        "communication": {"audiences": list(severity.notify)},
        "terms": freeze_terms(severity),
    }
    # Audiences the new severity adds get the declaration; the others have it (same key).
    send_to_stakeholders(
        session,
        policy,
        incident,
        "incident-declared",
        incident.plan["declared_event"],
        now,
        next_update_at_local=(local_hhmm(cycle.due_at, policy.timezone) if cycle else None),
    )
    add_timeline(
        session,
        incident,
        "replanned",
        f"Escalation, SLA and update timers {why}",
        now=now,
        touch=False,
    )


def on_downgraded(session: Session, policy: Policy, incident: Incident, *, now: datetime) -> None:
    """A major incident is no longer major: stop its timers and tell the stakeholders."""
    timers.cancel(timers.pending(incident), "no longer a major incident", now)
    if incident.plan:
        send_to_stakeholders(
            session,
            policy,
            incident,
            "stakeholder-update",
            timers.timer_key("downgraded", incident, revision=revision(incident)),
            now,
            update=notices.update_context(
                policy,
                f"{incident.ref} is no longer handled as a major "
                f"incident (now {incident.severity}); no further "
                "scheduled updates.",
                None,
                now,
            ),
        )


def on_stopped(
    session: Session,
    policy: Policy | None,
    incident: Incident,
    event: str,
    why: str,
    *,
    running: bool,
    now: datetime,
) -> None:
    """Cancelled (a false alarm) or merged into another incident: stop every timer, and tell
    the stakeholders of a running major incident that no further updates come for it."""
    stopped = timers.cancel(timers.pending(incident), f"{event}: {why}", now)
    if stopped:
        add_timeline(
            session, incident, "timers", f"Stopped {stopped} timer(s): {why}", now=now, touch=False
        )
    if policy is None or not running or not incident.plan:
        return
    text = (
        f"{incident.ref} was cancelled: {why}. No further updates will follow."
        if event == "cancel"
        else f"{incident.ref} is now handled as part of another incident ({why}); "
        "updates continue there."
    )
    send_to_stakeholders(
        session,
        policy,
        incident,
        "stakeholder-update",
        timers.timer_key(event, incident, revision=revision(incident)),
        now,
        update=notices.update_context(policy, text, None, now),
    )


def on_resolved(session: Session, policy: Policy, incident: Incident, *, now: datetime) -> None:
    """The incident was resolved: stop every timer, send the final notice, start the review clock."""
    timers.cancel(timers.pending(incident), "resolved", now)
    if not incident.major or not incident.plan:
        return
    meetings.schedule_review_meeting(session, incident, now)
    rev = revision(incident)
    send_to_stakeholders(
        session,
        policy,
        incident,
        "resolved",
        timers.timer_key("resolved", incident, revision=rev),
        now,
    )
    # The role holders read the resolved notice on the responders' shared destination (the
    # Teams pages webhook, among the stakeholders above); the other channels give each a copy.
    people = {r.person for r in incident.roles if r.active}
    n.notify(
        session,
        settings_of(session),
        policy,
        incident,
        "resolved",
        timers.timer_key("resolved", incident, revision=rev),
        notices.person_recipients(policy, sorted(people), notices.own_copy_channels()),
        context(session, policy, incident, now),
        now,
    )
    severity = planned_severity(policy, incident)
    schedule_marks(session, incident, sla.review_marks(severity, now, policy.sla_warn_at), rev, now)
