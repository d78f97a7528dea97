"""Mobilising a declared incident: the timer that fills its roles, and the work that timer does."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy.orm import Session

from hub.app.context import queue_job
from hub.app.models import Incident, RoleAssignment
from hub.core import lifecycle
from hub.core.escalation import roster
from hub.core.schedules import Override
from hub.incidents import meetings, timers, workflow
from hub.incidents.records import timeline_role
from hub.incidents.timeline import add_timeline
from hub.policy.model import ROLE_NAMES, Policy
from hub.schedules.overrides import active_overrides


def schedule_mobilisation(session: Session, incident: Incident, *, now: datetime) -> None:
    """Mobilise in the worker, at once: a `mobilise` timer due now, and a wake-up for it.

    The request that declared the incident commits only the incident, its report and its
    timeline, and answers; filling the roles, freezing the plan, the step-0 pages, the
    stakeholder notice and the SLA timers follow in the worker (`mobilise`, below). The timer
    row makes that durable and exactly-once: a lost wake-up is found by the timer pump,
    and only the worker whose claim succeeds mobilises.
    """
    done = sum(1 for t in incident.timers if t.kind == "mobilise")
    if incident.id is None:
        session.flush()  # assigns the id, INC-n: the timer's key names it
    key = timers.timer_key("mobilise", incident, *([done] if done else []))
    timer = timers.schedule(session, incident, key, "mobilise", now, now=now)
    session.flush()
    queue_job(session, "fire_timer", timer.id)


def mobilise(
    session: Session,
    policy: Policy,
    incident: Incident,
    *,
    declared_at: datetime,
    now: datetime | None = None,
) -> bool:
    """Fill the roles and start the workflow of a declared major incident (the timer's work).

    False when there is nothing to mobilise any more: no longer major, or no longer running.
    """
    if not incident.major or not lifecycle.is_active(incident.state):
        return False
    fill_roles(session, policy, incident, now=now or declared_at, at=declared_at)
    meetings.ensure_bridge(session, policy, incident, now or declared_at)  # before the pages
    workflow.on_declared(session, policy, incident, now=now or declared_at, started=declared_at)
    return True


def fill_roles(
    session: Session,
    policy: Policy,
    incident: Incident,
    *,
    now: datetime,
    at: datetime | None = None,
) -> None:
    """Fill each empty role from the roster (tech lead from the first affected service), its
    schedules as they stand at `at` (the declaration; default `now`), overrides included."""
    held = {r.role for r in incident.roles if r.active}
    mine = active_overrides(session, at or now) if policy.schedules else []
    for role in ROLE_NAMES:
        if role in held:
            continue
        person = first_on_duty(policy, role, incident.services, at=at or now, overrides=mine)
        if person:
            session.add(
                RoleAssignment(
                    incident=incident, role=role, person=person, assigned_at=now, active=True
                )
            )
            source = next(
                (
                    f"tech lead of {policy.services[key].name}"
                    for key in incident.services or ()
                    if role == "tech_lead"
                    and key in policy.services
                    and person in policy.services[key].tech_lead
                ),
                "on call" if _from_schedule(policy, role, person) else "from the roster",
            )
            add_timeline(
                session,
                incident,
                "role",
                f"{timeline_role(role)}: {policy.people[person].name} ({source})",
                actor=None,
                now=now,
                data={"role": role, "person": person},
            )


def _from_schedule(policy: Policy, role: str, person: str) -> bool:
    return person not in policy.roles.get(role, ())


def first_on_duty(
    policy: Policy,
    role: str,
    services: list[str] | tuple[str, ...],
    position: int = 1,
    *,
    at: datetime | None = None,
    overrides: Sequence[Override] = (),
) -> str | None:
    """The person at `position` (1-based) of the roster for a role at `at`."""
    people = roster(policy, role, services, at, overrides)
    return people[position - 1] if len(people) >= position else None
