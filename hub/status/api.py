"""REST API of the status page: its state as JSON, and maintenance windows."""

from __future__ import annotations

from datetime import UTC, datetime

from flask import Blueprint, current_app, jsonify, request

from hub.app.db import utcnow
from hub.app.errors import Invalid
from hub.app.timefmt import iso
from hub.http import validate as v
from hub.http.auth import require_person
from hub.status.board import LABELS, IncidentView, StatusPage, compose
from hub.status.maintenance import (
    cancel_maintenance,
    maintenance_doc,
    schedule_maintenance,
    upcoming,
)
from hub.status.read import load_rows

bp = Blueprint("status_api", __name__, url_prefix="/api/v1/status")


def _hub():
    return current_app.extensions["hub"]


@bp.before_request
def _authenticate():
    require_person()


@bp.get("")
def status():
    """Each service's state, open incidents, maintenance and 30 days of history
    (`?view=public`: what the public page shows)."""
    public = v.query(request.args, v.STATUS_QUERY)["view"] == ["public"]
    hub, now = _hub(), utcnow()
    with hub.db.reading() as connection:
        incidents, windows = load_rows(connection, now)
    return jsonify(status_doc(compose(hub.policy, incidents, windows, now, public=public)))


@bp.get("/maintenance")
def list_maintenance():
    """Scheduled maintenance windows not yet over, soonest first."""
    v.query(request.args, v.QUERIES["status_api.list_maintenance"])
    with _hub().db.session(write=False) as session:
        return jsonify({"maintenance": [maintenance_doc(w) for w in upcoming(session, utcnow())]})


@bp.post("/maintenance")
def create_maintenance():
    """Schedule maintenance (Communications Owners on the roster and admins)."""
    actor = require_person()
    data = v.json_body(v.MAINTENANCE)
    hub, now = _hub(), utcnow()
    with hub.transaction() as session:
        window = schedule_maintenance(
            session,
            hub.policy,
            services=data["services"],
            start=instant("start", data["start"]),
            end=instant("end", data["end"]),
            text=data["text"],
            public_text=data.get("public_text"),
            actor=actor,
            now=now,
        )
        doc = maintenance_doc(window)
    return jsonify(doc), 201


@bp.delete("/maintenance/<int:window_id>")
def delete_maintenance(window_id: int):
    """Cancel a maintenance window (the row stays, `cancelled`)."""
    actor = require_person()
    hub = _hub()
    with hub.transaction() as session:
        doc = maintenance_doc(
            cancel_maintenance(session, hub.policy, window_id, actor=actor, now=utcnow())
        )
    return jsonify(doc)


def instant(name: str, text: str) -> datetime:
    """An ISO 8601 time with its offset, as UTC (422 otherwise)."""
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        raise Invalid(f"{name}: expected ISO 8601 like 2026-03-01T08:00:00+01:00") from None
    if value.tzinfo is None:
        raise Invalid(f"{name}: give a UTC offset (like +01:00 or Z)")
    return value.astimezone(UTC)


def status_doc(page: StatusPage) -> dict:
    """The page as JSON."""

    def incident(i: IncidentView) -> dict:
        return {
            "id": i.ref,
            "title": i.title,
            "severity": i.severity,
            "state": i.state,
            "services": list(i.services),
            "started_at": iso(i.started_at),
            "resolved_at": iso(i.resolved_at),
            "next_update_at": iso(i.next_update_at),
            "updates": [
                {"at": iso(u.at), "text": u.text, "public_text": u.public_text, "auto": u.auto}
                for u in i.updates
            ],
        }

    def window(m) -> dict:
        return {
            "id": m.id,
            "services": list(m.services),
            "start": iso(m.start_at),
            "end": iso(m.end_at),
            "text": m.text,
            "public_text": m.public_text,
            "active": m.active,
        }

    return {
        "view": "public" if page.public else "internal",
        "generated_at": iso(page.generated_at),
        "overall": page.overall,
        "services": [
            {"key": s.key, "name": s.name, "state": s.state, "label": LABELS[s.state]}
            for s in page.services
        ],
        "incidents": [incident(i) for i in page.incidents],
        "maintenance": [window(m) for m in page.maintenance],
        "history": [
            incident(h) if isinstance(h, IncidentView) else window(h) for h in page.history
        ],
    }
