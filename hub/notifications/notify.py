"""Notifications: one helper that writes outbox rows, idempotently; rendering waits for delivery.

A row is written with what its message is made of (`{"render": {template, context, route}}`),
in the event's transaction, and the worker renders it when it delivers it (`materialize`):
the event's transaction stays short however many people it notifies, and a template error
fails that row once, with the reason on the row. The rendered payload replaces the spec when
the row is marked sent, so the row keeps what went out (a row marked sent from a sent-journal
replay keeps its spec, which renders to the same message while the templates are unchanged).

Idempotency key: `event|recipient|channel`, where recipient is the email address, the person
key (a Teams page, whichever route it takes), or `hook:<sha256 of the URL>` for a webhook (the
URL is a secret and can be long), and channel is `email` or `teams`.
"""

from __future__ import annotations

import hashlib
import logging
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from hub.app.context import queue_job
from hub.app.models import ConversationRef, Incident, Notification
from hub.app.settings import Settings
from hub.app.uow import UnitOfWork
from hub.channels.base import PermanentError
from hub.notifications.notices import (  # noqa: F401  (re-exported: callers use n.<name>)
    ROLE_LABELS,
    Recipient,
    audience_recipients,
    incident_context,
    person_recipients,
    role_label,
    update_context,
)
from hub.policy.model import Policy

log = logging.getLogger("hub.notifications.notify")

KEY_MAX = 300  # Notification.key column


def idempotency_key(event_key: str, recipient: Recipient) -> str:
    """`event|recipient|channel`; hashed webhook URLs, and a hash if it would be too long."""
    who = recipient.address.lower() if recipient.channel == "email" else recipient.address
    if recipient.person is None and recipient.channel == "teams":
        who = "hook:" + hashlib.sha256(recipient.address.encode()).hexdigest()[:24]
    key = f"{event_key}|{who}|{recipient.channel}"
    if len(key) > KEY_MAX:
        key = f"{event_key[:200]}|{hashlib.sha256(key.encode()).hexdigest()}|{recipient.channel}"
    return key


def suppressed_addresses(session: Session, addresses: list[str]) -> set[str]:
    """Addresses we must not mail (bounced with 5.x.x), from the email intake's bounce handling.

    Looked up once per address and transaction (an event notifies the same people several
    times: pages, the stakeholder notice); bounces are recorded in their own transactions.
    """
    from hub.intake.email.bounces import suppressed_addresses as bounced

    known: dict[str, bool] = UnitOfWork.of(session).cache.setdefault("suppressed", {})
    unknown = [a for a in dict.fromkeys(addresses) if a and a.lower() not in known]
    if unknown:
        found = {a.lower() for a in bounced(session, unknown)}
        known.update((a.lower(), a.lower() in found) for a in unknown)
    return {a for a in addresses if a and known.get(a.lower())}


def render_email(
    template: str, context: dict, *, to: str, settings: Settings, incident_id: int, key: str
) -> dict:
    """The email payload for one recipient (hub.channels.email.compose)."""
    from hub.channels.email.compose import ThreadInfo
    from hub.channels.email.compose import render_email as compose

    return compose(template, context, to=to, settings=settings, thread=ThreadInfo(incident_id, key))


def render_teams(template: str, context: dict) -> dict:
    """The Teams message envelope, validated and size-checked (hub.channels.teams.cards)."""
    from hub.channels.teams import cards

    return cards.check_size(cards.envelope(cards.render_card(template, context)))


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
) -> list[Notification]:
    """Write one outbox row per recipient and channel; skip keys already written.

    The rows are new objects outside the session (written with one INSERT), with their ids.
    """
    with session.no_autoflush:  # one flush at commit, not one per query
        return _notify(
            session, hub_settings, policy, incident, template, event_key, recipients, context, now
        )


def _notify(session, hub_settings, policy, incident, template, event_key, recipients, context, now):
    planned: dict[str, Recipient] = {}
    for recipient in recipients:
        planned.setdefault(idempotency_key(event_key, recipient), recipient)
    persons = {r.person for r in planned.values() if r.channel == "teams" and r.person}
    refs = (
        {
            ref.key: ref
            for ref in session.scalars(
                select(ConversationRef).where(ConversationRef.key.in_(persons))
            )
        }
        if persons
        else {}
    )
    blocked = suppressed_addresses(
        session, [r.address for r in planned.values() if r.channel == "email"]
    )
    rows = []
    for key, recipient in planned.items():  # keys written before are skipped by the INSERT
        ctx = dict(
            context,
            recipient={
                "name": recipient.name or recipient.address,
                "email": recipient.address if recipient.channel == "email" else None,
            },
        )
        row = Notification(
            key=key,
            template=template,
            created_at=now,
            next_attempt_at=now,
            status="pending",
            attempts=0,
            payload={},
        )
        if recipient.channel == "email":
            _email_row(row, recipient, ctx, blocked, hub_settings, incident)
        elif not _teams_row(row, recipient, ctx, refs, policy, hub_settings):
            log.info("skip %s: no Teams route (no bot chat, no pages webhook)", key)
            continue
        rows.append(row)
    # Teams first: one card per channel should not wait behind a long email list.
    rows.sort(key=lambda r: r.channel == "email")
    rows = _insert(session, incident, rows)
    for row in rows:
        if row.status == "pending":
            queue_job(session, "deliver", row.id)
    return rows


def _email_row(row, recipient, ctx, blocked, settings, incident) -> None:
    row.channel, row.recipient = "email", recipient.address
    if recipient.address in blocked:
        row.status, row.last_error = "suppressed", "suppressed: the address bounced permanently"
        log.info("skip %s: suppressed", row.key)
        return
    row.payload = _spec(
        "email", row.template, ctx, to=recipient.address, incident_id=incident.id, key=row.key
    )


def _teams_row(row, recipient, ctx, refs, policy, settings) -> bool:
    if recipient.person is None:  # a channel webhook: one card for every webhook
        row.channel, row.recipient = "teams", recipient.address
        row.payload = _spec("teams", row.template, ctx, url=recipient.address)
        return True
    row.recipient = recipient.person
    ref = refs.get(recipient.person)
    if ref is not None:  # the bot has a chat with this person: post there
        row.channel = "bot"
        row.payload = _spec(
            "bot",
            row.template,
            ctx,
            service_url=ref.service_url,
            conversation_id=ref.conversation_id,
        )
        return True
    if not recipient.via_pages_webhook:
        return False
    hook = policy.teams_pages_webhook
    if not hook and settings.text("HUB_TEAMS_TRANSPORT") not in ("auto", "sink"):
        return False
    # No webhook in development (auto/sink): a row without URL, which the sink shows.
    person = policy.people[recipient.person]
    mention_id = person.teams or person.aad_object_id
    ctx = dict(ctx, mention={"name": person.name, "id": mention_id} if mention_id else None)
    row.channel = "teams"
    row.payload = _spec("teams", row.template, ctx, url=hook)
    return True


def _spec(kind: str, template: str, context: dict, **route) -> dict:
    return {"render": {"kind": kind, "template": template, "context": context, **route}}


def is_deferred(payload: dict | None) -> bool:
    """True while a row holds what to render rather than the rendered message."""
    return bool(payload) and "render" in payload


def thread_under(payload: dict, message_id: str | None) -> dict:
    """Make an email row an auto-reply threaded under `message_id` (the reporter's mail)."""
    if is_deferred(payload):
        return {"render": {**payload["render"], "auto_reply_to": message_id or ""}}
    return _auto_reply(payload, message_id) if payload and "headers" in payload else payload


def _auto_reply(payload: dict, message_id: str | None) -> dict:
    headers = dict(payload["headers"])
    headers["Auto-Submitted"] = "auto-replied"
    if message_id:
        headers["In-Reply-To"] = f"<{message_id}>"
        headers["References"] = f"<{message_id}> {headers.get('References', '')}".strip()
    return {**payload, "headers": headers}


class RenderError(Exception):
    """A template could not be rendered: permanent for that row."""


def materialize(payload: dict, settings: Settings) -> dict:
    """The message a transport sends: rendered now if the row holds a render spec."""
    if not is_deferred(payload):
        return payload
    spec = payload["render"]
    kind, template, ctx = spec["kind"], spec["template"], spec["context"]
    try:
        if kind == "email":
            out = render_email(
                template,
                ctx,
                to=spec["to"],
                settings=settings,
                incident_id=spec["incident_id"],
                key=spec["key"],
            )
            if "auto_reply_to" in spec:
                out = _auto_reply(out, spec["auto_reply_to"] or None)
            return out
        envelope = render_teams(template, ctx)
    except Exception as exc:  # a broken template fails its row once, with the reason
        if isinstance(exc, PermanentError):  # e.g. the recipient is not an email address
            raise RenderError(str(exc)) from exc
        raise RenderError(f"template error: {type(exc).__name__}: {exc}") from exc
    if kind == "bot":
        return {
            "service_url": spec["service_url"],
            "conversation_id": spec["conversation_id"],
            "activity": envelope,
        }
    return {"url": spec["url"], "envelope": envelope}


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
