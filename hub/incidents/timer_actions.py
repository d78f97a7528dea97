"""What a due timer does: escalate, remind, say "no change", warn of an SLA. Pure DB writes.

`fire(session, policy, timer, now)` runs in the transaction that claimed the timer; every
action first re-checks the database (acknowledged? update posted? resolved?) and cancels the
timer instead of acting when the reason for it is gone.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from hub.app.models import Incident, Timer
from hub.app.timefmt import local_hhmm
from hub.channels.base import PermanentError, TransientError
from hub.core import cadence, lifecycle
from hub.core.escalation import PlannedStep, still_needed
from hub.core.permissions import COMMS, MIM, PM, holders
from hub.core.sla import LABELS
from hub.incidents import drafts, meetings, staffing, tasks, timers
from hub.incidents import mobilisation as mob
from hub.incidents.timeline import add_timeline
from hub.notifications import notices
from hub.notifications import notify as n
from hub.policy.model import Policy, channel_names

log = logging.getLogger("hub.incidents.timers")

Action = Callable[[Session, Policy, Incident, Timer, datetime], str]
ACTIONS: dict[str, Action] = {}


def action(*kinds: str):
    """Register the action for timers of these kinds (other issues add theirs)."""

    def deco(func: Action) -> Action:
        for kind in kinds:
            ACTIONS[kind] = func
        return func

    return deco


def fire(session: Session, policy: Policy, timer: Timer, now: datetime) -> str:
    """Perform a claimed timer's action; returns "fired" or "cancelled"."""
    run = ACTIONS.get(timer.kind)
    if run is None:
        log.error("timer %s has unknown kind %r; marking it fired", timer.key, timer.kind)
        return "fired"
    outcome = run(session, policy, timer.incident, timer, now)
    if outcome == "cancelled":
        log.info("timer %s cancelled: %s", timer.key, (timer.data or {}).get("cancelled"))
    return outcome


def ensure_mobilised(session: Session, policy: Policy, incident: Incident, now: datetime) -> None:
    """Run a mobilisation the worker has not run yet, here (someone acts on the incident a
    moment after its declaration: `act`). Claiming the timer keeps it exactly-once: a worker
    that comes later finds it fired."""
    for pending in timers.pending(incident, "mobilise"):
        timer = timers.claim(session, pending.id, now)
        if timer is not None:
            fire(session, policy, timer, now)


@action("bridge")
def _bridge(
    session: Session, policy: Policy, incident: Incident, timer: Timer, now: datetime
) -> str:
    """Another try at the Teams bridge that Graph did not make at declaration."""
    if not incident.major or not lifecycle.is_active(incident.state):
        return _skip(timer, f"no bridge needed: {incident.ref} is {incident.state}", now)
    meetings.ensure_bridge(session, policy, incident, now)
    return "fired"


@action("bridge-attendees")
def _bridge_attendees(
    session: Session, policy: Policy, incident: Incident, timer: Timer, now: datetime
) -> str:
    """Invite new role holders to the bridge."""
    return meetings.sync_attendees(session, policy, incident, now).split(":")[0]


@action("review-meeting")
def _review_meeting(
    session: Session, policy: Policy, incident: Incident, timer: Timer, now: datetime
) -> str:
    """Book the post-incident review meeting (Graph errors: a transient one is retried)."""
    try:
        return meetings.book_review(session, policy, incident, now)
    except TransientError as exc:
        retry = timers.timer_key("review-meeting", incident, f"retry{now:%H%M%S}")
        timers.schedule(
            session, incident, retry, "review-meeting", now + timedelta(minutes=5), now=now
        )
        log.warning("%s: review meeting not booked yet: %s", incident.ref, exc)
        return "fired"
    except PermanentError as exc:
        add_timeline(session, incident, "review", f"Review meeting not booked: {exc}", now=now,
                     touch=False)  # fmt: skip
        return "fired"


def _skip(timer: Timer, reason: str, now: datetime) -> str:
    timers.cancel([timer], reason, now)
    return "cancelled"


@action("mobilise")
def _mobilise(
    session: Session, policy: Policy, incident: Incident, timer: Timer, now: datetime
) -> str:
    """A major incident was declared: roles, plan, pages, notice, timers (hub.incidents.staffing)."""
    # the plan counts from the declaration; the records carry the time they happened
    if not staffing.mobilise(session, policy, incident, declared_at=timer.due_at, now=now):
        return _skip(timer, f"nothing to mobilise: {incident.ref} is {incident.state}", now)
    return "fired"


@action("escalate")
def escalate(session, policy, incident, timer, now) -> str:
    """Page the step's targets that are still needed; timeline "escalated to step N"."""
    if not mob.running(incident):
        return _skip(timer, f"incident is {incident.state}", now)
    step = PlannedStep.from_json(timer.data["step"])
    targets = still_needed(step, mob.acked_roles(incident))
    if not targets:
        return _skip(timer, "acknowledged" if step.targets else "nobody to page", now)
    mob.page_step(session, policy, incident, step, targets, timer.key, now)
    return "fired"


def _cycle(timer: Timer) -> cadence.Cycle:
    data = timer.data
    due = datetime.fromisoformat(data["due_at"])
    return cadence.Cycle(
        number=int(data["cycle"]),
        starts_at=datetime.fromisoformat(data["starts_at"]),
        due_at=due,
        remind_at=timer.due_at,
    )


@action("update-reminder")
def remind(session, policy, incident, timer, now) -> str:
    """Remind the Communications Owner (else the MIM) that a stakeholder update is due."""
    cycle = _cycle(timer)
    if not mob.running(incident):
        return _skip(timer, f"incident is {incident.state}", now)
    if not cadence.needs_no_change(cycle.starts_at, incident.last_update_at):
        return _skip(timer, "update posted", now)
    people = holders(incident, COMMS, MIM)
    due_local = local_hhmm(cycle.due_at, policy.timezone)
    ctx = mob.context(
        session,
        policy,
        incident,
        now,
        next_update_at_local=due_local,
        update=mob.last_update(policy, incident),
        drafts_awaiting=len(drafts.awaiting(session, incident)),
    )
    n.notify(
        session,
        mob.settings_of(session),
        policy,
        incident,
        "update-reminder",
        timer.key,
        notices.person_recipients(policy, people, channel_names()),
        ctx,
        now,
    )
    names = ", ".join(policy.people[p].name if p in policy.people else p for p in people)
    add_timeline(
        session,
        incident,
        "reminder",
        f"Reminded {names or 'nobody (no one holds the role)'}: stakeholder update "
        f"due at {due_local}",
        now=now,
        touch=False,
        data={"cycle": cycle.number},
    )
    return "fired"


@action("update-due")
def no_change(session, policy, incident, timer, now) -> str:
    """Nobody posted an update in time: send "no change since HH:MM, next at HH:MM" ourselves."""
    cycle = _cycle(timer)
    if not mob.running(incident):
        return _skip(timer, f"incident is {incident.state}", now)
    if not cadence.needs_no_change(cycle.starts_at, incident.last_update_at):
        return _skip(timer, "update posted", now)
    severity = mob.planned_severity(policy, incident)
    nxt = cadence.after_no_change(severity, cycle, now)
    mob.schedule_cycle(session, incident, nxt, now)
    tz = policy.timezone
    since = local_hhmm(incident.last_update_at or incident.declared_at or incident.created_at, tz)
    next_local = local_hhmm(nxt.due_at, tz) if nxt else None
    waiting = len(drafts.awaiting(session, incident))  # kept: approving still sends them
    mob.send_to_stakeholders(
        session,
        policy,
        incident,
        "no-change-update",
        timer.key,
        now,
        update=mob.last_update(policy, incident),
        next_update_at_local=next_local,
        drafts_awaiting=waiting,
    )
    add_timeline(
        session,
        incident,
        "update-auto",
        f"No change since {since}"
        + (f" — next update at {next_local}" if next_local else "")
        + (f" (a drafted update is awaiting approval: {waiting})" if waiting else ""),
        now=now,
        touch=False,
        data={"cycle": cycle.number, "drafts_awaiting": waiting},
    )
    return "fired"


def _sla_still_open(incident: Incident, kind: str) -> str | None:
    if kind == "ack":
        if not mob.running(incident):
            return f"incident is {incident.state}"
        return "acknowledged" if MIM in mob.acked_roles(incident) else None
    if kind == "resolve":
        return None if mob.running(incident) else f"incident is {incident.state}"
    return None if incident.state in ("resolved", "review_due") else f"review is {incident.state}"


@action("sla-ack", "sla-resolve", "sla-review")
def sla_mark(session, policy, incident, timer, now) -> str:
    """An SLA warning or breach: timeline entry and a page to the MIM (review: the PM too)."""
    kind, percent = timer.data["sla"], int(timer.data["percent"])
    gone = _sla_still_open(incident, kind)
    if gone:
        return _skip(timer, gone, now)
    due_local = local_hhmm(datetime.fromisoformat(timer.data["deadline"]), policy.timezone)
    breached = percent >= 100
    label = LABELS[kind]
    text = (
        f"{label} deadline missed (was due at {due_local})"
        if breached
        else f"{label}: {percent}% of the time used (due at {due_local})"
    )
    add_timeline(
        session,
        incident,
        "sla-breach" if breached else "sla-warning",
        text,
        now=now,
        touch=False,
        data={"sla": kind, "percent": percent},
    )
    people = holders(incident, MIM)
    if kind == "review":
        people = holders(incident, PM) + people
    ctx = mob.context(
        session,
        policy,
        incident,
        now,
        sla={
            "kind": kind,
            "label": label,
            "due_at_local": due_local,
            "percent": percent,
            "breached": breached,
        },
    )
    n.notify(
        session,
        mob.settings_of(session),
        policy,
        incident,
        "sla-breach" if breached else "sla-warning",
        timer.key,
        notices.person_recipients(policy, dict.fromkeys(people), channel_names()),
        ctx,
        now,
    )
    return "fired"


@action("task-late")
def task_late(session, policy, incident, timer, now) -> str:
    """A task is past its deadline: remind its role's holders, once (the timer fires once)."""
    if not mob.running(incident):
        return _skip(timer, f"incident is {incident.state}", now)
    task = tasks.get_task(session, incident, int(timer.data["n"]))
    if task.done_at is not None:
        return _skip(timer, "done", now)
    people = holders(incident, task.role)
    ctx = mob.context(session, policy, incident, now, task=tasks.task_doc(policy, task, now))
    recipients = notices.person_recipients(policy, people, channel_names())
    n.notify(
        session, mob.settings_of(session), policy, incident, "task-late", timer.key,
        recipients, ctx, now,
    )  # fmt: skip
    task.reminded_at = now
    names = ", ".join(policy.people[p].name if p in policy.people else p for p in people)
    add_timeline(
        session,
        incident,
        "reminder",
        f"Task {task.n} is late ({task.text}); reminded {names or 'nobody (no one holds the role)'}",
        now=now,
        touch=False,
        data={"task": task.n},
    )
    return "fired"
