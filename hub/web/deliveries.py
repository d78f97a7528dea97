"""Who got an incident's notice: the per-recipient list behind the room's delivery summary.

Read in SQL a page at a time (`PAGE` recipients, `?page=`): an incident with 10,000 stakeholder
notifications is counted by the database and shown 500 at a time, never loaded whole."""

from __future__ import annotations

from flask import Blueprint, request
from sqlalchemy import func, not_, select

from hub.app.db import utcnow
from hub.app.models import Notification
from hub.app.redact import redact_text
from hub.channels.base import shown_recipient
from hub.incidents import records
from hub.notifications import batches
from hub.notifications.delivery_report import (
    SUMMARY_COLUMNS,
    audience_label,
    event_column,
    notice_name,
    short_reason,
)
from hub.web.common import render, require_person, the_hub

bp = Blueprint("deliveries", __name__)
PAGE = 500  # recipients a page
MESSAGES_SHOWN = 200  # messages carrying several recipients (BCC batches), the first ones


def _page() -> int:
    """`?page=` as a number from 1 (anything else reads as the first page)."""
    raw = request.args.get("page", "1")
    return max(1, int(raw)) if raw.isdigit() and len(raw) < 7 else 1


@bp.get("/incidents/<ref>/deliveries")
def recipients(ref: str):
    """The recipients of one event's notice (`?event=`), one audience (`?audience=`) or all,
    a page at a time (`?page=`)."""
    hub, _ = the_hub(), require_person()
    event = request.args.get("event", "")
    audience = request.args.get("audience")
    page = _page()
    with hub.db.session(write=False) as session:
        incident = records.get_incident(session, ref)
        where = [Notification.incident_id == incident.id]
        if event:
            where.append(event_column(session) == event)
        if audience is not None:
            where.append(func.coalesce(Notification.audience, "") == audience)
        batch = Notification.key.contains("|batch:")
        people = [*where, not_(batch)]
        total = session.scalar(select(func.count(Notification.id)).where(*people)) or 0
        pages = max(1, -(-total // PAGE))
        page = min(page, pages)
        rows = list(
            session.execute(
                select(*SUMMARY_COLUMNS)
                .where(*people)
                .order_by(Notification.id)
                .offset((page - 1) * PAGE)
                .limit(PAGE)
            )
        )
        messages = [
            m
            for m in session.execute(
                select(*SUMMARY_COLUMNS)
                .where(*where, batch)
                .order_by(Notification.id)
                .limit(MESSAGES_SHOWN)
            )
            if batches.is_batch(m)
        ]
        shown = [
            {
                "recipient": shown_recipient(n.recipient),
                "audience": audience_label(n.audience, hub.policy),
                "channel": n.channel,
                "status": "pending" if n.status == batches.BATCHED else n.status,
                "at": n.sent_at,
                "after_s": (n.sent_at - n.created_at).total_seconds() if n.sent_at else None,
                "reason": (
                    short_reason(n.last_error, n.status)
                    if n.status in ("failed", "suppressed")
                    else (redact_text(n.last_error) if n.last_error else None)
                ),
                "batch": n.batch_id,
            }
            for n in rows
        ]
        return render(
            "deliveries.html",
            title=f"{incident.ref} deliveries",
            incident=incident,
            event=event,
            notice=notice_name(rows[0].template) if event and rows else None,
            audience=audience_label(audience or None, hub.policy) if audience is not None else None,
            query={"event": event or None, "audience": audience},
            rows=shown,
            total=total,
            page=page,
            pages=pages,
            first=(page - 1) * PAGE + 1,
            messages=messages,
            messages_shown=MESSAGES_SHOWN,
            now=utcnow(),
        )
