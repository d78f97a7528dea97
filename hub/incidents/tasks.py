"""An incident's tasks: created from the checklists at mobilisation, ticked by their role,
shown late past their deadline and reminded once (a `task-late` timer per task).

The database owns both the tasks and their deadlines: a task's reminder is a timer row, so
it survives restarts and fires exactly once (hub/incidents/timers.py).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from hub.app import audit
from hub.app.errors import Forbidden, Invalid, NotFound
from hub.app.models import Incident, IncidentTask
from hub.app.timefmt import iso, local_hhmm
from hub.core import permissions
from hub.core.checklists import plan_tasks
from hub.incidents import timers
from hub.incidents.timeline import add_timeline
from hub.policy.model import Policy, person_name

MAX_NOTE = 2000


def tasks_of(session: Session, incident: Incident) -> list[IncidentTask]:
    """The incident's tasks, by number."""
    return list(incident.tasks)


def create_tasks(
    session: Session, policy: Policy, incident: Incident, start: datetime, now: datetime
) -> list[IncidentTask]:
    """Give each role its tasks (once per incident) and schedule each deadline's reminder."""
    if tasks_of(session, incident):
        return []
    made = []
    for planned in plan_tasks(policy, incident.severity, incident.services or ()):
        task = IncidentTask(
            n=planned.n,
            role=planned.role,
            text=planned.text,
            url=planned.url,
            source=planned.source,
            due_at=start + planned.within if planned.within else None,
            created_at=now,
        )
        incident.tasks.append(task)
        made.append(task)
        if task.due_at is not None:
            key = timers.timer_key("task-late", incident, planned.n)
            timers.schedule(
                session, incident, key, "task-late", task.due_at, {"n": planned.n}, now=now
            )
    if made:
        add_timeline(
            session,
            incident,
            "tasks",
            f"Checklists: {len(made)} tasks for "
            + ", ".join(sorted({permissions.role_label(t.role) for t in made})),
            now=now,
            touch=False,
        )
    return made


def get_task(session: Session, incident: Incident, n: int) -> IncidentTask:
    """Task `n` of the incident (NotFound otherwise)."""
    task = next((t for t in incident.tasks if t.n == n), None)
    if task is None:
        raise NotFound(f"{incident.ref} has no task {n}")
    return task


def tick_task(
    session: Session,
    policy: Policy,
    incident: Incident,
    n: int,
    *,
    done: bool = True,
    note: str | None = None,
    actor: str,
    now: datetime,
) -> IncidentTask:
    """Mark task `n` done (or not done again), as its role's holder; on the timeline."""
    task = get_task(session, incident, n)
    if not permissions.ticks_task(policy, incident, actor, task.role):
        raise Forbidden(permissions.task_refusal(incident, actor, task.role, n))
    note = (note or "").strip()
    if len(note) > MAX_NOTE:
        raise Invalid(f"the note is {len(note)} characters long; the most is {MAX_NOTE}")
    if done == (task.done_at is not None) and not note:
        return task  # already so: nothing to record
    task.done_at, task.done_by = (now, actor) if done else (None, None)
    task.note = note or task.note
    audit.record(
        session,
        "task-ticked",
        f"{incident.ref} task {n}",
        actor=actor,
        now=now,
        before={"done": not done},
        after={"done": done, "note": note or None},
        incident_id=incident.id,
    )
    verb = "Done" if done else "Not done after all"
    add_timeline(
        session,
        incident,
        "task",
        f"{verb}: task {n} ({permissions.role_label(task.role)}) {task.text}"
        + (f" — {note}" if note else ""),
        actor=actor,
        now=now,
        data={"n": n, "done": done, "role": task.role},
    )
    if done:
        timers.cancel(
            timers.pending(incident, "task-late", lambda t: t.data.get("n") == n), "done", now
        )
    return task


def is_late(task: IncidentTask, now: datetime) -> bool:
    """Past its deadline and not done."""
    return task.done_at is None and task.due_at is not None and task.due_at <= now


def task_doc(policy: Policy, task: IncidentTask, now: datetime) -> dict:
    """A task as the API, the room and the templates show it."""
    return {
        "n": task.n,
        "role": task.role,
        "role_label": permissions.role_label(task.role),
        "text": task.text,
        "url": task.url,
        "source": task.source,
        "due_at": iso(task.due_at),
        "due_local": local_hhmm(task.due_at, policy.timezone) if task.due_at else None,
        "done": task.done_at is not None,
        "done_at": iso(task.done_at),
        "done_by": task.done_by,
        "done_by_name": person_name(policy, task.done_by, None),
        "note": task.note,
        "late": is_late(task, now),
        "reminded_at": iso(task.reminded_at),
    }


def by_role(policy: Policy, tasks: list[IncidentTask], now: datetime) -> dict[str, list[dict]]:
    """Task documents grouped by role."""
    out: dict[str, list[dict]] = {}
    for task in tasks:
        out.setdefault(task.role, []).append(task_doc(policy, task, now))
    return out
