"""Opening incidents from reports: classification, correlation with open incidents, first rows."""

from __future__ import annotations

from contextlib import nullcontext
from datetime import datetime, timedelta
from functools import cache

from sqlalchemy import (
    Connection,
    String,
    bindparam,
    cast,
    distinct,
    func,
    insert,
    inspect,
    or_,
    select,
)
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from hub.app.context import queue_job
from hub.app.db import insert_loaded, new_loaded
from hub.app.errors import Invalid
from hub.app.models import Incident, ServiceReporter, TimelineEntry, Timer
from hub.app.models import Report as ReportRow
from hub.core import lifecycle
from hub.core.catalogue import unknown_services_message
from hub.core.classify import (
    Classification,
    Report,
    ReporterCount,
    classify_report,
    reporter_identity,
    resolve_services,
    security_keyword,
)
from hub.core.correlate import Decision, OpenIncident, correlate
from hub.core.correlate import Report as CorrelatedReport
from hub.incidents import timers
from hub.incidents.classification import set_classification
from hub.incidents.records import locked_incident, transition
from hub.incidents.timeline import add_timeline
from hub.policy.model import Policy


def require_known_services(names, policy: Policy) -> None:
    """Refuse explicit service names the catalogue does not know (422, with "did you mean")."""
    _keys, unknown = resolve_services(tuple(names), policy)
    if unknown:
        raise Invalid(unknown_services_message(unknown, policy), code="unknown_service")


def _unflushed(session: Session | Connection):
    """A Session's `no_autoflush`; nothing for a Connection (it has no pending rows)."""
    return session.no_autoflush if isinstance(session, Session) else nullcontext()


_SEEN = ServiceReporter.__table__
_OTHER_REPORTERS = select(func.count(distinct(_SEEN.c.reporter))).where(
    _SEEN.c.service.in_(bindparam("services", expanding=True)),
    _SEEN.c.last_at >= bindparam("since"),
    _SEEN.c.last_at <= bindparam("now"),
    _SEEN.c.reporter != bindparam("me"),
)


def reporter_count(session: Session | Connection, now: datetime) -> ReporterCount:
    """The "several reporters" count of `classify_report`, in the database: each reporter's
    latest report per service is a row of `service_reporters` (kept by person, see
    `note_reporters`), counted there, so a storm's hundreds of reporters are not read."""

    def count(me: str | None, services: tuple[str, ...], window: timedelta) -> int:
        params = {
            "services": sorted({key[:200] for key in services}),
            "since": now - window,
            "now": now,
            "me": (me or "").strip().lower()[:320],  # as `note_reporters` keeps it
        }
        # the table is written by INSERT at once: the session's pending rows do not count
        with _unflushed(session):
            return (session.scalar(_OTHER_REPORTERS, params) or 0) + 1

    return count


def note_reporters(
    session: Session, policy: Policy, services, reporter: str | None, at: datetime
) -> None:
    """Record a report in `service_reporters`: the reporter's latest report of each service,
    by person (an address of someone in the roster counts as that person)."""
    who = reporter_identity(reporter, policy)
    if not who or not services:
        return
    rows = [
        {"service": key[:200], "reporter": who.strip().lower()[:320], "last_at": at}
        for key in sorted(set(services))
    ]  # one order for every writer: no deadlocks
    # on the connection: the session's pending rows need not be flushed before it
    session.connection().execute(_upsert_statement(session.get_bind().dialect.name), rows)


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


_KINDS: list = [None, {}]  # [policy, {open incident's text: its security kind}]
_KINDS_MAX = 1024


def _security_kind(text: str, policy: Policy) -> str | None:
    """`security_keyword` of an open incident's text, remembered while the policy stands:
    every report is compared with every open incident, whose text rarely changes."""
    known_for, kinds = _KINDS
    if known_for is not policy:
        kinds = {}
        _KINDS[:] = [policy, kinds]
    elif len(kinds) >= _KINDS_MAX:
        kinds.clear()
    if text not in kinds:
        kinds[text] = security_keyword(text, policy)
    return kinds[text]


# services as written by the JSON type: "[]" (none) or "null"; NULL fails NOT IN as well
_ABOUT_SOMETHING = or_(
    Incident.security.is_(True), cast(Incident.services, String).not_in(["[]", "null"])
)


_CORRELATION_READS = ("state", "title", "description", "services", "security", "created_at")


def _read_columns_changed(session: Session) -> bool:
    """Whether the session holds a new incident of its own or a change, not yet written, to
    a column the correlation reads (an incident resolved earlier in the same transaction)."""
    if any(isinstance(obj, Incident) for obj in session.new):
        return True
    for obj in session.dirty:
        if isinstance(obj, Incident):
            attrs = inspect(obj).attrs
            if any(attrs[name].history.has_changes() for name in _CORRELATION_READS):
                return True
    return False


def correlation(
    session: Session | Connection, policy: Policy, result: Classification, now: datetime
) -> Decision:
    """Which open incident a classified report would join, or the possibly related ones.

    Only an incident about some service, or a security one, can be either (`correlate`):
    a report about no service, naming none and not about security has none to look at, and
    the others look only at those (a desk's many open one-off tickets are not read)."""
    if not (result.services or result.mentioned or result.security):
        return Decision(None, "", ())
    since = now - policy.intake.correlation_window
    stmt = (
        select(Incident.id, Incident.title, Incident.description)
        .add_columns(Incident.services, Incident.security, Incident.created_at)
        .where(Incident.state.in_(lifecycle.ACTIVE))
        .where(Incident.created_at >= since)
        .where(_ABOUT_SOMETHING)
        .order_by(Incident.id.desc())
    )
    # Without a flush first unless the session changed what is read here: a new incident is
    # INSERTed at once (`insert_loaded`), and the email worker's transactions, which run many
    # reports, touch incidents without changing these columns (a flush before each report's
    # correlation was most of the worker's flushing).
    if isinstance(session, Session) and _read_columns_changed(session):
        session.flush()
    with _unflushed(session):
        found = session.execute(stmt).all()
    candidates = [
        OpenIncident(
            id=i.id,
            ref=f"INC-{i.id}",
            title=i.title,
            services=tuple(i.services or ()),
            security=bool(i.security),
            # its kind matters only when both are security reports (see `same_problem`)
            security_kind=(
                _security_kind(f"{i.title}\n{i.description or ''}", policy) if i.security else None
            ),
            created_at=i.created_at,
        )
        for i in found
    ]
    if not candidates:
        return Decision(None, "", ())
    report = CorrelatedReport(
        services=result.services,
        mentioned=result.mentioned,
        impact=result.impact,
        security=result.security,
        security_kind=result.security_kind,
    )
    return correlate(report, candidates, policy.intake.correlation_window, now)


def _correlate(
    session: Session, policy: Policy, result: Classification, now: datetime
) -> tuple[Incident | None, Decision]:
    """The open incident the report joins (locked), or the possibly related ones."""
    decision = correlation(session, policy, result, now)
    if decision.join is None:
        return None, decision
    # locked before it is changed (PostgreSQL: two reports at once both raise it)
    joined = locked_incident(session, decision.join.id)
    return joined, decision


def joined_because(session: Session, incident: Incident, reporter: str | None) -> str:
    """Why the reporter's latest report joined the incident, as the timeline says."""
    entry = session.scalars(
        select(TimelineEntry)
        .where(TimelineEntry.incident_id == incident.id, TimelineEntry.kind == "report")
        .where(TimelineEntry.actor == reporter)
        .order_by(TimelineEntry.id.desc())
        .limit(1)
    ).first()
    return (entry.data or {}).get("reason", "") if entry else ""


def classify_new(
    session: Session | Connection, policy: Policy, report: Report, now: datetime
) -> Classification:
    """Classify a report against the policy and the recent reports of its services (reads only)."""
    return classify_report(report, policy, now=now, reporters=reporter_count(session, now))


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
    move_report: ReportRow | None = None,
    inbound_id: int | None = None,
    joined: dict | None = None,
) -> tuple[Incident, bool]:
    """Classify a report and open an incident, or attach it to a correlated one.

    `classified`: the report's classification made beforehand (`classify_new` in a read
    transaction), so that a writer holding SQLite's one write lock does not spend it there;
    another report counted a moment later only changes the "several reporters" criterion,
    and correlation with an open incident is still decided here, under the lock.
    `move_report`: an existing report row that becomes the new incident's (a split).
    `inbound_id`: the stored message the report came in (its report row records it).
    `joined`: given, holds `reason` when the report joins an open incident (the timeline's
    words). Returns (incident, created).
    """
    result = classified or classify_new(session, policy, report, now)
    existing, decision = (
        _correlate(session, policy, result, now) if correlate else (None, Decision(None, "", ()))
    )
    report_row = {
        "source": report.source,
        "reporter": report.reporter,
        "title": report.title,
        "text": report.text or description,
        "services": list(result.services),
        "at": now,
        "inbound_id": inbound_id,
    }
    if existing is not None:
        if joined is not None:
            joined["reason"] = decision.reason
        note_reporters(session, policy, result.services, report.reporter, now)
        session.add(ReportRow(incident=existing, **report_row))
        add_timeline(
            session,
            existing,
            "report",
            f"Another report by {report.reporter or 'someone'} via {report.source}: "
            f"{report.title} (joined: {decision.reason})",
            actor=report.reporter,
            now=now,
            data={"reporters": result.reporters, "reason": decision.reason},
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
    entries += [
        ("related", f"Possibly related to {other.ref} ({other.title}): {why}", None, _link(other))
        for other, why in decision.related
    ]
    if result.major:  # declared before the first INSERT: the row goes in as it ends up
        incident.major, incident.declared_at = True, now
        text, data = transition(incident, "declare", f"declared major: rule {result.rule}")
        entries.append(("state", text, actor or report.reporter, data))
    # Plain INSERTs, not the session's unit of work (several times the cost on this, the
    # hottest write path): the incident goes to the session as if loaded, its report and
    # first timeline entries are left in the database for a later look to load.
    insert_loaded(session, incident)
    connection = session.connection()  # no flush of the session's pending rows first
    if move_report is None:
        connection.execute(
            insert(ReportRow.__table__), [{"incident_id": incident.id, **report_row}]
        )
    else:
        move_report.incident, move_report.services = incident, list(result.services)
    connection.execute(
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
    for other, why in decision.related:
        with session.no_autoflush:  # by number: nothing pending need be written first
            linked = session.get(Incident, other.id)
        add_timeline(
            session,
            linked,
            "related",
            f"Possibly related: {incident.ref} ({incident.title}) opened: {why}",
            actor=None,
            now=now,
            data={"ref": incident.ref, "id": incident.id, "reason": why},
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
    # Last: the upsert locks the (service, reporter) row until the commit, and reports by one
    # reporter about one service (an integration with one token) queue on it; taken first,
    # it was held over every statement above and serialised them across web processes.
    note_reporters(session, policy, result.services, report.reporter, now)
    return incident, True


def _link(other: OpenIncident) -> dict:
    return {"ref": other.ref, "id": other.id}


_IMPACT_RANK = {"minor": 1, "degraded": 2, "outage": 3}


def _classification_text(result: Classification) -> str:
    kind = "major incident" if result.major else "not major"
    return f"{result.severity} ({kind}), rule {result.rule}: " + " ".join(result.reasons)
