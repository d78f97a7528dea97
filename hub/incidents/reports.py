"""Opening incidents from reports: classification, correlation with open incidents, first rows."""

from __future__ import annotations

from datetime import datetime
from functools import cache

from sqlalchemy import Connection, bindparam, insert, select
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from hub.app.context import queue_job
from hub.app.db import insert_loaded, new_loaded
from hub.app.models import Incident, ServiceReporter, TimelineEntry, Timer
from hub.app.models import Report as ReportRow
from hub.core import lifecycle
from hub.core.classify import (
    Classification,
    RelatedReport,
    Report,
    classify_report,
    find_services,
    resolve_services,
)
from hub.incidents import timers
from hub.incidents.classification import set_classification
from hub.incidents.records import transition
from hub.incidents.timeline import add_timeline
from hub.policy.model import Policy


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
            set_classification(
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
        tasks=[],
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
        text, data = transition(incident, "declare", f"declared major: rule {result.rule}")
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
