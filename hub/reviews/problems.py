"""Problem management: problem records for root causes, linked to incidents, known errors."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.app.context import queue_job
from hub.app.db import row_id
from hub.app.errors import Forbidden, Invalid, NotFound
from hub.app.models import Problem, ProblemLink
from hub.app.timefmt import iso
from hub.core import permissions
from hub.incidents.records import get_incident
from hub.incidents.timeline import add_timeline
from hub.policy.model import Policy
from hub.reviews.content import clean_line, clean_text

STATES = ("open", "known_error", "resolved", "closed")


def require_manager(policy: Policy, actor: str) -> None:
    """Forbidden unless the actor manages problem records (`permissions.manages_problems`)."""
    if not permissions.manages_problems(policy, actor):
        raise Forbidden(permissions.problems_refusal(actor))


def parse_problem_ref(ref: str) -> int:
    """`PRB-7` (or `7`) to 7."""
    number = row_id(ref.strip().upper().removeprefix("PRB-"))
    if number is None:
        raise NotFound(f"no problem {ref!r}; problem ids look like PRB-7")
    return number


def get_problem(session: Session, ref: str, *, lock: bool = False) -> Problem:
    """The problem or NotFound."""
    stmt = select(Problem).where(Problem.id == parse_problem_ref(ref))
    problem = session.scalars(stmt.with_for_update() if lock else stmt).first()
    if problem is None:
        raise NotFound(f"no problem {ref}")
    return problem


def create_problem(
    session: Session, policy: Policy, data: dict, *, actor: str, now: datetime
) -> Problem:
    """Open a problem record, linked to the incidents given."""
    require_manager(policy, actor)
    title = clean_line(data.get("title") or "", 300, field="title")
    if not title:
        raise Invalid("a problem needs a title", code="missing_field")
    problem = Problem(title=title, created_by=actor, created_at=now, updated_at=now)
    session.add(problem)
    session.flush()  # assigns PRB-n for the incidents' timelines
    return update_problem(session, policy, problem, data, actor=actor, now=now)


def update_problem(
    session: Session, policy: Policy, problem: Problem, data: dict, *, actor: str, now: datetime
) -> Problem:
    """Change fields, the state (known error needs a workaround) and add incident links."""
    require_manager(policy, actor)
    if data.get("title") is not None:
        problem.title = clean_line(data["title"], 300, field="title")
        if not problem.title:
            raise Invalid("a problem needs a title", code="missing_field")
    for field in ("description", "root_cause", "workaround"):
        if data.get(field) is not None:
            setattr(problem, field, clean_text(data[field], field=field))
    if data.get("state"):
        _set_state(problem, data["state"], now)
    for ref in data.get("incidents") or ():
        link_incident(session, problem, ref, actor=actor, now=now)
    problem.updated_at = now
    queue_job(session, "refresh_site", problem.id)  # the register and its reviews' pages
    return problem


def _set_state(problem: Problem, state: str, now: datetime) -> None:
    if state not in STATES:
        raise Invalid(f"state must be one of {', '.join(STATES)}", code="invalid_value")
    if state == "known_error" and not problem.workaround.strip():
        raise Invalid("a known error needs its workaround written down first", code="missing_field")
    if state == "known_error" and problem.known_error_at is None:
        problem.known_error_at = now
    if state in ("resolved", "closed") and problem.resolved_at is None:
        problem.resolved_at = now
    problem.state = state


def link_incident(
    session: Session, problem: Problem, ref: str, *, actor: str, now: datetime
) -> None:
    """Link an incident to the problem (once)."""
    incident = get_incident(session, ref)
    if any(link.incident_id == incident.id for link in problem.links):
        return
    problem.links.append(ProblemLink(incident_id=incident.id, linked_at=now, linked_by=actor))
    add_timeline(
        session,
        incident,
        "problem",
        f"Linked to problem {problem.ref}: {problem.title}",
        actor=actor,
        now=now,
    )


def problems_of(session: Session, incident_id: int) -> list[Problem]:
    """Problems linked to an incident."""
    stmt = (
        select(Problem)
        .join(ProblemLink)
        .where(ProblemLink.incident_id == incident_id)
        .order_by(Problem.id)
    )
    return list(session.scalars(stmt))


def problem_doc(problem: Problem) -> dict:
    """A problem as JSON."""
    return {
        "id": problem.ref,
        "title": problem.title,
        "state": problem.state,
        "known_error": problem.state == "known_error",
        "description": problem.description,
        "root_cause": problem.root_cause,
        "workaround": problem.workaround,
        "incidents": [f"INC-{link.incident_id}" for link in problem.links],
        "created_by": problem.created_by,
        "created_at": iso(problem.created_at),
        "updated_at": iso(problem.updated_at),
        "known_error_at": iso(problem.known_error_at),
        "resolved_at": iso(problem.resolved_at),
    }
