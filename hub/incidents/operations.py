"""The actions people take on an incident: acknowledge, update, assign, resolve, cancel, merge."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from hub.app import audit
from hub.app.errors import Conflict, Forbidden, Invalid
from hub.app.models import Incident, RoleAssignment, TimelineEntry
from hub.core import lifecycle
from hub.core.permissions import acknowledge_refusal, may_acknowledge, paged_role
from hub.incidents import workflow
from hub.incidents.records import active_roles, apply_event, timeline_role
from hub.incidents.timeline import add_timeline
from hub.policy.model import ROLE_NAMES, Policy, person_name


def acknowledge(
    session: Session, policy: Policy, incident: Incident, *, actor: str, now: datetime
) -> list[str]:
    """Acknowledge every role the actor holds; the MIM's acknowledgement mobilises."""
    if not lifecycle.is_active(incident.state):
        raise Conflict(
            f"{incident.ref} is {incident.state}; there is nothing to acknowledge",
            code="illegal_transition",
        )
    if not may_acknowledge(incident, actor):
        raise Forbidden(acknowledge_refusal(incident, actor))
    mine = active_roles(incident, actor) or _take_paged_role(session, policy, incident, actor, now)
    acked = []
    for assignment in mine:
        if assignment.acknowledged_at is None:
            assignment.acknowledged_at = now
            acked.append(assignment.role)
    if not acked:
        return []
    add_timeline(
        session,
        incident,
        "acknowledged",
        f"{person_name(policy, actor)} acknowledged as "
        + ", ".join(timeline_role(r) for r in acked),
        actor=actor,
        now=now,
        data={"roles": acked},
    )
    if "major_incident_manager" in acked and incident.state == "declared":
        apply_event(
            session,
            incident,
            "mobilise",
            actor=actor,
            now=now,
            why="the Major Incident Manager acknowledged",
        )
        incident.mobilised_at = now
    workflow.on_acknowledged(session, policy, incident, acked, actor=actor, now=now)
    return acked


def _take_paged_role(
    session: Session, policy: Policy, incident: Incident, actor: str, now: datetime
) -> list[RoleAssignment]:
    """The escalation paged `actor` for a role they do not hold (the next Major Incident
    Manager, because the first did not answer): acknowledging, they take it over."""
    role = paged_role(incident, actor)
    if role is None:
        return []
    return [
        _give_role(
            session,
            policy,
            incident,
            role,
            actor,
            actor=actor,
            now=now,
            how="paged by the escalation, took the role by acknowledging",
            escalation=True,
        )
    ]


def _give_role(
    session: Session,
    policy: Policy,
    incident: Incident,
    role: str,
    person: str,
    *,
    actor: str,
    now: datetime,
    how: str,
    **data,
) -> RoleAssignment:
    """`person` holds `role` now (its previous holder is released), on the timeline."""
    for old in active_roles(incident):
        if old.role == role:
            old.active = False
    assignment = RoleAssignment(incident=incident, role=role, person=person, assigned_at=now)
    session.add(assignment)
    add_timeline(
        session,
        incident,
        "role",
        f"{timeline_role(role)}: {person_name(policy, person)} ({how})",
        actor=actor,
        now=now,
        data={"role": role, "person": person, **data},
    )
    return assignment


def post_update(
    session: Session,
    policy: Policy,
    incident: Incident,
    text: str,
    *,
    actor: str,
    now: datetime,
    public_text: str | None = None,
) -> TimelineEntry:
    """A progress update; for a major incident it goes to the stakeholders.

    `public_text`: what the public status page says of it (none: it is not shown there).
    """
    text = (text or "").strip()
    if not text:
        raise Invalid("an update needs text")
    if incident.state in lifecycle.FINAL:
        raise Conflict(
            f"{incident.ref} is {incident.state}; updates are closed", code="illegal_transition"
        )
    public_text = (public_text or "").strip()
    data = {"public_text": public_text} if public_text else None
    entry = add_timeline(session, incident, "update", text, actor=actor, now=now, data=data)
    incident.last_update_at = now
    session.flush()
    workflow.on_update(session, policy, incident, entry, now=now)
    return entry


def assign_role(
    session: Session,
    policy: Policy,
    incident: Incident,
    role: str,
    person: str,
    *,
    actor: str,
    now: datetime,
) -> RoleAssignment:
    """Give a role to a person (the previous holder is released)."""
    if role not in ROLE_NAMES:
        raise Invalid(f"unknown role {role!r}; roles are {', '.join(ROLE_NAMES)}")
    if person not in policy.people:
        raise Invalid(f"unknown person {person!r}; people are named in the policy")
    if incident.state in lifecycle.FINAL:
        raise Conflict(f"{incident.ref} is {incident.state}", code="illegal_transition")
    held = next(
        (old for old in active_roles(incident) if old.role == role and old.person == person), None
    )
    if held is not None:
        return held
    before = [r.person for r in active_roles(incident) if r.role == role]
    audit.record(
        session,
        "role-assigned",
        f"{incident.ref} {role}",
        actor=actor,
        now=now,
        before={"role": role, "people": before},
        after={"role": role, "people": [person]},
        incident_id=incident.id,
    )
    assignment = _give_role(
        session,
        policy,
        incident,
        role,
        person,
        actor=actor,
        now=now,
        how=f"assigned by {person_name(policy, actor)}",
    )
    session.flush()
    workflow.on_role_assigned(session, policy, incident, assignment, now=now)
    return assignment


def resolve(
    session: Session, policy: Policy, incident: Incident, summary: str, *, actor: str, now: datetime
) -> Incident:
    """Resolve; a major incident then waits for its post-incident review."""
    summary = (summary or "").strip()
    if not summary:
        raise Invalid("resolving needs a summary of what fixed it")
    apply_event(session, incident, "resolve", actor=actor, now=now, why=summary)
    incident.resolved_at = now
    incident.summary = summary
    workflow.on_resolved(session, policy, incident, now=now)
    return incident


def set_state(
    session: Session,
    incident: Incident,
    event: str,
    why: str,
    *,
    actor: str | None,
    now: datetime,
    policy: Policy | None = None,
) -> None:
    """Apply a lifecycle event (cancel, merge, close, reopen…) with a reason.

    Cancelling or merging stops the incident's timers (escalation, cadence, SLA); with the
    policy given, a running major incident's stakeholders are told it stopped and why.
    """
    if not (why or "").strip():
        raise Invalid(f"{event} needs a reason")
    running = incident.major and incident.state in ("declared", "mobilised")
    apply_event(session, incident, event, actor=actor, now=now, why=why.strip())
    if event == "close":
        incident.closed_at = now
    if event in ("cancel", "merge"):
        workflow.on_stopped(session, policy, incident, event, why.strip(), running=running, now=now)


def merge_into(
    session: Session,
    incident: Incident,
    target: Incident,
    *,
    actor: str,
    now: datetime,
    policy: Policy | None = None,
) -> None:
    """Merge a duplicate incident into another; its reports move across."""
    if incident.id == target.id:
        raise Invalid("an incident cannot be merged into itself")
    if not lifecycle.is_active(target.state):
        raise Conflict(f"{target.ref} is {target.state}; merge into an active incident")
    set_state(
        session, incident, "merge", f"merged into {target.ref}", actor=actor, now=now, policy=policy
    )
    incident.merged_into_id = target.id
    for report in list(incident.reports):
        report.incident = target
    add_timeline(
        session,
        target,
        "merged",
        f"{incident.ref} ({incident.title}) merged in",
        actor=actor,
        now=now,
    )
