"""Incident operations: validate, call the pure core, write the rows, say what to enqueue."""

from __future__ import annotations

from datetime import datetime, timedelta
from functools import cache

from sqlalchemy import Connection, bindparam, insert, select
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from hub.app.context import queue_job
from hub.app.db import insert_loaded, new_loaded, row_id, utcnow
from hub.app.errors import Conflict, Forbidden, Invalid, NotFound
from hub.app.models import Incident, RoleAssignment, ServiceReporter, TimelineEntry, Timer
from hub.app.models import Report as ReportRow
from hub.app.uow import UnitOfWork
from hub.core import lifecycle
from hub.core.classify import (
    Classification,
    RelatedReport,
    Report,
    classify_report,
    find_services,
    reclassify,
    resolve_services,
)
from hub.core.escalation import roster
from hub.incidents import timers, workflow
from hub.incidents.timeline import add_timeline
from hub.policy.model import ROLE_NAMES, Policy


def parse_ref(ref: str) -> int:
    """`INC-42` (or `42`) to 42."""
    number = row_id(ref.strip().upper().removeprefix("INC-"))
    if number is None:
        raise NotFound(f"no incident {ref!r}; incident ids look like INC-42")
    return number


def get_incident(session: Session, ref: str | int, *, lock: bool = False) -> Incident:
    """The incident or NotFound."""
    number = ref if isinstance(ref, int) else parse_ref(ref)
    stmt = select(Incident).where(Incident.id == number)
    if lock:
        stmt = stmt.with_for_update()
    incident = session.scalars(stmt).first()
    if incident is None:
        raise NotFound(f"no incident INC-{number}")
    policy = UnitOfWork.of(session).policy
    if lock and policy is not None:  # about to act on it: it must be mobilised first
        ensure_mobilised(session, policy, incident, utcnow())
    return incident


def _transition(incident: Incident, event: str, why: str) -> tuple[str, dict]:
    """Move the incident's state; the timeline entry's text and data for it."""
    try:
        step = lifecycle.transition(incident.state, event, major=incident.major)
    except lifecycle.IllegalTransition as exc:
        raise Conflict(f"{incident.ref}: {exc}", code="illegal_transition") from exc
    incident.state = step.to_state
    return (
        f"{step.from_state} → {step.to_state}: {why}",
        {"event": event, "from": step.from_state, "to": step.to_state},
    )


def _apply(
    session: Session, incident: Incident, event: str, *, actor: str | None, now: datetime, why: str
) -> None:
    text, data = _transition(incident, event, why)
    add_timeline(session, incident, "state", text, actor=actor, now=now, data=data)


def report_services(report: Report, policy: Policy) -> tuple[str, ...]:
    """Catalogue keys a report names or mentions."""
    given, _unknown = resolve_services(report.services, policy)
    found = find_services(f"{report.title}\n{report.text}", policy)
    return given + tuple(k for k in found if k not in given)


_SEEN = ServiceReporter.__table__
_RECENT_REPORTERS = (
    select(_SEEN.c.reporter, _SEEN.c.last_at)
    .where(_SEEN.c.service == bindparam("service"), _SEEN.c.last_at >= bindparam("since"))
    .order_by(_SEEN.c.reporter)
)


def related_reports(
    session: Session | Connection, policy: Policy, services: tuple[str, ...], now: datetime
) -> list[RelatedReport]:
    """Each reporter's latest report per service inside the longest correlation window."""
    windows = [c.within for c in policy.major_criteria if c.within] + [
        policy.intake.correlation_window
    ]
    since = now - max(windows)
    return [
        RelatedReport(reporter=reporter, services=(key,), at=at)
        for key in services
        for reporter, at in session.execute(
            _RECENT_REPORTERS, {"service": key[:200], "since": since}
        )
    ]


def note_reporters(session: Session, services, reporter: str | None, at: datetime) -> None:
    """Record a report in `service_reporters`: the reporter's latest report of each service."""
    if not reporter or not services:
        return
    rows = [
        {"service": key[:200], "reporter": reporter.lower(), "last_at": at}
        for key in sorted(set(services))
    ]  # one order for every writer: no deadlocks
    session.execute(_upsert_statement(session.get_bind().dialect.name), rows)


@cache
def _upsert_statement(dialect: str):
    """INSERT … ON CONFLICT DO UPDATE keeping the later time (SQLite and PostgreSQL)."""
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as dialect_insert
    else:
        from sqlalchemy.dialects.sqlite import insert as dialect_insert
    stmt = dialect_insert(_SEEN)
    return stmt.on_conflict_do_update(
        index_elements=[_SEEN.c.service, _SEEN.c.reporter],
        set_={"last_at": stmt.excluded.last_at},
        where=_SEEN.c.last_at < stmt.excluded.last_at,
    )


def _find_correlated(
    session: Session, policy: Policy, services: tuple[str, ...], now: datetime
) -> Incident | None:
    if not services:
        return None
    since = now - policy.intake.correlation_window
    stmt = (
        select(Incident)
        .where(Incident.state.in_(lifecycle.ACTIVE))
        .where(Incident.created_at >= since)
        .order_by(Incident.id.desc())
    )
    for incident in session.scalars(stmt):
        if set(incident.services or ()) & set(services):
            # locked before it is changed (PostgreSQL: two reports at once both raise it)
            return session.get(Incident, incident.id, with_for_update=True, populate_existing=True)
    return None


def classify_new(
    session: Session | Connection, policy: Policy, report: Report, now: datetime
) -> Classification:
    """Classify a report against the policy and the recent related reports (reads only)."""
    related = related_reports(session, policy, report_services(report, policy), now)
    return classify_report(report, policy, related, now=now)


def create_incident(
    session: Session,
    policy: Policy,
    report: Report,
    *,
    actor: str | None,
    now: datetime,
    description: str = "",
    correlate: bool = True,
    classified: Classification | None = None,
) -> tuple[Incident, bool]:
    """Classify a report and open an incident, or attach it to a correlated one.

    `classified`: the report's classification made beforehand (`classify_new` in a read
    transaction), so that a writer holding SQLite's one write lock does not spend it there;
    another report counted a moment later only changes the "several reporters" criterion,
    and correlation with an open incident is still decided here, under the lock.
    Returns (incident, created).
    """
    result = classified or classify_new(session, policy, report, now)
    existing = _find_correlated(session, policy, result.services, now) if correlate else None
    report_row = {
        "source": report.source,
        "reporter": report.reporter,
        "title": report.title,
        "text": report.text or description,
        "services": list(result.services),
        "at": now,
    }
    note_reporters(session, result.services, report.reporter, now)
    if existing is not None:
        session.add(ReportRow(incident=existing, **report_row))
        add_timeline(
            session,
            existing,
            "report",
            f"Another report by {report.reporter or 'someone'} via {report.source}: {report.title}",
            actor=report.reporter,
            now=now,
            data={"reporters": result.reporters},
        )
        # what the incident is known to affect only grows with more reports
        if _IMPACT_RANK.get(result.impact, 0) > _IMPACT_RANK.get(existing.impact, 0):
            existing.impact = result.impact
        if (result.affected_users or 0) > (existing.affected_users or 0):
            existing.affected_users = result.affected_users
        current = policy.severities.get(existing.severity)
        new = policy.severities[result.severity]
        if current is None or new.rank < current.rank:
            _set_classification(
                session,
                policy,
                existing,
                result,
                actor=actor,
                now=now,
                kind="classified",
                prefix="Upgraded by correlation",
            )
        return existing, False
    incident = new_loaded(
        Incident,
        title=report.title.strip(),
        description=description or report.text or "",
        state=lifecycle.initial_state(False),
        major=False,
        severity=result.severity,
        rule=result.rule,
        reasons=list(result.reasons),
        services=list(result.services),
        impact=result.impact,
        affected_users=result.affected_users,
        security=result.security,
        source=report.source,
        reporter=report.reporter,
        created_at=now,
        updated_at=now,
        timers=[],
        roles=[],  # known empty: no query when the workflow looks at them
    )
    entries = [
        (
            "reported",
            f"Reported by {report.reporter or 'unknown'} via {report.source}: {report.title}",
            report.reporter,
            {},
        ),
        (
            "classified",
            _classification_text(result),
            None,
            {
                "rule": result.rule,
                "severity": result.severity,
                "major": result.major,
                "reasons": list(result.reasons),
            },
        ),
    ]
    if result.major:  # declared before the first INSERT: the row goes in as it ends up
        incident.major, incident.declared_at = True, now
        text, data = _transition(incident, "declare", f"declared major: rule {result.rule}")
        entries.append(("state", text, actor or report.reporter, data))
    # Plain INSERTs, not the session's unit of work (several times the cost on this, the
    # hottest write path): the incident goes to the session as if loaded, its report and
    # first timeline entries are left in the database for a later look to load.
    insert_loaded(session, incident)
    session.execute(insert(ReportRow.__table__), [{"incident_id": incident.id, **report_row}])
    session.execute(
        insert(TimelineEntry.__table__),
        [  # one executemany, None kept
            {
                "incident_id": incident.id,
                "at": now,
                "kind": kind,
                "actor": who,
                "text": text,
                "data": data,
            }
            for kind, text, who, data in entries
        ],
    )
    if result.major:
        timer = new_loaded(
            Timer,
            incident_id=incident.id,
            kind="mobilise",
            due_at=now,
            key=timers.timer_key("mobilise", incident),
            state="pending",
            data={},
            created_at=now,
        )
        insert_loaded(session, timer)
        set_committed_value(incident, "timers", [timer])  # as loaded: nothing to flush
        set_committed_value(timer, "incident", incident)
        queue_job(session, "fire_timer", timer.id)
    return incident, True


_IMPACT_RANK = {"minor": 1, "degraded": 2, "outage": 3}


def _classification_text(result: Classification) -> str:
    kind = "major incident" if result.major else "not major"
    return f"{result.severity} ({kind}), rule {result.rule}: " + " ".join(result.reasons)


def _declare(
    session: Session,
    policy: Policy,
    incident: Incident,
    *,
    actor: str | None,
    now: datetime,
    why: str,
) -> None:
    incident.major = True
    _apply(session, incident, "declare", actor=actor, now=now, why=f"declared major: {why}")
    incident.declared_at = incident.declared_at or now
    schedule_mobilisation(session, incident, now=now)


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


def ensure_mobilised(session: Session, policy: Policy, incident: Incident, now: datetime) -> None:
    """Someone acts on an incident whose mobilisation the worker has not run yet (an
    acknowledgement a moment after the declaration): run it here, first. Claiming the timer
    keeps it exactly-once: a worker that comes later finds it fired."""
    from hub.incidents import timer_actions

    for pending in timers.pending(incident, "mobilise"):
        timer = timers.claim(session, pending.id, now)
        if timer is not None:
            timer_actions.fire(session, policy, timer, now)


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
    fill_roles(session, policy, incident, now=now or declared_at)
    workflow.on_declared(session, policy, incident, now=now or declared_at, started=declared_at)
    return True


def fill_roles(session: Session, policy: Policy, incident: Incident, *, now: datetime) -> None:
    """Fill each empty role from the roster (tech lead from the first affected service)."""
    held = {r.role for r in incident.roles if r.active}
    for role in ROLE_NAMES:
        if role in held:
            continue
        person = first_on_duty(policy, role, incident.services)
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
                "from the roster",
            )
            add_timeline(
                session,
                incident,
                "role",
                f"{_role_label(role)}: {policy.people[person].name} ({source})",
                actor=None,
                now=now,
                data={"role": role, "person": person},
            )


def first_on_duty(
    policy: Policy, role: str, services: list[str] | tuple[str, ...], position: int = 1
) -> str | None:
    """The person at `position` (1-based) of the roster for a role."""
    roster = roster_for(policy, role, services)
    return roster[position - 1] if len(roster) >= position else None


def roster_for(policy: Policy, role: str, services) -> tuple[str, ...]:
    """People on duty for a role, in escalation order (the escalation core's rule)."""
    return roster(policy, role, services)


def _role_label(role: str) -> str:
    return role.replace("_", " ").capitalize()


def active_roles(incident: Incident, person: str | None = None) -> list[RoleAssignment]:
    """Current role holders (optionally only those of one person)."""
    return [r for r in incident.roles if r.active and (person is None or r.person == person)]


def acknowledge(
    session: Session, policy: Policy, incident: Incident, *, actor: str, now: datetime
) -> list[str]:
    """Acknowledge every role the actor holds; the MIM's acknowledgement mobilises."""
    if not lifecycle.is_active(incident.state):
        raise Conflict(
            f"{incident.ref} is {incident.state}; there is nothing to acknowledge",
            code="illegal_transition",
        )
    mine = active_roles(incident, actor) or _take_paged_role(session, policy, incident, actor, now)
    if not mine:
        raise Forbidden(
            f"{actor} holds no role in {incident.ref} and was not paged for one; "
            "only role holders and the people paged acknowledge"
        )
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
        f"{_name(policy, actor)} acknowledged as " + ", ".join(_role_label(r) for r in acked),
        actor=actor,
        now=now,
        data={"roles": acked},
    )
    if "major_incident_manager" in acked and incident.state == "declared":
        _apply(
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


def paged_role(incident: Incident, person: str | None) -> str | None:
    """The role the escalation paged this person for, if it is still open to them.

    A page is a call to take the role now; once the role has been given (re-assigned, or
    taken by someone else acknowledging their page) or its holder has acknowledged, an
    older page no longer counts.
    """
    given_since: set[str] = set()
    for entry in reversed(incident.timeline):
        data = entry.data or {}
        if entry.kind == "role" and data.get("role"):
            given_since.add(data["role"])
        elif entry.kind == "acknowledged":
            given_since.update(data.get("roles", ()))
        elif entry.kind in ("paged", "escalated"):
            for paged, role in data.get("paged", ()):
                if paged == person and role in ROLE_NAMES and role not in given_since:
                    return role
    return None


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
        f"{_role_label(role)}: {_name(policy, person)} ({how})",
        actor=actor,
        now=now,
        data={"role": role, "person": person, **data},
    )
    return assignment


def _name(policy: Policy, key: str | None) -> str:
    person = policy.people.get(key or "")
    return person.name if person else (key or "someone")


def post_update(
    session: Session, policy: Policy, incident: Incident, text: str, *, actor: str, now: datetime
) -> TimelineEntry:
    """A progress update; for a major incident it goes to the stakeholders."""
    text = (text or "").strip()
    if not text:
        raise Invalid("an update needs text")
    if incident.state in lifecycle.FINAL:
        raise Conflict(
            f"{incident.ref} is {incident.state}; updates are closed", code="illegal_transition"
        )
    entry = add_timeline(session, incident, "update", text, actor=actor, now=now)
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
    assignment = _give_role(
        session,
        policy,
        incident,
        role,
        person,
        actor=actor,
        now=now,
        how=f"assigned by {_name(policy, actor)}",
    )
    session.flush()
    workflow.on_role_assigned(session, policy, incident, assignment, now=now)
    return assignment


def classify_again(
    session: Session,
    policy: Policy,
    incident: Incident,
    severity: str,
    reason: str,
    *,
    actor: str,
    now: datetime,
) -> Incident:
    """A person's re-classification (upgrade, downgrade, accept or reject major) with a reason;
    the severity in any case (`sev2` is the policy's `SEV2`)."""
    if not (reason or "").strip():
        raise Invalid("re-classifying needs a reason")
    severity = next(
        (k for k in policy.severities if k.lower() == severity.strip().lower()), severity
    )
    if severity not in policy.severities:
        raise Invalid(
            f"unknown severity {severity!r}; severities are " + ", ".join(policy.severities)
        )
    if not lifecycle.is_active(incident.state):
        raise Conflict(
            f"{incident.ref} is {incident.state}; only active incidents are re-classified",
            code="illegal_transition",
        )
    current = _current_classification(incident)
    result = reclassify(current, severity, reason.strip(), policy)
    _set_classification(
        session,
        policy,
        incident,
        result,
        actor=actor,
        now=now,
        kind="reclassified",
        prefix=f"Re-classified by {_name(policy, actor)}",
    )
    return incident


def _current_classification(incident: Incident) -> Classification:
    return Classification(
        major=incident.major,
        severity=incident.severity,
        rule=incident.rule,
        reasons=tuple(incident.reasons or ()),
        services=tuple(incident.services or ()),
        impact=incident.impact,
        affected_users=incident.affected_users,
        security=incident.security,
        reporters=len({r.reporter for r in incident.reports}),
    )


def _set_classification(
    session: Session,
    policy: Policy,
    incident: Incident,
    result: Classification,
    *,
    actor: str | None,
    now: datetime,
    kind: str,
    prefix: str,
) -> None:
    old = incident.severity
    incident.severity, incident.rule = result.severity, result.rule
    incident.reasons = list(result.reasons)
    add_timeline(
        session,
        incident,
        kind,
        f"{prefix}: {old} → {result.severity}. " + " ".join(result.reasons),
        actor=actor,
        now=now,
        data={"from": old, "to": result.severity, "major": result.major},
    )
    if result.major and not incident.major:
        _declare(session, policy, incident, actor=actor, now=now, why=f"{prefix.lower()}")
    elif not result.major and incident.major:
        incident.major = False
        _apply(
            session, incident, "downgrade", actor=actor, now=now, why="no longer a major incident"
        )
        workflow.on_downgraded(session, policy, incident, now=now)
    elif incident.major and result.severity != old:  # an accepted severity re-plans nothing
        workflow.on_severity_changed(session, policy, incident, old, now=now)


def resolve(
    session: Session, policy: Policy, incident: Incident, summary: str, *, actor: str, now: datetime
) -> Incident:
    """Resolve; a major incident then waits for its post-incident review."""
    summary = (summary or "").strip()
    if not summary:
        raise Invalid("resolving needs a summary of what fixed it")
    _apply(session, incident, "resolve", actor=actor, now=now, why=summary)
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
    _apply(session, incident, event, actor=actor, now=now, why=why.strip())
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


def remaining(due: datetime, now: datetime) -> int:
    """Whole seconds until `due` (negative once passed)."""
    return int((due - now) // timedelta(seconds=1))
