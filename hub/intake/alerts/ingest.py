"""Stored alert notifications into alerts, groups and incidents: dedupe by identity.

`accept` stores a notification (the request's part); `process_row` applies one (the
worker's, several per transaction: drain.py); `process` applies one by id.

An alert is identified by its source, receiver and fingerprint (Azure: its alertId), never by
its text; a group (Alertmanager's groupKey, one Azure alert) is one report, opened through
the classification and correlation of every other report (`hub.incidents.reports`). Repeats
only count; changes of state go on the timeline; when every alert of an incident has
resolved, the MIM is told (a major incident is never resolved by the hub) and a minor
incident opened by alerts alone resolves after the policy's quiet time (hub/intake/alerts/quiet.py).
"""

from __future__ import annotations

import json
import logging
import uuid
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from sqlalchemy import Connection, func, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from hub.app.context import Hub
from hub.app.models import Alert, AlertGroup, InboundMessage, Incident, TimelineEntry
from hub.app.models import Report as ReportRow
from hub.app.timefmt import local_hhmm
from hub.app.uow import UnitOfWork
from hub.core import lifecycle
from hub.core.classify import Report
from hub.core.permissions import MIM, holders
from hub.incidents import mobilisation as mob
from hub.incidents import reports, timers
from hub.incidents.timer_actions import ensure_mobilised
from hub.intake.alerts.mapping import Mapped, map_group
from hub.intake.alerts.parse import SOURCES, Notification, ParsedAlert, parse
from hub.intake.raw import bounded_key
from hub.notifications import notices
from hub.notifications import notify as n
from hub.policy.model import Policy, channel_names

log = logging.getLogger("hub.intake.alerts")
CHANNEL = "alerts"
TASK = "process_alerts"
GRACE = timedelta(minutes=2)  # stored but unprocessed this long: processing is retried
QUIET = "alerts-quiet"
CHUNK = 500
NOTE_EVERY = timedelta(minutes=1)  # new alerts of one group on the timeline at most this often


@dataclass(frozen=True)
class Result:
    id: int
    status: str
    outcome: str | None
    incident: str | None


_STORE = insert(InboundMessage.__table__).returning(InboundMessage.__table__.c.id)


def store(session: Session | Connection, source: str, name: str, raw: bytes, now: datetime) -> int:
    """Keep the payload as received (before anything reads it); its id. The worker applies
    it (`tasks/alerts.py`, drain.py); `stuck` finds it again if the wake-up is lost.
    One prepared INSERT: this is the whole of a storm's request."""
    row = {
        "channel": CHANNEL, "dedupe_key": f"{source}:{uuid.uuid4().hex}", "raw": raw,
        "received_at": now, "status": "received", "decisions": [], "envelope": {},
        "sender": f"{source}:{name}",
    }  # fmt: skip
    return session.execute(_STORE, row).scalar_one()


def accept(hub: Hub, source: str, name: str, raw: bytes, now: datetime) -> int:
    """Store the payload (committed before the answer) and ask the worker to apply it."""
    with hub.db.writing() as connection:  # no ORM session: the INSERT is the whole work
        ident = store(connection, source, name, raw, now)
    hub.enqueue_after_commit([(TASK, ident)], [])
    return ident


def process(hub: Hub, inbound_id: int, now: datetime) -> Result | None:
    """Apply a stored notification that is still `received`; None if there is none."""
    with hub.transaction() as session:
        row = session.get(InboundMessage, inbound_id, with_for_update=True)
        if row is None or row.channel != CHANNEL:
            return None
        if row.status == "received":
            process_row(session, hub.policy, row, now)
        ref = f"INC-{row.incident_id}" if row.incident_id else None
        return Result(row.id, row.status, row.outcome, ref)


def process_row(session: Session, policy: Policy, row: InboundMessage, now: datetime) -> None:
    uow = UnitOfWork.of(session)
    marks = len(uow.jobs), len(uow.timed_jobs)
    source, _, name = (row.sender or ":").partition(":")
    try:
        with session.begin_nested():
            note = parse(source, json.loads(row.raw))
            outcome, incident_id, text = apply(session, policy, source, name, note, now)
        row.status, row.outcome = "processed", outcome
        row.incident_id = incident_id if outcome != "repeat" else None  # a storm's re-sends: counts
        row.decisions = [{"step": "alerts", "decision": outcome, "reason": text[:2000]}]
    except Exception as exc:
        log.exception("alerts #%s: processing failed; the raw payload is kept", row.id)
        del uow.jobs[marks[0] :], uow.timed_jobs[marks[1] :]
        row.status, row.outcome = "failed", None
        row.decisions = [{"step": "error", "decision": "failed", "reason": f"{exc!r}"[:2000]}]
    row.processed_at = now


def apply(
    session: Session, policy: Policy, source: str, name: str, note: Notification, now: datetime
) -> tuple[str, int | None, str]:
    """(outcome, incident id, what happened) for one notification."""
    group = _group(session, source, name, note, now)
    seen = _upsert_alerts(session, policy, group, source, name, note, now)
    mapped = map_group(policy, note.alerts)
    incident = session.get(Incident, group.incident_id) if group.incident_id else None
    active = incident is not None and incident.state in lifecycle.ACTIVE
    firing = seen.fired + [a for a in seen.refired if not a.flapping]
    outcome = "updated" if (seen.fired or seen.refired or seen.resolved) else "repeat"
    if not active and mapped.service and firing:
        incident, created = _open(session, policy, source, name, note, mapped, now)
        group.incident_id, group.service, group.impact = incident.id, mapped.service, mapped.impact
        group.rule = mapped.rule
        session.execute(
            update(Alert).where(Alert.group_id == group.id).values(incident_id=incident.id)
        )
        outcome = "created" if created else "correlated"
        group.noted_at, group.unnoted = now, 0
        _first_alert(session, incident, note, source, name, created, now)
    elif not active:
        if incident is not None and seen.refired and all(a.flapping for a in seen.refired):
            outcome = "flapping"  # fired again after its incident ended: marked, not re-declared
        elif not mapped.service:
            outcome = "recorded"
        incident = None
    elif active:
        _note_changes(session, incident, group, seen, source, name, now)
    if incident is not None and active and seen.resolved:
        _check_all_resolved(session, policy, incident, now)
    _group_state(session, group, seen, now)
    text = f"{len(note.alerts)} alert(s): {seen.describe()}; {mapped.why}"
    return outcome, incident.id if incident is not None else None, text


def _insert(session: Session):
    dialect = session.get_bind().dialect.name
    return pg_insert if dialect == "postgresql" else sqlite_insert


def _group(session: Session, source: str, name: str, note: Notification, now: datetime):
    key = bounded_key(f"{source}|{name}|{note.receiver}|{note.group_key}")
    values = {
        "key": key, "source": source, "source_name": name, "title": note.title[:300],
        "state": note.status, "receipts": 0, "first_at": now, "last_at": now,
    }  # fmt: skip
    locked = select(AlertGroup).where(AlertGroup.key == key).with_for_update()
    group = session.scalars(locked).one_or_none()  # locked: one writer per group at a time
    if group is None:  # a new group (a storm's later notifications skip building the INSERT)
        stmt = _insert(session)(AlertGroup.__table__).values(**values)
        session.execute(stmt.on_conflict_do_nothing(index_elements=["key"]))
        group = session.scalars(locked).one()
    group.receipts += 1
    group.last_at = now
    return group


@dataclass
class Seen:
    fired: list = None  # new alerts, firing
    refired: list = None  # resolved alerts firing again
    resolved: list = None  # firing alerts now resolved
    flapping: list = None  # marked flapping now
    repeats: int = 0

    def describe(self) -> str:
        counts = (("new firing", self.fired), ("fired again", self.refired),
                  ("resolved", self.resolved), ("flapping", self.flapping))  # fmt: skip
        parts = [f"{len(v)} {label}" for label, v in counts if v]
        return ", ".join(parts + [f"{self.repeats} repeat(s)"])


def identity(source: str, name: str, receiver: str, fingerprint: str) -> str:
    """An alert's identity: source, its name, receiver and fingerprint (Azure: alertId)."""
    return bounded_key(f"{source}|{name}|{receiver}|{fingerprint}")


def _upsert_alerts(session, policy, group, source, name, note, now) -> Seen:
    wanted: dict[str, ParsedAlert] = {}
    for alert in note.alerts:  # one alert twice in a payload: the last word counts
        wanted[identity(source, name, note.receiver, alert.fingerprint)] = alert
    keys = list(wanted)
    existing: dict[str, Alert] = {}
    for i in range(0, len(keys), CHUNK):
        for row in session.scalars(select(Alert).where(Alert.identity.in_(keys[i : i + CHUNK]))):
            existing[row.identity] = row
    seen = Seen([], [], [], [])
    new_rows = []
    for key, a in wanted.items():
        old = existing.get(key)
        if old is None:
            new_rows.append(_new_row(key, group, a, now))
            if a.state == "firing":
                seen.fired.append(new_rows[-1])
            continue
        old.receipts += 1
        old.last_seen = now
        if a.link:
            old.link = a.link
        stale = a.state == "firing" and a.starts_at == old.starts_at and old.ends_at is not None
        if a.state == old.state or stale:
            seen.repeats += 1
            continue
        old.state = a.state
        if a.state == "resolved":
            old.ends_at = a.ends_at or now
            seen.resolved.append(old)
            continue
        old.fired += 1
        old.starts_at, old.ends_at = a.starts_at, None
        seen.refired.append(old)
        if not old.flapping and old.fired >= policy.alerts.flapping_after:
            old.flapping = True
            seen.flapping.append(old)
    if new_rows:
        stmt = _insert(session)(Alert.__table__).on_conflict_do_nothing(index_elements=["identity"])
        for i in range(0, len(new_rows), CHUNK):
            session.execute(stmt, new_rows[i : i + CHUNK])
    seen.fired = [_Row(r) for r in seen.fired]
    return seen


class _Row:
    """A new alert's inserted values, read like an Alert."""

    def __init__(self, values: dict):
        self.__dict__.update(values)


def _new_row(key: str, group: AlertGroup, a: ParsedAlert, now: datetime) -> dict:
    return {
        "identity": key, "group_id": group.id, "incident_id": group.incident_id,
        "fingerprint": a.fingerprint, "state": a.state, "summary": a.summary, "labels": a.labels,
        "link": a.link, "starts_at": a.starts_at, "ends_at": a.ends_at if a.state == "resolved"
        else None, "first_seen": now, "last_seen": now, "receipts": 1,
        "fired": 1 if a.state == "firing" else 0, "flapping": False,
    }  # fmt: skip


def _open(session, policy, source, name, note, mapped: Mapped, now):
    firing = [a for a in note.alerts if a.state == "firing"]
    lines = [f"- {a.summary}" for a in firing[:20]]
    more = f"\n… and {len(firing) - 20} more" if len(firing) > 20 else ""
    text = f"{len(firing)} alert(s) firing from {name} ({source}):\n" + "\n".join(lines) + more
    report = Report(
        title=note.title or firing[0].summary or "Monitoring alert",
        text=text,
        services=(mapped.service,),
        impact=mapped.impact,
        security=False,  # an alert's words ("leak", "breach") say nothing about security
        source=source,
        reporter=name,
    )
    classified = reports.classify_new(session, policy, report, now)
    hint = policy.severities.get(mapped.severity or "")
    if hint is not None and hint.rank < policy.severities[classified.severity].rank:
        classified = replace(
            classified,
            severity=hint.key,
            major=hint.major,
            rule=f"alerts:{mapped.rule}"[:120],
            reasons=(*classified.reasons, f"The alerts rule {mapped.rule} asks for {hint.key}."),
        )
    return reports.create_incident(
        session, policy, report, actor=None, now=now, description=text, classified=classified
    )


def _entry(session, incident, kind, text, now, data, *, touch: bool = True) -> None:
    """One timeline entry as a plain INSERT: in a storm the incident's timeline is not loaded
    for every notification (add_timeline appends to the loaded collection)."""
    session.execute(
        insert(TimelineEntry.__table__).values(
            incident_id=incident.id, at=now, kind=kind, actor=None, text=text, data=data
        )
    )
    if touch:
        incident.updated_at = max(now, incident.updated_at or now)


def _first_alert(session, incident, note, source, name, created, now) -> None:
    """The first alert's time on the timeline: time to detect counts from it."""
    starts = [a.starts_at for a in note.alerts if a.state == "firing" and a.starts_at]
    first = min(starts, default=now)
    firing = sum(1 for a in note.alerts if a.state == "firing")
    kind = "first-alert" if created else "alert"
    text = (
        f"{firing} alert(s) firing from {name} ({source}), the first since "
        f"{first.isoformat(timespec='seconds')}: {note.title}"
    )
    data = {"source": source, "name": name, "first_alert_at": first.isoformat()}
    _entry(session, incident, kind, text, min(first, now) if created else now, data)


def _note_changes(session, incident, group: AlertGroup, seen: Seen, source, name, now) -> None:
    """Changes on the timeline; new alerts of a group at most once a minute (a storm's
    thousands are counted, not listed)."""

    def some(alerts):
        listed = "; ".join(a.summary or a.fingerprint for a in alerts[:3])
        return listed + (f" and {len(alerts) - 3} more" if len(alerts) > 3 else "")

    group.unnoted = (group.unnoted or 0) + len(seen.fired)
    fired = []
    if group.unnoted and (group.noted_at is None or now - group.noted_at >= NOTE_EVERY):
        fired, group.noted_at = seen.fired, now
    for kind, alerts, what in (
        ("alert", fired, "fired"),
        ("alert", [a for a in seen.refired if not a.flapping], "fired again"),
        ("alert-resolved", seen.resolved, "resolved"),
        ("alert-flapping", seen.flapping, "marked flapping (fire and resolve repeatedly; "
         "not declared again)"),
    ):  # fmt: skip
        if not alerts:
            continue
        count = group.unnoted if alerts is fired else len(alerts)
        text = f"{count} alert(s) {what} ({name}): {some(alerts)}"
        if alerts is fired and count > len(fired):
            text = f"{count} new alert(s) fired since the last note ({name}), e.g. {some(alerts)}"
        data = {"source": source, "name": name, "count": count}
        _entry(session, incident, kind, text, now, data, touch=kind != "alert-resolved")
    if fired:
        group.unnoted = 0


def _group_state(session: Session, group: AlertGroup, seen: Seen, now: datetime) -> None:
    if seen.fired or seen.refired:
        firing = True
    elif not seen.resolved:
        return  # repeats: no change
    else:
        firing = session.scalar(
            select(func.count()).where(Alert.group_id == group.id, Alert.state == "firing")
        )
    if firing and group.state != "firing":
        group.state, group.resolved_at = "firing", None
    elif not firing and group.state != "resolved":
        group.state, group.resolved_at = "resolved", now


def _check_all_resolved(session: Session, policy: Policy, incident: Incident, now: datetime):
    counts = dict(
        session.execute(
            select(Alert.state, func.count())
            .where(Alert.incident_id == incident.id)
            .group_by(Alert.state)
        ).all()
    )
    if counts.get("firing"):
        return
    total = sum(counts.values())
    at = local_hhmm(now, policy.timezone)
    if incident.major:
        ensure_mobilised(session, policy, incident, now)
        people = holders(incident, MIM)
        text = (
            f"All {total} alerts resolved at {at}; resolve the incident? (the hub does not "
            "resolve a major incident by itself)"
        )
        _entry(session, incident, "alerts-resolved", text, now, {"total": total})
        ctx = mob.context(session, policy, incident, now, alerts={"total": total, "at_local": at})
        n.notify(
            session,
            mob.settings_of(session),
            policy,
            incident,
            "alerts-resolved",
            f"alerts-resolved:{incident.ref}:{now.isoformat()}",
            notices.person_recipients(policy, people, channel_names()),
            ctx,
            now,
        )
        return
    others = session.scalar(
        select(func.count()).where(
            ReportRow.incident_id == incident.id, ReportRow.source.not_in(SOURCES)
        )
    )
    quiet = policy.alerts.quiet_time
    text = f"All {total} alerts resolved at {at}"
    if not others:
        key = timers.timer_key(QUIET, incident, int(now.timestamp()))
        timers.schedule(session, incident, key, QUIET, now + quiet, {"total": total}, now=now)
        text += f"; the incident resolves itself if they stay quiet until {local_hhmm(now + quiet, policy.timezone)}"
    _entry(session, incident, "alerts-resolved", text, now, {"total": total})


def stuck(session: Session, now: datetime, limit: int = 1000) -> list[int]:
    """Stored notifications whose processing never ran (the process stopped in between)."""
    return list(
        session.scalars(
            select(InboundMessage.id)
            .where(
                InboundMessage.channel == CHANNEL,
                InboundMessage.status == "received",
                InboundMessage.received_at <= now - GRACE,
            )
            .order_by(InboundMessage.id)
            .limit(limit)
        )
    )
