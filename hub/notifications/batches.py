"""One message for many recipients of an audience: BCC batches through Graph, one SMTP envelope.

Each recipient keeps an outbox row of its own: its status is what people see (the delivery
summary, the per-recipient list) and its key keeps the event idempotent per person. When the
channel lets an audience's recipients share a message (`Channel.batch_size` above 1), their
rows are written `batched` (never delivered themselves), and one more row per batch of at most
that many carries the message. The batch row's key is
`event|batch:<audience>:<digest of its members' keys>|<kind>`: written once (a second notice of
the same event finds its members written and makes no batch), delivered once like any row
(claimed, journalled, marked sent), so a batch is as idempotent as a single message. Its
members follow it: sent with it, failed with it, or failed alone when the provider refused
just them (`Sent.refused`: an SMTP relay answering 5xx to one RCPT TO).
"""

from __future__ import annotations

import hashlib
from datetime import datetime

from sqlalchemy import bindparam, func, select, update
from sqlalchemy.orm import Session, aliased

from hub.app.context import queue_job
from hub.app.models import Notification
from hub.app.redact import redact_text
from hub.channels import registry

BATCHED = "batched"
NOT_BATCHED = (None, "responders", "subscribers")  # shared channels; people with own links


def batch_size(settings, channel_name: str, audience: str | None) -> int:
    """How many of this audience's recipients share one message on the channel (1: none)."""
    if audience in NOT_BATCHED:
        return 1
    return max(1, int(registry.get(channel_name).batch_size(settings)))


def is_batch(row) -> bool:
    """True for the row that carries one message to many recipients."""
    return is_batch_key(row.key)


def is_batch_key(key: str) -> bool:
    """True for the key of a row that carries one message to many recipients."""
    parts = key.split("|")
    return len(parts) >= 3 and parts[-2].startswith("batch:")


def write_batches(
    session: Session,
    settings,
    incident,
    event_key: str,
    written: list[Notification],
    context: dict,
    now: datetime,
    insert,
) -> list[Notification]:
    """For the `batched` rows just written: one batch row per chunk (inserted with `insert`,
    queued), its members pointed at it; a lone member is delivered on its own instead."""
    groups: dict[tuple[str, str], list[Notification]] = {}
    for row in written:
        if row.status == BATCHED:
            groups.setdefault((row.channel, row.audience), []).append(row)
    batches, members, alone = [], [], []
    for (kind, audience), rows in groups.items():
        channel = registry.for_kind(kind)
        size = max(1, int(channel.batch_size(settings)))
        for start in range(0, len(rows), size):
            chunk = rows[start : start + size]
            if len(chunk) == 1:
                alone.append(chunk[0])
                continue
            digest = hashlib.sha256("\n".join(r.key for r in chunk).encode()).hexdigest()[:20]
            row = Notification(
                key=f"{event_key[:200]}|batch:{audience[:40]}:{digest}|{kind}",
                incident_id=incident.id,
                template=chunk[0].template,
                created_at=now,
                next_attempt_at=now,
                status="pending",
                attempts=0,
                payload={},
                audience=audience,
            )
            label = {"name": audience, "email": None, "may_reply": False}
            channel.route_batch(
                row, [r.recipient for r in chunk], dict(context, recipient=label), settings
            )
            batches.append(row)
            members.append(chunk)
    written_batches = insert(session, incident, batches)
    by_key = {b.key: b for b in written_batches}
    for row, chunk in zip(batches, members, strict=True):
        if row.key not in by_key:  # written before: its members were too, so none is new
            alone += chunk
            continue
        session.execute(
            update(Notification)
            .where(Notification.id.in_([m.id for m in chunk]))
            .values(batch_id=row.id)
            .execution_options(synchronize_session=False)
        )
        for m in chunk:
            m.batch_id = row.id
    if alone:
        session.execute(
            update(Notification)
            .where(Notification.id.in_([m.id for m in alone]), Notification.status == BATCHED)
            .values(status="pending", next_attempt_at=now)
            .execution_options(synchronize_session=False)
        )
        for m in alone:
            m.status, m.next_attempt_at = "pending", now
    for row in alone + written_batches:
        queue_job(session, "deliver", row.id)
    return written_batches


def _members_sent_statement():
    batch = aliased(Notification)
    of_batch = batch.id == Notification.batch_id
    return (
        update(Notification)
        .where(
            Notification.status == BATCHED,
            Notification.batch_id.in_(bindparam("batch_ids", expanding=True)),
        )
        .values(
            status="sent",
            sent_at=select(batch.sent_at).where(of_batch).scalar_subquery(),
            provider_id=select(batch.provider_id).where(of_batch).scalar_subquery(),
        )
        .execution_options(synchronize_session=False)
    )


_MEMBERS_SENT = _members_sent_statement()  # built once: building it cost more than running it


def members_sent(conn, row_ids: list[int]) -> int:
    """The members of these rows (those that are batches) went with them: one statement,
    each member taking its batch's time and provider id."""
    if not row_ids:
        return 0
    return conn.execute(_MEMBERS_SENT, {"batch_ids": list(row_ids)}).rowcount


def members_failed(session: Session, batch_id: int, error: str) -> int:
    """The members of a batch that failed for good fail with it, with its reason."""
    return session.execute(
        update(Notification)
        .where(Notification.batch_id == batch_id, Notification.status == BATCHED)
        .values(status="failed", last_error=redact_text(error)[:2000], next_attempt_at=None)
        .execution_options(synchronize_session=False)
    ).rowcount


def members_refused(session: Session, batch_id: int, refused: dict[str, str]) -> int:
    """Recipients the provider refused while taking the batch's message for the others."""
    count = 0
    for address, answer in refused.items():
        count += session.execute(
            update(Notification)
            .where(
                Notification.batch_id == batch_id,
                Notification.status == BATCHED,
                func.lower(Notification.recipient) == address.lower(),
            )
            .values(status="failed", last_error=redact_text(f"refused: {answer}")[:2000])
            .execution_options(synchronize_session=False)
        ).rowcount
    return count


def orphans_failed(session: Session) -> int:
    """Members still waiting on a batch that failed in bulk (`outbox.due_rows` gave it up)."""
    failed = select(Notification.id).where(
        Notification.status == "failed", Notification.key.contains("|batch:")
    )
    return session.execute(
        update(Notification)
        .where(Notification.status == BATCHED, Notification.batch_id.in_(failed))
        .values(status="failed", last_error="the batch carrying it failed", next_attempt_at=None)
        .execution_options(synchronize_session=False)
    ).rowcount
