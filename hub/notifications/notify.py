"""Notifications: one helper that writes outbox rows, idempotently; rendering waits for delivery.

A row is written with what its message is made of (`{"render": {kind, template, context,
route}}`, see `hub.channels.base.render_spec`), in the event's transaction, and the worker
renders it when it delivers it (`materialize`): the event's transaction stays short however
many people it notifies, and a template error fails that row once, with the reason on the
row. The rendered payload replaces the spec when the row is marked sent, so the row keeps what
went out (a row marked sent from a sent-journal replay keeps its spec, which renders to the
same message while the templates are unchanged).

Where a recipient is reached and what its row holds is the channel's business
(`hub.channels.registry`): this module knows no channel by name.

Idempotency key: `event|recipient|channel`, where recipient is the channel's `address_key`
(the email address, the person key, or `hook:<sha256 of the URL>` for a webhook: the URL is a
secret and can be long) and channel is the recipient's channel name (`email`, `teams`, …).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from datetime import datetime

from sqlalchemy import update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from hub.app.context import queue_job
from hub.app.models import Incident, Notification
from hub.app.security import fill_secrets
from hub.app.settings import Settings
from hub.channels import registry
from hub.channels.base import PermanentError
from hub.notifications import batches, priority, unsubscribed
from hub.notifications.notices import Recipient
from hub.policy.model import Policy

log = logging.getLogger("hub.notifications.notify")

KEY_MAX = 300  # Notification.key column


def idempotency_key(event_key: str, recipient: Recipient) -> str:
    """`event|recipient|channel`; the channel's address key, and a hash if it would be too long."""
    who = registry.get(recipient.channel).address_key(recipient)
    key = f"{event_key}|{who}|{recipient.channel}"
    if len(key) > KEY_MAX:
        key = f"{event_key[:200]}|{hashlib.sha256(key.encode()).hexdigest()}|{recipient.channel}"
    return key


def notify(
    session: Session,
    hub_settings: Settings,
    policy: Policy,
    incident: Incident,
    template: str,
    event_key: str,
    recipients: list[Recipient],
    context: dict,
    now: datetime,
    *,
    finish: Callable[[Notification], None] | None = None,
) -> list[Notification]:
    """Write one outbox row per recipient and channel; skip keys already written.

    The rows are new objects outside the session (written with one INSERT), with their ids.
    `finish`: a last change to each row before it is written (e.g. its payload threaded).
    """
    with session.no_autoflush:  # one flush at commit, not one per query
        return _notify(
            session,
            hub_settings,
            policy,
            incident,
            template,
            event_key,
            recipients,
            context,
            now,
            finish,
        )


def _notify(
    session, hub_settings, policy, incident, template, event_key, recipients, context, now, finish
):
    planned: dict[str, Recipient] = {}
    for recipient in recipients:
        planned.setdefault(idempotency_key(event_key, recipient), recipient)
    by_channel: dict[str, list[Recipient]] = {}
    for recipient in planned.values():
        by_channel.setdefault(recipient.channel, []).append(recipient)
    prepared = {
        name: registry.get(name).prepare(session, found) for name, found in by_channel.items()
    }
    rows = []
    for key, recipient in planned.items():  # keys written before are skipped by the INSERT
        channel = registry.get(recipient.channel)
        ctx = dict(context, recipient=channel.recipient_context(recipient))
        row = Notification(
            key=key,
            incident_id=incident.id,
            template=template,
            created_at=now,
            next_attempt_at=now,
            status="pending",
            attempts=0,
            payload={},
            audience=recipient.audience,
            person=recipient.person,
        )
        if not channel.route(row, recipient, ctx, prepared[channel.name], policy, hub_settings):
            log.info("skip %s: no %s route", key, channel.name)
            continue
        row.payload = unsubscribed.marked(row.payload, recipient)
        if row.status != "pending":
            log.info("skip %s: %s", key, row.status)
        elif batches.batch_size(hub_settings, channel.name, recipient.audience) > 1:
            row.status, row.next_attempt_at = batches.BATCHED, None  # one message carries it
        if finish is not None:
            finish(row)
        rows.append((channel.order, row))
    # Stable: within one order, rows keep the recipients' order.
    rows = [row for _, row in sorted(rows, key=lambda r: r[0])]
    rows = _insert(session, incident, rows)
    for row in rows:
        if row.status == "pending":
            queue_job(session, "deliver", row.id)
        elif row.status == "suppressed" and priority.rank(template) == priority.PAGE:
            queue_job(session, "page_failed", row.id)  # was its person reached at all?
    if any(row.status == batches.BATCHED for row in rows):
        rows += batches.write_batches(
            session, hub_settings, incident, event_key, rows, context, now, _insert
        )
    return rows


def refresh_live(
    session: Session,
    hub_settings: Settings,
    incident: Incident,
    template: str,
    context_for,
    change: str,
    now: datetime,
) -> list[Notification]:
    """Rows that replace every channel's live messages about the incident (`Channel.refresh`),
    one per message and change; a pending row for the same message that has not gone out yet
    is superseded (only the newest state is worth sending)."""
    rows = []
    for channel in registry.channels():
        rows += channel.refresh(session, incident, template, context_for, change, now)
    rows = _insert(session, incident, rows)
    for row in rows:
        target = row.key.split("|", 1)[1]  # `recipient|channel`: the same message
        session.execute(
            update(Notification)
            .where(
                Notification.incident_id == incident.id,
                Notification.template == template,
                Notification.status == "pending",
                Notification.id < row.id,
                Notification.key.endswith(f"|{target}", autoescape=True),
            )
            .values(
                status="superseded", last_error="a newer state replaced it", next_attempt_at=None
            )
        )
        queue_job(session, "deliver", row.id)
    return rows


def is_deferred(payload: dict | None) -> bool:
    """True while a row holds what to render rather than the rendered message."""
    return bool(payload) and "render" in payload


class RenderError(Exception):
    """A template could not be rendered: permanent for that row."""


def materialize(payload: dict, settings: Settings) -> dict:
    """The message a transport sends: rendered now (by its channel) if the row holds a spec."""
    if payload.get("fill"):  # secrets made at delivery (hub/app/security.py), never stored
        payload = fill_secrets(payload, payload["fill"], settings.secret_key)
    if not is_deferred(payload):
        return payload
    spec = payload["render"]
    try:
        return registry.for_kind(spec["kind"]).render(spec, settings)
    except Exception as exc:  # a broken template fails its row once, with the reason
        if isinstance(exc, PermanentError):  # e.g. the recipient is not an email address
            raise RenderError(str(exc)) from exc
        raise RenderError(f"template error: {type(exc).__name__}: {exc}") from exc


_FIELDS = (
    "key",
    "channel",
    "recipient",
    "template",
    "payload",
    "status",
    "attempts",
    "next_attempt_at",
    "last_error",
    "created_at",
    "audience",
    "person",
    "batch_id",
)


def _insert(session: Session, incident: Incident, rows: list[Notification]) -> list[Notification]:
    """One multi-row `INSERT … ON CONFLICT (key) DO NOTHING RETURNING`: a key another
    transaction wrote first is skipped, not fatal, and no savepoint or unit of work is needed."""
    if not rows:
        return []
    table = Notification.__table__
    dialect = session.get_bind().dialect.name
    insert = sqlite_insert if dialect == "sqlite" else pg_insert
    stmt = (
        insert(table)
        .on_conflict_do_nothing(index_elements=["key"])
        .returning(table.c.id, table.c.key)
    )
    values = [{"incident_id": incident.id, **{f: getattr(r, f) for f in _FIELDS}} for r in rows]
    ids = {key: ident for ident, key in session.connection().execute(stmt, values)}
    written = []
    for row in rows:
        if row.key in ids:
            row.id, row.incident_id = ids[row.key], incident.id
            written.append(row)
        else:
            log.info("skip %s: duplicate", row.key)
    if "notifications" in incident.__dict__:
        session.expire(incident, ["notifications"])  # read again with the new rows
    return written
