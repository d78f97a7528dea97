"""The alerts of an incident as the room shows them: source, labels, first/last seen, state, link."""

from __future__ import annotations

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from hub.app.models import Alert, AlertGroup

SHOWN = 200  # the room lists this many; the counts cover all


def alerts_panel(session: Session, incident_id: int) -> dict:
    """{"alerts": [...], "alert_counts": {state: n}} for the room (empty for a reported one)."""
    counts = dict(
        session.execute(
            select(Alert.state, func.count())
            .where(Alert.incident_id == incident_id)
            .group_by(Alert.state)
        ).all()
    )
    if not counts:
        return {"alerts": [], "alert_counts": {}}
    rows = session.execute(
        select(Alert, AlertGroup.source, AlertGroup.source_name)
        .join(AlertGroup, AlertGroup.id == Alert.group_id)
        .where(Alert.incident_id == incident_id)
        .order_by(case((Alert.state == "firing", 0), else_=1), Alert.last_seen.desc(), Alert.id)
        .limit(SHOWN)
    ).all()
    shown = [
        {
            "source": source,
            "name": name,
            "summary": alert.summary,
            "labels": sorted(
                (k, ", ".join(v) if isinstance(v, list) else str(v))
                for k, v in (alert.labels or {}).items()
                if v not in ("", [], None)
            ),
            "state": alert.state,
            "flapping": alert.flapping,
            "first_seen": alert.first_seen,
            "last_seen": alert.last_seen,
            "starts_at": alert.starts_at,
            "receipts": alert.receipts,
            "link": alert.link if (alert.link or "").startswith(("https://", "http://")) else None,
        }
        for alert, source, name in rows
    ]
    return {"alerts": shown, "alert_counts": counts}
