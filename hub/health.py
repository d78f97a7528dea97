"""/healthz checks the database and the queue; /metrics speaks Prometheus text."""

from __future__ import annotations

import threading
import time
from collections import Counter

from flask import Flask, Response, current_app, jsonify, request
from sqlalchemy import func, select, text

from hub.models import Incident, Notification

_requests: Counter = Counter()
_lock = threading.Lock()


def init_app(app: Flask) -> None:
    """Register the endpoints and the request counter."""

    @app.after_request
    def _count(response):
        rule = request.url_rule.rule if request.url_rule else "unmatched"
        with _lock:
            _requests[(request.method, rule, response.status_code)] += 1
        return response

    app.add_url_rule("/healthz", "healthz", healthz)
    app.add_url_rule("/metrics", "metrics", metrics)


def healthz():
    """200 when the database and the queue answer, 503 otherwise."""
    hub = current_app.extensions["hub"]
    checks = {}
    try:
        with hub.db.session(write=False) as session:
            session.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as exc:  # report, don't crash
        checks["database"] = f"error: {type(exc).__name__}"
    try:
        from tasks.queue import huey

        started = time.monotonic()
        huey.pending_count()
        checks["queue"] = "ok"
        checks["queue_ms"] = round((time.monotonic() - started) * 1000, 1)
    except Exception as exc:
        checks["queue"] = f"error: {type(exc).__name__}"
    policy_error = hub.policies.last_error
    checks["policy"] = "ok" if not policy_error else "reload failed; running the last good one"
    ok = checks["database"] == "ok" and checks["queue"] == "ok"
    return jsonify({"status": "ok" if ok else "error", "checks": checks}), 200 if ok else 503


def metrics():
    """Prometheus text exposition format 0.0.4."""
    hub = current_app.extensions["hub"]
    lines = ["# HELP mihub_incidents Incidents by state and severity.",
             "# TYPE mihub_incidents gauge"]
    with hub.db.session(write=False) as session:
        rows = session.execute(select(Incident.state, Incident.severity, func.count())
                               .group_by(Incident.state, Incident.severity)).all()
        for state, severity, count in rows:
            lines.append(f'mihub_incidents{{state="{state}",severity="{severity}"}} {count}')
        lines += ["# HELP mihub_notifications Outbox rows by channel and status.",
                  "# TYPE mihub_notifications gauge"]
        rows = session.execute(select(Notification.channel, Notification.status, func.count())
                               .group_by(Notification.channel, Notification.status)).all()
        for channel, status, count in rows:
            lines.append(f'mihub_notifications{{channel="{channel}",status="{status}"}} {count}')
    lines += ["# HELP mihub_http_requests_total HTTP requests by method, route and status.",
              "# TYPE mihub_http_requests_total counter"]
    with _lock:
        items = sorted(_requests.items())
    for (method, rule, status), count in items:
        rule = rule.replace("\\", "\\\\").replace('"', '\\"')
        lines.append(f'mihub_http_requests_total{{method="{method}",route="{rule}",'
                     f'status="{status}"}} {count}')
    return Response("\n".join(lines) + "\n", mimetype="text/plain; version=0.0.4")
