"""Notifications: one helper that renders and writes outbox rows, idempotently.

Idempotency key: `event|recipient|channel`, where recipient is the email address, the person
key (a Teams page, whichever route it takes), or `hook:<sha256 of the URL>` for a webhook (the
URL is a secret and can be long), and channel is `email` or `teams`.
"""

from __future__ import annotations

import hashlib
import logging
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from hub.context import queue_job
from hub.models import ConversationRef, Incident, Notification
from hub.notices import (  # noqa: F401  (re-exported: callers use n.<name>)
    ROLE_LABELS,
    Recipient,
    audience_recipients,
    incident_context,
    person_recipients,
    role_label,
    update_context,
)
from hub.policy_model import Policy
from hub.settings import Settings

log = logging.getLogger("hub.notify")

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
    """Addresses we must not mail (bounced with 5.x.x), from the email intake's bounce handling."""
    from hub.intake_email.bounces import suppressed_addresses as bounced

    return bounced(session, addresses)


def render_email(
    template: str, context: dict, *, to: str, settings: Settings, incident_id: int, key: str
) -> dict:
    """The email payload for one recipient (hub.mail.compose)."""
    from hub.mail.compose import ThreadInfo
    from hub.mail.compose import render_email as compose

    return compose(template, context, to=to, settings=settings, thread=ThreadInfo(incident_id, key))


def render_teams(template: str, context: dict) -> dict:
    """The Teams message envelope, validated and size-checked (hub.teams.cards)."""
    from hub.teams import cards

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
    """Render and write one outbox row per recipient and channel; skip keys already written."""
    planned: dict[str, Recipient] = {}
    for recipient in recipients:
        planned.setdefault(idempotency_key(event_key, recipient), recipient)
    existing = _existing(session, list(planned))
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
    rows, shared = [], {}
    for key, recipient in planned.items():
        if key in existing:
            log.info("skip %s: duplicate", key)
            continue
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
        elif not _teams_row(row, recipient, ctx, refs, policy, hub_settings, shared):
            log.info("skip %s: no Teams route (no bot chat, no pages webhook)", key)
            continue
        rows.append(row)
    rows = _insert(session, incident, rows)
    for row in rows:
        if row.status == "pending":
            queue_job(session, "deliver", row.id)
    return rows


def _existing(session: Session, keys: list[str]) -> set[str]:
    found: set[str] = set()
    for i in range(0, len(keys), 500):
        found.update(
            session.scalars(select(Notification.key).where(Notification.key.in_(keys[i : i + 500])))
        )
    return found


def _email_row(row, recipient, ctx, blocked, settings, incident) -> None:
    row.channel, row.recipient = "email", recipient.address
    if recipient.address in blocked:
        row.status, row.last_error = "suppressed", "suppressed: the address bounced permanently"
        log.info("skip %s: suppressed", row.key)
        return
    _render(
        row,
        lambda: render_email(
            row.template,
            ctx,
            to=recipient.address,
            settings=settings,
            incident_id=incident.id,
            key=row.key,
        ),
    )


def _teams_row(row, recipient, ctx, refs, policy, settings, shared) -> bool:
    if recipient.person is None:  # a channel webhook: one card for every webhook
        row.channel, row.recipient = "teams", recipient.address
        if row.template not in shared:
            shared[row.template] = _try(lambda: render_teams(row.template, ctx))
        envelope, error = shared[row.template]
        return _fill(row, {"url": recipient.address, "envelope": envelope}, error)
    row.recipient = recipient.person
    ref = refs.get(recipient.person)
    if ref is not None:  # the bot has a chat with this person: post there
        row.channel = "bot"
        envelope, error = _try(lambda: render_teams(row.template, ctx))
        return _fill(
            row,
            {
                "service_url": ref.service_url,
                "conversation_id": ref.conversation_id,
                "activity": envelope,
            },
            error,
        )
    hook = policy.teams_pages_webhook
    if not hook and (settings["HUB_TEAMS_TRANSPORT"] or "auto") not in ("auto", "sink"):
        return False
    # No webhook in development (auto/sink): a row without URL, which the sink shows.
    person = policy.people[recipient.person]
    mention_id = person.teams or person.aad_object_id
    ctx = dict(ctx, mention={"name": person.name, "id": mention_id} if mention_id else None)
    row.channel = "teams"
    envelope, error = _try(lambda: render_teams(row.template, ctx))
    return _fill(row, {"url": hook, "envelope": envelope}, error)


def _try(render):
    try:
        return render(), None
    except Exception as exc:  # a broken template must not stop the event: the row says why
        return None, f"template error: {type(exc).__name__}: {exc}"


def _render(row, render) -> None:
    payload, error = _try(render)
    _fill(row, payload, error)


def _fill(row, payload, error) -> bool:
    if error:
        row.status, row.last_error, row.next_attempt_at = "failed", error, None
        log.error("notification %s failed: %s", row.key, error)
    else:
        row.payload = payload
    return True


def _insert(session: Session, incident: Incident, rows: list[Notification]) -> list[Notification]:
    fields = (
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
    copies = [{f: getattr(r, f) for f in fields} for r in rows]
    try:
        with session.begin_nested():
            for row in rows:
                row.incident_id = incident.id  # not the relationship: a rollback stays simple
            session.add_all(rows)
            session.flush()
    except IntegrityError:  # a concurrent transaction wrote some keys first: keep the rest
        taken = _existing(session, [c["key"] for c in copies])
        for key in sorted(taken & {c["key"] for c in copies}):
            log.info("skip %s: duplicate", key)
        rows = [Notification(incident_id=incident.id, **c) for c in copies if c["key"] not in taken]
        with session.begin_nested():
            session.add_all(rows)
            session.flush()
    session.expire(incident, ["notifications"])  # read again with the new rows
    return rows
