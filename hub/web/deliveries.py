"""Who got an incident's notice: the per-recipient list behind the room's delivery summary."""

from __future__ import annotations

from flask import Blueprint, request

from hub.app.db import utcnow
from hub.app.redact import redact_text
from hub.channels.base import shown_recipient
from hub.incidents import records
from hub.notifications import batches
from hub.notifications.delivery_report import (
    audience_label,
    event_of,
    notice_name,
    short_reason,
)
from hub.web.common import render, require_person, the_hub

bp = Blueprint("deliveries", __name__)
SHOWN = 5000


@bp.get("/incidents/<ref>/deliveries")
def recipients(ref: str):
    """Every recipient of one event's notice (`?event=`), one audience (`?audience=`) or all."""
    hub, _ = the_hub(), require_person()
    event = request.args.get("event", "")
    audience = request.args.get("audience")
    with hub.db.session(write=False) as session:
        incident = records.get_incident(session, ref)
        rows = [
            n
            for n in incident.notifications
            if (not event or event_of(n.key) == event)
            and (audience is None or (n.audience or "") == audience)
        ]
        by_id = {n.id: n for n in rows}
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
                "batch": by_id.get(n.batch_id),
            }
            for n in rows
            if not batches.is_batch(n)
        ]
        messages = [n for n in rows if batches.is_batch(n)]
        return render(
            "deliveries.html",
            title=f"{incident.ref} deliveries",
            incident=incident,
            event=event,
            notice=notice_name(rows[0].template) if event and rows else None,
            audience=audience_label(audience or None, hub.policy) if audience is not None else None,
            rows=shown[:SHOWN],
            total=len(shown),
            shown=SHOWN,
            messages=messages,
            now=utcnow(),
        )
