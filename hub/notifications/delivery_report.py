"""What people see of a notice's delivery: per event and audience, how many of how many went out,
in how long, what failed and why, what is pending, and when a queue will be through.

"Executives: 1,203 of 1,205 delivered in 41 s, 2 failed (mailbox full), 0 pending". Counts are
of recipients (the rows of people and addresses; a batch's one message counts its members);
queues are of messages (what a rate limit counts). The expected finish of what is pending is
computed from the queue ahead of it and its endpoint's limit (a Graph mailbox's
HUB_GRAPH_SEND_PER_MINUTE, a Teams webhook's HUB_TEAMS_WEBHOOK_RATE, a bot conversation's
HUB_TEAMS_BOT_RATE), and, for an endpoint without a limit (an SMTP relay), from the rate at which
this audience's messages went out so far. It is shown when the queue is throttled (more than
one message waits for a limited endpoint, or the provider said to come back later) or the
delivery is later than `LATE_AFTER` after its event.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from functools import partial

from sqlalchemy import case, func, or_, select
from sqlalchemy.orm import Session

from hub.app.models import Incident, Notification
from hub.app.redact import redact_text
from hub.app.timefmt import iso, local_hhmmss
from hub.notifications import batches, priority
from hub.policy.model import Policy, audience_words

LATE_AFTER = timedelta(minutes=1)
WAITING = ("pending", "sending")
NOT_COUNTED = ("superseded",)  # replaced by a newer message before it went out
LABELS = {"responders": "Responders", "subscribers": "Subscribers", None: "People"}
NOTICE_NAMES = {  # what a notice is, in words (others: the template's name as a phrase)
    "page": "Page",
    "escalation": "Escalation page",
    "incident-declared": "Declared",
    "stakeholder-update": "Stakeholder update",
    "no-change-update": 'Automatic "no change" update',
    "update-draft": "Draft sent for approval",
    "page-undeliverable": "Page that reached nobody",
    "sla-warning": "SLA warning",
    "sla-breach": "SLA breached",
}
_CODE = re.compile(r"\b[45]\d\d[ -](?:[45]\.\d{1,3}\.\d{1,3}\s+)?(?P<text>.+)$")


def short_reason(error: str | None, status: str) -> str:
    """A failure as a few words: the provider's text after its status codes, else the start."""
    if status == "suppressed":
        return "address suppressed after a bounce"
    text = redact_text(error or "no reason recorded").strip()
    found = _CODE.search(text.splitlines()[0] if text else "")
    said = found.group("text") if found else text
    said = said.split(": ", 1)[1] if said.startswith("refused: ") else said
    return said.strip()[:80] or "no reason recorded"


@dataclass
class Queue:
    """A limited endpoint's queue as seen from one audience's last waiting message."""

    ahead: int  # messages to send up to and including that one
    rate: float  # messages per second
    limit: str  # how the limit reads, e.g. "Graph: 30 messages a minute per mailbox"
    blocked_until: datetime | None = None  # the provider said: not before this


@dataclass
class AudienceDelivery:
    """One audience's share of one event's notice."""

    audience: str | None
    label: str
    total: int = 0
    delivered: int = 0
    failed: int = 0
    pending: int = 0
    skipped: int = 0  # not sent on purpose: e.g. its subscriber unsubscribed while it waited
    skipped_reasons: list[tuple[str, int]] = field(default_factory=list)
    messages: int = 0  # messages carrying them (a BCC batch is one)
    messages_pending: int = 0
    reasons: list[tuple[str, int]] = field(default_factory=list)
    started_at: datetime | None = None
    last_sent_at: datetime | None = None
    elapsed_s: float | None = None  # event to last delivery (so far)
    expected_finish_at: datetime | None = None
    throttled: bool = False
    limit: str | None = None
    late: bool = False

    def line(self, shown_time) -> str:
        """The summary sentence; `shown_time(datetime)` formats the expected finish."""
        done = f"{self.delivered:,} of {self.total:,} delivered"
        if self.elapsed_s is not None and self.delivered:
            done += f" in {_duration(self.elapsed_s)}" if not self.pending else " so far"
        failed = f"{self.failed:,} failed"
        if self.reasons:
            failed += " (" + ", ".join(_reason(r, n, len(self.reasons)) for r, n in self.reasons)
            failed += ")"
        text = f"{self.label}: {done}, {failed}, {self.pending:,} pending"
        if self.skipped:
            why = ", ".join(
                _reason(r, n, len(self.skipped_reasons)) for r, n in self.skipped_reasons
            )
            text += f", {self.skipped:,} not sent ({why})"
        if self.expected_finish_at is not None and (self.throttled or self.late):
            text += f"; expected to finish at {shown_time(self.expected_finish_at)}"
            if self.limit and self.throttled:
                text += f" ({self.limit})"
        elif self.late and not self.pending and self.elapsed_s is not None:
            text += f"; late: the last went out {_duration(self.elapsed_s)} after the event"
        return text

    def as_json(self) -> dict:
        doc = asdict(self)
        doc["reasons"] = [{"reason": r, "count": n} for r, n in self.reasons]
        doc["skipped_reasons"] = [{"reason": r, "count": n} for r, n in self.skipped_reasons]
        for key in ("started_at", "last_sent_at", "expected_finish_at"):
            doc[key] = iso(doc[key])
        return doc


@dataclass
class EventDelivery:
    """One event's notice (an update, a declaration, a page) and its audiences."""

    event: str
    template: str
    at: datetime
    audiences: list[AudienceDelivery]

    @property
    def name(self) -> str:
        """What the notice is, for people ("Stakeholder update", not `stakeholder-update`)."""
        return notice_name(self.template)

    def as_json(self, shown_time) -> dict:
        return {
            "event": self.event,
            "template": self.template,
            "at": iso(self.at),
            "audiences": [{**a.as_json(), "summary": a.line(shown_time)} for a in self.audiences],
        }


def notice_name(template: str) -> str:
    """A notice's template as words ("Stakeholder update", not `stakeholder-update`)."""
    return NOTICE_NAMES.get(template) or template.replace("-", " ").capitalize()


def audience_label(audience: str | None, policy: Policy | None = None) -> str:
    """An audience as people read it: the policy's `name:` for it, else its key in words
    ("It staff" for `it-staff`); "People" for none."""
    if audience in LABELS:
        return LABELS[audience]
    return policy.audience_name(audience) if policy is not None else audience_words(audience)


def event_of(key: str) -> str:
    """The event part of an idempotency key (`event|recipient|channel`)."""
    return key.rsplit("|", 2)[0]


def summarize(
    rows: list, now: datetime, queues: dict[int, Queue] | None = None, policy: Policy | None = None
) -> list[EventDelivery]:
    """Per event (oldest first) and audience: the counts, times and expected finish.

    `queues`: for waiting messages on limited endpoints (by row id), their queue; without it
    (or for other rows) the expected finish follows this audience's own pace. A row may stand
    for `n` rows alike (`summary_groups`: same event, audience, status, reason and kind), its
    `sent_at` the latest of them and `first_sent_at` the earliest."""
    queues = queues or {}
    events: dict[str, list] = {}
    for row in rows:
        if row.status not in NOT_COUNTED:
            events.setdefault(event_of(row.key), []).append(row)
    out = []
    for event, found in events.items():
        groups: dict[str | None, list] = {}
        for row in found:
            groups.setdefault(row.audience, []).append(row)
        audiences = [_audience(a, g, now, queues, policy) for a, g in groups.items()]
        audiences.sort(key=lambda a: (a.audience in LABELS, a.label))
        at = min(r.created_at for r in found)
        out.append(EventDelivery(event, found[0].template, at, audiences))
    return sorted(out, key=lambda e: e.at)


def _audience(audience, rows, now, queues, policy) -> AudienceDelivery:
    report = AudienceDelivery(audience, audience_label(audience, policy))
    units = [r for r in rows if batches.is_batch(r) or r.batch_id is None]
    people = [r for r in rows if not batches.is_batch(r)]
    start = min(r.created_at for r in rows)
    report.started_at, report.total = start, sum(_n(r) for r in people)
    report.messages = sum(_n(r) for r in units)
    reasons: Counter = Counter()
    skipped: Counter = Counter()
    for row in people:
        n = _n(row)
        if row.status == "sent":
            report.delivered += n
        elif row.status == "skipped":
            report.skipped += n
            skipped[row.last_error or "no reason recorded"] += n
        elif row.status in ("failed", "suppressed"):
            report.failed += n
            reasons[short_reason(row.last_error, row.status)] += n
        else:
            report.pending += n
    report.reasons = reasons.most_common(3)
    report.skipped_reasons = skipped.most_common(3)
    sent = [r.sent_at for r in people if r.sent_at is not None]
    report.last_sent_at = max(sent) if sent else None
    finished = report.last_sent_at if not report.pending else now
    report.elapsed_s = (
        max(0.0, (finished - start).total_seconds()) if sent or report.pending else None
    )
    waiting = [r for r in units if r.status in WAITING]
    report.messages_pending = sum(_n(r) for r in waiting)
    if report.pending:
        report.expected_finish_at, report.throttled, report.limit = _finish(
            waiting, units, start, now, queues
        )
    report.late = (report.expected_finish_at or report.last_sent_at or start) - start > LATE_AFTER
    return report


def _finish(waiting, units, start, now, queues):
    """When the last waiting message should go out, whether a limit holds it, and the limit."""
    later = [r.next_attempt_at for r in waiting if r.next_attempt_at and r.next_attempt_at > now]
    finish, throttled, limit = now, bool(later), None
    limited = [queues[r.id] for r in waiting if r.id in queues]
    for q in limited:
        begin = max(now, q.blocked_until or now)
        finish = max(finish, begin + timedelta(seconds=q.ahead / q.rate))
        throttled = throttled or q.ahead > 1 or begin > now
        limit = q.limit
    unlimited = sum(_n(r) for r in waiting if r.id not in queues)
    if unlimited:
        sent = [r for r in units if r.status == "sent" and r.sent_at]
        count = sum(_n(r) for r in sent)
        if count:  # this audience's own pace so far: from its first delivery, once it began
            last = max(r.sent_at for r in sent)
            first = min(getattr(r, "first_sent_at", None) or r.sent_at for r in sent)
            first = first if count > 1 else start
            pace = max((last - first).total_seconds(), 0.001) / max(1, count - 1)
            if count == 1:
                pace = max((last - start).total_seconds(), 0.001)
            finish = max(finish, max(now, last) + timedelta(seconds=pace * unlimited))
        if later:
            finish = max(finish, max(later))
    return finish, throttled, limit


def _n(row) -> int:
    """How many rows `row` stands for (a group of `summary_groups`, else one)."""
    return getattr(row, "n", 1)


def _reason(reason: str, count: int, kinds: int) -> str:
    return reason if kinds == 1 else f"{count:,} {reason}"


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


# -- the queues of limited endpoints, from the database --------------------------------------


def endpoint_limit(settings, row) -> tuple[str, float, str] | None:
    """(endpoint key, messages per second, how the limit reads) of a waiting row, or None."""
    if row.channel == "email":
        if settings.text("HUB_MAIL_TRANSPORT").lower() != "graph":
            return None
        per_minute = float(settings["HUB_GRAPH_SEND_PER_MINUTE"])
        return "email", per_minute / 60.0, f"Graph: {per_minute:g} messages a minute per mailbox"
    if row.channel == "teams":
        rate = float(settings["HUB_TEAMS_WEBHOOK_RATE"])
        return f"teams:{row.recipient}", rate, f"Teams webhook: {rate:g} messages a second"
    if row.channel == "bot":
        rate = float(settings["HUB_TEAMS_BOT_RATE"])
        return f"bot:{row.recipient}", rate, f"Teams bot: {rate:g} messages a second per chat"
    return None


def queues_for(session: Session, settings, rows: list, now: datetime) -> dict[int, Queue]:
    """For each audience's last waiting message on a limited endpoint: the messages ahead of
    it there (every incident's, in delivery order) and when the provider lets it send again."""
    last: dict[tuple, Notification] = {}
    out = {}
    for row in rows:
        if row.status not in WAITING or (row.batch_id is not None and not batches.is_batch(row)):
            continue
        found = endpoint_limit(settings, row)
        if found is None:
            continue
        out[row.id] = Queue(0, found[1], found[2])  # covered by its group's last message
        group = (event_of(row.key), row.audience, found[0])
        if group not in last or (priority.rank(row.template), row.id) > (
            priority.rank(last[group].template),
            last[group].id,
        ):
            last[group] = row
    ranked = priority.order_by()[0]
    for row in last.values():
        _, rate, limit = endpoint_limit(settings, row)
        rank = priority.rank(row.template)
        where = [
            Notification.status.in_(WAITING),
            Notification.channel == row.channel,
            or_(Notification.batch_id.is_(None), Notification.key.contains("|batch:")),
            or_(ranked < rank, (ranked == rank) & (Notification.id <= row.id)),
        ]
        if row.channel != "email":
            where.append(Notification.recipient == row.recipient)
        ready = or_(
            Notification.status == "sending",
            Notification.next_attempt_at.is_(None),
            Notification.next_attempt_at <= now,
        )
        ahead, ready_now, soonest = session.execute(
            select(
                func.count(Notification.id),
                func.sum(case((ready, 1), else_=0)),
                func.min(Notification.next_attempt_at),
            ).where(*where)
        ).one()
        # Nothing ahead may go now (a 429's Retry-After, a deferral): the queue starts later.
        blocked = soonest if ahead and not ready_now else None
        out[row.id] = Queue(int(ahead or 0), rate, limit, blocked)
    return out


# What `summarize` and `queues_for` read of a row: its columns only, never the rendered payload
# nor an ORM object (an update to 5,000 people is 5,000 rows read on every incident read).
SUMMARY_COLUMNS = (
    Notification.id,
    Notification.key,
    Notification.channel,
    Notification.recipient,
    Notification.template,
    Notification.status,
    Notification.last_error,
    Notification.created_at,
    Notification.sent_at,
    Notification.next_attempt_at,
    Notification.audience,
    Notification.batch_id,
    Notification.attempts,
)


def summary_rows(session: Session, incident_id: int, latest: int | None = None) -> list:
    """The incident's outbox rows as plain column tuples, in the order they were written (the
    `latest` ones only, if given)."""
    query = select(*SUMMARY_COLUMNS).where(Notification.incident_id == incident_id)
    if latest is None:
        return list(session.execute(query.order_by(Notification.id)))
    return list(session.execute(query.order_by(Notification.id.desc()).limit(latest)))[::-1]


def count_rows(session: Session, incident_id: int) -> int:
    """How many outbox rows the incident has."""
    query = select(func.count(Notification.id)).where(Notification.incident_id == incident_id)
    return int(session.scalar(query) or 0)


def event_column(session: Session):
    """`event_of(key)` in SQL: PostgreSQL's regexp_replace; SQLite's `hub_event_of`, the
    function hub.app.db registers on each connection."""
    if session.get_bind().dialect.name == "postgresql":
        return func.regexp_replace(Notification.key, r"\|[^|]*\|[^|]*$", "")
    return func.hub_event_of(Notification.key)


def summary_groups(session: Session, incident_id: int) -> list:
    """What `summarize` needs of the incident's outbox, counted in SQL: the waiting rows one by
    one (their queues are looked up), the others as one row per event, audience, template,
    channel, status, reason and kind (`n` of them, `sent_at` the latest, `first_sent_at` the
    earliest), so that an update to 5,000 people is a handful of rows."""
    event = event_column(session)
    batch = Notification.key.contains("|batch:")
    unbatched = Notification.batch_id.is_(None)
    mine = Notification.incident_id == incident_id
    waiting = list(
        session.execute(
            select(*SUMMARY_COLUMNS)
            .where(mine, Notification.status.in_(WAITING))
            .order_by(Notification.id)
        )
    )
    done = session.execute(
        select(
            func.min(Notification.id).label("id"),
            func.min(Notification.key).label("key"),  # one event and kind: its event_of, is_batch
            Notification.channel,
            func.min(Notification.recipient).label("recipient"),
            Notification.template,
            Notification.status,
            Notification.last_error,
            func.min(Notification.created_at).label("created_at"),
            func.max(Notification.sent_at).label("sent_at"),
            func.min(Notification.sent_at).label("first_sent_at"),
            func.min(Notification.next_attempt_at).label("next_attempt_at"),
            Notification.audience,
            func.min(Notification.batch_id).label("batch_id"),
            func.count(Notification.id).label("n"),
        )
        .where(mine, Notification.status.not_in(WAITING))
        .group_by(
            event,
            Notification.audience,
            Notification.template,
            Notification.channel,
            Notification.status,
            Notification.last_error,
            batch,
            unbatched,
        )
    )
    return [*done, *waiting]


def incident_deliveries(
    session: Session, settings, incident: Incident, now: datetime, policy: Policy | None = None
) -> list[EventDelivery]:
    """The incident's notices, summarized (queues looked up for what still waits), audiences
    by the policy's names for them."""
    rows = summary_groups(session, incident.id)
    return summarize(rows, now, queues_for(session, settings, rows, now), policy)


def deliveries_json(session: Session, settings, policy, incident: Incident, now: datetime) -> list:
    """The API's `deliveries`: per event and audience, with the summary sentence."""
    shown = partial(local_hhmmss, tz=policy.timezone)
    found = incident_deliveries(session, settings, incident, now, policy)
    return [e.as_json(shown) for e in found]
