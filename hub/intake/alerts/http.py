"""`POST /intake/alerts/{alertmanager|grafana|azure-monitor}`: authenticate the source,
check the payload, store it raw, apply it, answer 202 (4xx with the reason otherwise)."""

from __future__ import annotations

import json

from flask import Blueprint, current_app, jsonify, request

from hub.app.db import utcnow
from hub.app.errors import BadRequest, Invalid
from hub.app.timefmt import iso
from hub.http.auth import require_person
from hub.incidents.records import get_incident
from hub.intake.alerts import ingest
from hub.intake.alerts.parse import SOURCES, Malformed, parse
from hub.intake.alerts.sources import RateLimiter, authenticate
from hub.intake.alerts.view import alerts_panel

bp = Blueprint("alerts_intake", __name__)
RATES = "hub.alert_rates"
TIMES = ("first_seen", "last_seen", "starts_at")


def _hub():
    return current_app.extensions["hub"]


def _limiter() -> RateLimiter:
    limiter = current_app.extensions.get(RATES)
    if limiter is None:
        rate = float(_hub().settings.text("HUB_ALERTS_RATE"))
        limiter = current_app.extensions.setdefault(RATES, RateLimiter(rate))
    return limiter


@bp.post("/intake/alerts/<any(alertmanager, grafana, 'azure-monitor'):source>")
def intake(source: str):
    """One webhook notification from a monitoring source; 202 once stored."""
    assert source in SOURCES
    hub = _hub()
    with hub.db.reading() as connection:
        name = authenticate(connection, request.headers, request.args)
    _limiter().take(name)
    request.max_content_length = hub.settings.int("HUB_ALERTS_MAX_BYTES")
    raw = request.get_data(cache=False)
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadRequest(f"the body is not JSON: {exc}") from None
    try:
        note = parse(source, body)
    except Malformed as exc:
        error = BadRequest if exc.status == 400 else Invalid
        raise error(f"not a {source} notification: {exc}") from None
    ident = ingest.accept(hub, source, name, raw, utcnow())  # stored; the worker applies it
    return jsonify(
        {"id": ident, "source": name, "outcome": "accepted", "alerts": len(note.alerts)}
    ), 202


@bp.get("/api/v1/incidents/<ref>/alerts")
def incident_alerts(ref: str):
    """The monitoring alerts of an incident: counts by state and the latest 200."""
    require_person()
    with _hub().db.session(write=False) as session:
        incident = get_incident(session, ref)
        found = alerts_panel(session, incident.id)
    return jsonify(
        {
            "incident": incident.ref,
            "counts": found["alert_counts"],
            "alerts": [
                {**a, "labels": dict(a["labels"]), **{k: iso(a[k]) for k in TIMES}}
                for a in found["alerts"]
            ],
        }
    )
