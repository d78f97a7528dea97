"""The ordered steps of email intake; each records its decision and reason on the stored row.

store raw (store.py) → limits → parse → dedupe → our own mail → bounce → automatic → sender
trust → match → body → effect. A step that settles the message ends the run with an outcome:
created | threaded | duplicate | ignored | quarantined. An unexpected error rolls the effects
back, keeps the raw message and marks it `failed` for `mihub mail reprocess`.
"""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage

from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.app.context import Hub
from hub.app.db import utcnow
from hub.app.models import InboundMessage, Incident
from hub.app.uow import UnitOfWork
from hub.channels.email.compose import address_of
from hub.intake.email import effect, kinds, trust
from hub.intake.email.batching import ChunkKeys, ChunkSenders
from hub.intake.email.body import extract
from hub.intake.email.bounces import apply_bounce
from hub.intake.email.dsn import read_bounce, text_of
from hub.intake.email.match import find_incident
from hub.intake.email.message import (
    Limits,
    addresses_in,
    check_limits,
    decoded,
    dedupe_key,
    normalise_message_id,
    parse,
    raw_value,
    sender_of,
)
from hub.intake.raw import claim_key
from hub.policy.model import Policy
from hub.subscriptions import service as subs

log = logging.getLogger("hub.intake.email")


@dataclass(frozen=True)
class Result:
    """Where a message ended: its id, status, outcome and incident."""

    id: int
    status: str
    outcome: str | None
    incident: str | None

    @classmethod
    def of(cls, row: InboundMessage) -> Result:
        ref = f"INC-{row.incident_id}" if row.incident_id else None
        return cls(row.id, row.status, row.outcome, ref)


UNREAD = "\0unread"  # Trail.sender before the From address was read


class Trail:
    """The decisions of one run, kept in Python so that a rollback cannot lose them."""

    def __init__(self, row: InboundMessage):
        self.row = row
        self.items = list(row.decisions or [])
        self.sender: str | None = UNREAD  # the From address read, written with the outcome
        self.incident: Incident | None = None  # the incident the message went to

    def add(self, step: str, decision: str, reason: str = "") -> None:
        self.items.append({"step": step, "decision": decision, "reason": reason[:2000]})

    def end(
        self, step: str, decision: str, reason: str, outcome: str, status: str = "processed"
    ) -> None:
        self.add(step, decision, reason)
        self.row.status, self.row.outcome = status, outcome


UNSUBSCRIBE_SUBJECT = re.compile(r"^\s*unsubscribe\s+(\d{1,12}-[0-9a-f]{43})\s*$", re.IGNORECASE)


def _may_be_bounce(msg, envelope: dict) -> bool:
    """Whether the text is worth reading for MTA wording (most mail is not a bounce)."""
    if envelope.get("mail_from") == "" or msg.get_content_type() == "multipart/report":
        return True
    head = " ".join(
        (raw_value(msg, name) or "") for name in ("From", "Subject", "Return-Path")
    ).lower()
    return any(
        w in head
        for w in (
            "daemon",
            "postmaster",
            "deliver",
            "<>",
            "mail system",
            "returned",
            "failure",
            "bounce",
            "ndr",
            "undeliv",
            "zustell",
            "non remis",
            "error",
            "delay",
            "notif",
        )
    )


def released_sender(policy: Policy, person: str) -> str:
    """The address a released message without a usable From is attributed to."""
    known = policy.people.get(person)
    return (known.email if known and known.email else person).lower()


def our_addresses(settings, policy: Policy) -> set[str]:
    """The hub's own addresses (From of our mail, the intake address), bare and lower-case."""
    found = {address_of(settings.text("HUB_MAIL_FROM")).lower()}
    if policy.intake.email_address:
        found.add(policy.intake.email_address.lower())
    return found


def process(
    hub: Hub, inbound_id: int, now: datetime, *, released_by: str | None = None
) -> Result | None:
    """Run the pipeline on a stored message that is still `received`; None if there is none."""
    with hub.transaction() as session:
        row = session.get(InboundMessage, inbound_id, with_for_update=True)
        if row is None or row.channel != "email":
            return None
        if row.status != "received":
            return Result.of(row)
        return _run_one(session, hub.settings, hub.policy, row, now, released_by)


BATCH = 50  # most stored messages one transaction processes
BATCH_SECONDS = 0.25  # a transaction takes no more messages after holding the lock this long


def process_many(hub: Hub, ids: list[int]) -> list[Result]:
    """Run the pipeline on stored messages, in order of arrival, several per transaction.

    An error in one message marks that one `failed` and the others stand (the transaction then
    runs again with a savepoint per message, see `_process_chunk`). A transaction takes up to
    BATCH messages and stops taking more after
    BATCH_SECONDS, so others waiting for the write lock wait no longer than that, and ends
    after a message that failed. If a whole transaction fails (the database, not a message),
    its messages are run one by one.
    """
    pending, results = sorted(set(ids)), []
    while pending:
        chunk = pending[:BATCH]
        try:
            taken, done = _process_chunk(hub, chunk)
        except Exception:
            log.exception("email: a batch of %d failed; processing them one by one", len(chunk))
            done = [r for r in (process(hub, i, utcnow()) for i in chunk) if r is not None]
            taken = len(chunk)
        results += done
        pending = pending[taken:]
    return results


def _process_chunk(hub: Hub, ids: list[int]) -> tuple[int, list[Result]]:
    """One transaction over the first of `ids`: (how many it took, their results).

    First without a savepoint per message (each costs SQLite two statements and the session
    a flush): the keys looked up in one SELECT, each message's row written once, with its
    outcome. If a message fails there, or its key was taken meanwhile (PostgreSQL), nothing of
    that transaction stands and the same messages run again, each in a savepoint of its own."""
    try:
        return _chunk(hub, ids, isolated=False)
    except Exception as exc:
        log.info(
            "email: a batch of %d stopped (%s: %s); running it with a savepoint per message",
            len(ids),
            type(exc).__name__,
            exc,
        )
        return _chunk(hub, ids, isolated=True)


def _chunk(hub: Hub, ids: list[int], *, isolated: bool) -> tuple[int, list[Result]]:
    results: list[Result] = []
    with hub.transaction() as session:
        uow = UnitOfWork.of(session)
        rows = {
            row.id: row
            for row in session.scalars(
                select(InboundMessage)
                .where(InboundMessage.id.in_(ids), InboundMessage.channel == "email")
                .with_for_update(skip_locked=True)  # PostgreSQL: another worker has those
            )
        }
        reads = keys = senders = None
        if not isolated:
            limits = Limits.from_settings(hub.settings, uow.policy.intake.max_message_bytes)
            reads = {
                i: read_stored(row.raw, limits)
                for i, row in rows.items()
                if row.status == "received"
            }
            keys = ChunkKeys(session, [r.key for r in reads.values() if r.key])
            senders = ChunkSenders(
                session,
                [s for r in reads.values() if r.msg is not None and (s := sender_of(r.msg))],
                utcnow(),
            )
        # the incidents met so far, kept loaded (the session holds an object only while
        # something refers to it): the next messages about them find them without a SELECT
        met: list[Incident] = []
        started, taken = time.monotonic(), 0
        for ident in ids:
            if taken and time.monotonic() - started > BATCH_SECONDS:
                break
            taken += 1
            row = rows.get(ident)
            if row is None:
                continue
            if row.status != "received":
                results.append(Result.of(row))
                continue
            if not isolated:
                results.append(
                    _run_plain(session, hub.settings, uow, row, reads[ident], keys, senders, met)
                )
                continue
            results.append(_run_one(session, hub.settings, uow.policy, row, utcnow()))
            if results[-1].status == "failed":
                # rows written in the savepoint without the session's unit of work (a new
                # incident) may still be in its identity map: the next message gets a new session
                break
    return taken, results


def _run_plain(
    session,
    settings,
    uow: UnitOfWork,
    row,
    read: Read,
    keys: ChunkKeys,
    senders: ChunkSenders,
    met: list,
) -> Result:
    """The steps on one locked `received` row, with no savepoint: an error ends the
    transaction (`_process_chunk` then runs its messages again, each in a savepoint)."""
    uow.cache.clear()  # lookups made for an earlier message of the transaction may be stale
    trail, now = Trail(row), utcnow()
    run_steps(
        session, settings, uow.policy, row, trail, now, None, read=read, keys=keys, senders=senders
    )
    keys.write(row)
    if trail.incident is not None:
        met.append(trail.incident)
    _finish(row, trail, now)  # flushed with the next message's first query, or the commit
    return Result.of(row)


def _finish(row: InboundMessage, trail: Trail, now: datetime) -> None:
    """What the run read and decided, on the row (one UPDATE with its status and outcome)."""
    if trail.sender != UNREAD:
        row.sender = trail.sender
    row.decisions, row.processed_at = trail.items, now


def _run_one(
    session: Session,
    settings,
    policy: Policy,
    row: InboundMessage,
    now: datetime,
    released_by: str | None = None,
) -> Result:
    """The steps on one locked `received` row, in a savepoint: an error rolls back only its
    effects and marks the row `failed` (its raw message kept)."""
    uow = UnitOfWork.of(session)
    uow.cache.clear()  # lookups made for an earlier message of the transaction may be stale
    jobs, timed = uow.jobs, uow.timed_jobs
    marks = len(jobs), len(timed)
    trail = Trail(row)
    try:
        with session.begin_nested():
            run_steps(session, settings, policy, row, trail, now, released_by)
            # in the savepoint's flush: one UPDATE of the row with its status and outcome
            _finish(row, trail, now)
    except Exception as exc:
        log.exception("email #%s: processing failed; the raw message is kept", row.id)
        del jobs[marks[0] :], timed[marks[1] :]
        uow.cache.clear()
        session.expire(row)  # as the database has it again (e.g. its provisional key)
        trail.end("error", "failed", f"{type(exc).__name__}: {exc}", None, status="failed")
        row.decisions, row.processed_at = trail.items, now
    session.flush()
    return Result.of(row)


@dataclass(frozen=True)
class Read:
    """A stored message read before the steps: why it is refused or unparseable, or the
    parsed message and its dedupe key."""

    refused: str | None = None
    unparseable: str | None = None
    msg: EmailMessage | None = None
    key: str | None = None


def read_stored(raw: bytes, limits: Limits) -> Read:
    """Limits, parse and dedupe key of a stored message (no database)."""
    refused = check_limits(raw, limits)
    if refused:
        return Read(refused=refused)
    try:
        msg = parse(raw)
    except Exception as exc:
        return Read(unparseable=f"{type(exc).__name__}: {exc}")
    return Read(msg=msg, key=dedupe_key(msg, raw))


def run_steps(
    session: Session,
    settings,
    policy: Policy,
    row: InboundMessage,
    trail: Trail,
    now: datetime,
    released_by: str | None,
    *,
    read: Read | None = None,
    keys: ChunkKeys | None = None,
    senders: ChunkSenders | None = None,
) -> None:
    """The steps after storing; each either records a decision and goes on, or ends the run.
    `read`: the message read beforehand; `keys`: the transaction's dedupe keys (else each
    key is claimed in a savepoint of its own); `senders`: the transaction's per-sender
    counts (else counted for this message)."""
    if read is None:
        read = read_stored(row.raw, Limits.from_settings(settings, policy.intake.max_message_bytes))
    if read.refused:
        return trail.end("limits", "refused", read.refused, "ignored")
    trail.add("limits", "ok", f"{len(row.raw)} bytes")
    if read.unparseable:
        return trail.end("parse", "unparseable", read.unparseable, "ignored")
    msg, key = read.msg, read.key
    trail.add("parse", "ok", f"{len(msg.defects)} defect(s) at the top level")
    duplicate_of = (keys.claim if keys else claim_key)(session, row, key)
    what = "Message-ID" if key.startswith("mid:") else "content hash"
    if duplicate_of:
        return trail.end(
            "dedupe", "duplicate", f"same {what} as message #{duplicate_of}", "duplicate"
        )
    trail.add("dedupe", "first", f"{what} {key.split(':', 1)[1][:200]}")
    sender = trail.sender = sender_of(msg)
    own = kinds.own_mail(msg, settings.secret_key, our_addresses(settings, policy))
    if own:
        return trail.end("loop", "our own mail", own, "ignored")
    trail.add("loop", "not ours")
    unsubscribe = UNSUBSCRIBE_SUBJECT.match(decoded(msg, "Subject") or "")
    if unsubscribe:  # the mailto of a subscriber's List-Unsubscribe header
        subscription = subs.by_unsubscribe_token(session, settings, unsubscribe.group(1))
        if subscription is None:
            return trail.end("unsubscribe", "unknown", "no subscription has that token", "ignored")
        subs.end(subscription, now)
        return trail.end("unsubscribe", "done", f"subscription {subscription.id} ended", "ignored")
    envelope = row.envelope or {}
    text = text_of(msg, 20_000) if _may_be_bounce(msg, envelope) else ""
    kind = kinds.classify(msg, envelope.get("mail_from"), text)
    subject = decoded(msg, "Subject")
    rcpt = list(envelope.get("rcpt_tos") or ())
    if kind is not None and kind.name == "bounce":
        bounce = read_bounce(msg, kind.reason, text or text_of(msg))
        returned_to = rcpt + addresses_in(msg, "To", "Delivered-To", "X-Original-To")
        did = apply_bounce(session, settings, bounce, returned_to, row.id, now)
        return trail.end("bounce", "bounce", f"{kind.reason}; {did}", "ignored")
    if kind is not None:
        why = kind.reason
        if sender:
            about = find_incident(
                session, settings.secret_key, policy, msg, sender, rcpt, subject
            ).incident
            row.incident_id = about.id if about else None
            trail.incident = about
            why += f"; in reply to {about.ref}, recorded only" if about else ""
        return trail.end("automatic", kind.name, why, "ignored")
    trail.add("automatic", "written by a person")
    if not sender and released_by:
        sender = released_sender(policy, released_by)
        trail.add("trust", "attributed", f"no usable From: the report is {released_by}'s")
    if not sender:
        return trail.end(
            "trust", "quarantined", "no single valid From address", "quarantined", "quarantined"
        )
    verdict = trust.judge(msg, sender, policy, trust.trusted_ids(settings))
    if released_by:
        trail.add(
            "trust", "released", f"released from quarantine by {released_by} ({verdict.reason})"
        )
    elif not verdict.allowed or verdict.dmarc == "fail":
        return trail.end("trust", "quarantined", verdict.reason, "quarantined", "quarantined")
    else:
        trail.add("trust", "verified" if verdict.verified else "allowed", verdict.reason)
    match = find_incident(session, settings.secret_key, policy, msg, sender, rcpt, subject)
    for note in match.notes:
        trail.add("match", "note", note)
    if match.incident is None and not released_by:
        recent = (
            senders.reports_from(sender) if senders else trust.reports_from(session, sender, now)
        )
        if recent >= policy.intake.rate_per_sender_per_hour:
            return trail.end(
                "trust",
                "quarantined",
                f"rate limit: {recent} reports from {sender} in the last hour",
                "quarantined",
                "quarantined",
            )
    trail.add(
        "match",
        match.incident.ref if match.incident else "new report",
        match.how or "no reply token, no Message-ID of ours, no participant's subject tag",
    )
    body = extract(msg, settings.data_dir / "attachments")
    trail.add("body", body.how, "; ".join(body.notes + [f"{len(body.attachments)} attachment(s)"]))
    if match.incident is not None:
        done = effect.reply(
            session, policy, match.incident, sender, body, row.id, now, verified=verdict.verified
        )
    else:
        done = effect.new_report(session, policy, sender, subject, body, row.id, now)
        if senders:
            senders.reported(sender)
        if verdict.verified:
            mid = normalise_message_id(raw_value(msg, "Message-ID"))
            trail.add(
                "acknowledge",
                "ack",
                effect.acknowledge_reporter(
                    session,
                    settings,
                    policy,
                    done.incident,
                    sender,
                    mid,
                    done.outcome == "threaded",
                    now,
                    done.joined,
                ),
            )
        else:
            trail.add("acknowledge", "skipped", "the sender is not verified")
    row.incident_id, trail.incident = done.incident.id, done.incident
    trail.end("effect", done.outcome, done.text, done.outcome)
