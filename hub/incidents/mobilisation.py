"""Building blocks of the workflow: paging a step, notices to stakeholders, scheduling timers.

Used by the lifecycle seams (hub/incidents/workflow.py) and the timer actions (hub/incidents/timer_actions.py).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from hub.app.models import Incident
from hub.app.settings import Settings, load_settings
from hub.app.uow import UnitOfWork
from hub.core import cadence
from hub.core.escalation import PlannedStep
from hub.core.permissions import holders, role_label
from hub.incidents import page_links, tasks, timers
from hub.incidents.timeline import add_timeline
from hub.notifications import notices
from hub.notifications import notify as n
from hub.notifications.subscribers import subscriber_recipients
from hub.policy.model import Policy, Severity
from hub.subscriptions.groups import group_recipients
from hub.subscriptions.service import subscription_recipients

DURATIONS = ("ack_within", "update_every", "first_update_within", "resolve_within", "review_within")
RUNNING = ("declared", "mobilised")
CYCLE_KINDS = ("update-due", "update-reminder")


def settings_of(session: Session) -> Settings:
    """The settings `Hub.transaction` put on the session (else from the environment)."""
    return UnitOfWork.of(session).settings or load_settings()


def running(incident: Incident) -> bool:
    """A major incident still being worked on: its escalation and cadence apply."""
    return incident.major and incident.state in RUNNING


def freeze_terms(severity: Severity) -> dict:
    """A severity's durations (seconds) and audiences, as frozen into the plan."""
    durations = {d: getattr(severity, d) for d in DURATIONS}
    return {
        "key": severity.key,
        "notify": list(severity.notify),
        **{d: v.total_seconds() if v else None for d, v in durations.items()},
    }


def planned_severity(policy: Policy, incident: Incident) -> Severity:
    """The severity terms frozen in the plan (policy edits do not change a running incident)."""
    terms = (incident.plan or {}).get("terms")
    if not terms:
        return policy.severity(incident.severity)
    durations = {d: timedelta(seconds=terms[d]) if terms.get(d) else None for d in DURATIONS}
    return Severity(
        key=terms["key"], rank=0, major=True, notify=tuple(terms["notify"]), **durations
    )


def revision(incident: Incident) -> int:
    """How many times the plan was made again (0 at the first declaration)."""
    return int((incident.plan or {}).get("revision", 0))


def acked_roles(incident: Incident) -> set[str]:
    """Roles whose current holder acknowledged."""
    return {r.role for r in incident.roles if r.active and r.acknowledged_at is not None}


def context(session: Session, policy: Policy, incident: Incident, now: datetime, **extra) -> dict:
    """The standard template context plus extras."""
    ctx = notices.incident_context(incident, policy, settings_of(session), now)
    ctx.update(extra)
    return ctx


def stakeholders(policy: Policy, incident: Incident) -> list[notices.Recipient]:
    """The frozen communication plan's audiences, the responders' channel, and the people who
    subscribed to this incident (Teams `subscribe INC-42`), on Teams and email."""
    audiences = (incident.plan or {}).get("communication", {}).get("audiences", ())
    return notices.audience_recipients(policy, audiences) + subscriber_recipients(policy, incident)


def last_update(policy: Policy, incident: Incident) -> dict | None:
    """The `update` context of the latest posted update, if any."""
    entry = next((e for e in reversed(incident.timeline) if e.kind == "update"), None)
    return (
        None if entry is None else notices.update_context(policy, entry.text, entry.actor, entry.at)
    )


def page_context(
    settings: Settings,
    incident: Incident,
    person: str,
    role: str | None,
    label: str,
    step: int | None,
    *,
    tasks: list | None = None,
    tasks_url: str | None = None,
) -> dict:
    """A page's own context: `page` (role, label, step, `action`: acknowledge, or take-over
    when the role is someone else's; the role's checklist `tasks` and `tasks_url` when given)
    and `ack_url`, signed for this person."""
    held = person in holders(incident, role) if role else False
    link = page_links.page_link(settings, incident, person, role, held=held)
    action = None if link is None else ("acknowledge" if held else "take-over")
    page = {"role": role, "role_label": label, "step": step or None, "action": action}
    if tasks is not None:
        page.update(tasks=tasks, tasks_url=tasks_url)
    return {"page": page, **({"ack_url": link} if link else {})}


def page_step(
    session: Session,
    policy: Policy,
    incident: Incident,
    step: PlannedStep,
    targets,
    event_key: str,
    now: datetime,
) -> int:
    """Page a step's targets (persons by `via`, audiences on their channels); returns rows."""
    if not targets:
        return 0
    settings = settings_of(session)
    template = "page" if step.index == 0 else "escalation"
    rows, names, paged = 0, [], []
    checklists = tasks.by_role(policy, tasks.tasks_of(session, incident), now)
    tasks_url = f"{settings.base_url}/incidents/{incident.ref}#tasks"
    for target in targets:
        if target.person:
            paged.append([target.person, target.role])
            label = role_label(target.role) if target.role else "Escalation contact"
            ctx = context(
                session,
                policy,
                incident,
                now,
                **page_context(
                    settings,
                    incident,
                    target.person,
                    target.role,
                    label,
                    step.index,
                    tasks=checklists.get(target.role or "", []),
                    tasks_url=tasks_url,
                ),
            )
            recipients = notices.person_recipients(policy, [target.person], step.via)
            person = policy.people.get(target.person)
            names.append(f"{person.name if person else target.person} ({label})")
        else:
            ctx = context(
                session,
                policy,
                incident,
                now,
                page={"role": None, "role_label": target.audience, "step": step.index or None},
            )
            recipients = notices.audience_recipients(policy, [target.audience], responders=False)
            recipients += group_recipients(session, policy, settings, target.audience, now)
            names.append(f"audience {target.audience}")
        rows += len(
            n.notify(session, settings, policy, incident, template, event_key, recipients, ctx, now)
        )
    if step.index == 0:
        text = "Paged " + ", ".join(names) + " by " + ", ".join(step.via)
    else:
        text = f"Escalated to step {step.index}: paged " + ", ".join(names)
    add_timeline(
        session,
        incident,
        "paged" if step.index == 0 else "escalated",
        text,
        now=now,
        touch=False,
        # paged: [person, role]: a person paged for a role may acknowledge and take it
        data={"step": step.index, "notifications": rows, "paged": paged},
    )
    return rows


def send_to_stakeholders(
    session: Session,
    policy: Policy,
    incident: Incident,
    template: str,
    event_key: str,
    now: datetime,
    **extra,
) -> int:
    """One notice to every audience of the communication plan; returns rows written."""
    ctx = context(session, policy, incident, now, **extra)
    settings = settings_of(session)
    audiences = (incident.plan or {}).get("communication", {}).get("audiences", ())
    recipients = stakeholders(policy, incident)
    for audience in audiences:  # Entra groups: their members or their addresses
        recipients += group_recipients(session, policy, settings, audience, now)
    recipients += subscription_recipients(session, policy, incident)  # self-service subscribers
    return len(
        n.notify(session, settings, policy, incident, template, event_key, recipients, ctx, now)
    )


def schedule_cycle(
    session: Session, incident: Incident, cycle: cadence.Cycle | None, now: datetime
) -> None:
    """Timers for one update cycle: the reminder and the due time."""
    if cycle is None:
        return
    data = {
        "cycle": cycle.number,
        "starts_at": cycle.starts_at.isoformat(),
        "due_at": cycle.due_at.isoformat(),
    }
    for kind, at in (("update-reminder", cycle.remind_at), ("update-due", cycle.due_at)):
        timers.schedule(
            session,
            incident,
            timers.timer_key(kind, incident, cycle.number),
            kind,
            at,
            data,
            now=now,
        )


def current_cycle(incident: Incident, severity: Severity) -> cadence.Cycle | None:
    """The cycle whose update is awaited (from its pending `update-due` timer)."""
    for timer in timers.pending(incident, "update-due"):
        starts = datetime.fromisoformat(timer.data["starts_at"])
        return cadence.plan_cycle(severity, int(timer.data["cycle"]), starts)
    return None


def last_cycle_number(incident: Incident) -> int:
    """The highest update cycle number this incident had."""
    return max(
        (int(t.data.get("cycle", 0)) for t in incident.timers if t.kind == "update-due"), default=0
    )


def schedule_marks(session: Session, incident: Incident, marks, rev: int, now: datetime) -> None:
    """A timer per SLA mark."""
    for mark in marks:
        key = timers.timer_key("sla", incident, mark.kind, mark.percent, revision=rev)
        timers.schedule(
            session,
            incident,
            key,
            f"sla-{mark.kind}",
            mark.at,
            {"sla": mark.kind, "percent": mark.percent, "deadline": mark.deadline.isoformat()},
            now=now,
        )


def schedule_steps(session: Session, incident: Incident, steps, rev: int, now: datetime) -> None:
    """A timer per escalation step still ahead."""
    for step in steps:
        key = timers.timer_key("escalate", incident, step.index, revision=rev)
        timers.schedule(
            session,
            incident,
            key,
            "escalate",
            step.due_at,
            {"step": step.to_json(), "revision": rev},
            now=now,
        )
