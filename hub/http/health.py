"""/healthz (can the hub do its work), /readyz (may this process take requests), /livez
(is it alive), and /metrics in Prometheus text. The checks are in hub/http/readiness.py."""

from __future__ import annotations

import atexit
import json
import logging
import os
import secrets
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import TimeoutError as FutureTimeout
from pathlib import Path

from flask import Flask, Response, current_app, jsonify, request
from sqlalchemy import func, select

from hub.app.db import utcnow
from hub.app.errors import Unauthorized
from hub.app.models import Incident, Notification
from hub.http import readiness

log = logging.getLogger("hub.http.health")
QUEUE_PENDING = "hub.queue_pending"  # app.extensions key: () -> messages waiting in the queue


class RequestCounts:
    """HTTP requests by (method, route, status), counted by every process of one server.

    Alone, a process counts in memory. Under gunicorn each worker process counts its own, so
    /metrics, answered by any one worker, would show a different part at each scrape. The
    server gives its workers a shared directory (`share`): a thread in each worker writes the
    worker's totals to a file of its own once a second when they changed, and /metrics sums
    the files. A worker's file only grows, so every series only grows, as a Prometheus
    counter must; a scrape may miss the last second of the other workers' requests.
    """

    FLUSH_EVERY = 1.0  # seconds

    def __init__(self):
        self._counts: Counter = Counter()
        self._lock = threading.Lock()
        self._write_lock = threading.Lock()  # one write of this process's file at a time
        self._dirty = False
        self._writer_pid = 0  # the process whose writer thread runs (threads don't fork)
        self._name = ""  # this process's file: pid and a random part (pids are reused)
        self.directory: Path | None = None

    def share(self, directory: str | Path) -> None:
        """Count with the other processes of this server through `directory`."""
        self.directory = Path(directory)

    def add(self, method: str, route: str, status: int) -> None:
        with self._lock:
            self._counts[(method, route, status)] += 1
            self._dirty = True
            start = self.directory is not None and self._writer_pid != os.getpid()
            if start:
                self._writer_pid = os.getpid()
        if start:
            self._name = f"{os.getpid()}-{secrets.token_hex(4)}.json"
            atexit.register(self.flush)  # a worker stopping writes its last second too
            threading.Thread(
                target=self._write_every_second, name="request-counts", daemon=True
            ).start()

    def _write_every_second(self) -> None:
        while True:
            time.sleep(self.FLUSH_EVERY)
            if self._dirty:
                self.flush()

    def flush(self) -> None:
        """Write this process's totals to its file (atomically: a reader sees old or new)."""
        if self.directory is None or not self._name:
            return
        with self._write_lock:  # the writer thread and a scrape: the later snapshot wins
            with self._lock:
                rows = [[*key, count] for key, count in self._counts.items()]
                self._dirty = False
            path = self.directory / self._name
            try:
                tmp = path.with_name(path.name + ".tmp")  # not *.json: readers skip it
                tmp.write_text(json.dumps(rows))
                os.replace(tmp, path)
            except OSError as exc:  # counting must never fail a request
                log.warning("could not write request counts to %s: %s", path, exc)

    def totals(self) -> list[tuple[tuple[str, str, int], int]]:
        """Every process's counts summed, sorted by key."""
        if self.directory is None:
            with self._lock:
                return sorted(self._counts.items())
        self.flush()
        summed: Counter = Counter()
        for path in self.directory.glob("*.json"):
            try:
                rows = json.loads(path.read_text())
            except (OSError, ValueError):  # vanished or unreadable: counted at the next scrape
                continue
            for method, route, status, count in rows:
                summed[(method, route, status)] += count
        return sorted(summed.items())


request_counts = RequestCounts()


def init_app(app: Flask, queue_pending: Callable[[], int]) -> None:
    """Register the endpoints and the request counter; /healthz asks `queue_pending()`."""
    app.extensions[QUEUE_PENDING] = queue_pending

    @app.after_request
    def _count(response):
        rule = request.url_rule.rule if request.url_rule else "unmatched"
        request_counts.add(request.method, rule, response.status_code)
        return response

    app.add_url_rule("/healthz", "healthz", healthz)
    app.add_url_rule("/readyz", "readyz", readyz)
    app.add_url_rule("/livez", "livez", livez)
    app.add_url_rule("/metrics", "metrics", metrics)


def livez():
    """200 while the process answers at all: no I/O (an orchestrator restarts it otherwise)."""
    return jsonify({"status": "ok"})


def readyz():
    """200 when this process can serve: database answers quickly, schema at head, templates."""
    hub = current_app.extensions["hub"]
    checks = {**readiness.check_database(hub.db), "templates": readiness.check_templates()}
    return _answer(checks, ("database", "schema", "templates"))


def _answer(checks: dict, required) -> tuple:
    problems = [f"{name}: {checks[name]}" for name in required if not checks[name].startswith("ok")]
    body = {"status": "error" if problems else "ok", "checks": checks}
    if problems:
        body["reason"] = "; ".join(problems)
    return jsonify(body), 503 if problems else 200


def healthz():
    """200 when the hub can do its work: database, schema, queue, templates, outbox and
    publisher; 503 with the reason otherwise."""
    hub = current_app.extensions["hub"]
    checks = readiness.check_database(hub.db)
    try:
        started = time.monotonic()
        readiness.within(current_app.extensions[QUEUE_PENDING])  # a hung queue: said at once
        checks["queue"] = "ok"
        checks["queue_ms"] = round((time.monotonic() - started) * 1000, 1)
    except FutureTimeout:
        checks["queue"] = f"error: no answer within {readiness.DATABASE_TIMEOUT:g} s"
    except Exception as exc:
        checks["queue"] = f"error: {type(exc).__name__}"
    # The check every use of the policy makes (reload the file if it changed): without it a
    # worker process that has not used the policy since a bad edit would still answer "ok".
    try:
        _ = hub.policies.current
        policy_error = hub.policies.last_error
        checks["policy"] = "ok" if not policy_error else "reload failed; running the last good one"
        if policy_error:  # what to fix, as `mihub policy check` says it (file:line: field: …)
            checks["policy_problems"] = policy_error.splitlines()[:20]
    except Exception as exc:  # no good policy at all
        checks["policy"] = f"error: {type(exc).__name__}"
    checks["templates"] = readiness.check_templates()
    if checks["database"] != "ok":  # said above; asking again would only wait again
        checks["outbox"] = "error: unknown while the database does not answer"
    else:
        try:
            with hub.db.session(write=False) as session:
                checks["outbox"] = readiness.check_outbox(session, utcnow())
        except Exception as exc:
            checks["outbox"] = f"error: {type(exc).__name__}"
    checks["publisher"] = readiness.check_publisher(hub.settings.data_dir)
    return _answer(checks, ("database", "schema", "queue", "templates", "outbox", "publisher"))


def _count_gauge(session, name: str, help_text: str, a, b) -> list[str]:
    """A gauge of row counts by the values of columns `a` and `b`, labelled by their names."""
    lines = [f"# HELP {name} {help_text}", f"# TYPE {name} gauge"]
    for x, y, count in session.execute(select(a, b, func.count()).group_by(a, b)).all():
        lines.append(f'{name}{{{a.key}="{x}",{b.key}="{y}"}} {count}')
    return lines


def metrics():
    """Prometheus text exposition format 0.0.4; with HUB_METRICS_TOKEN set, only for a
    scraper that sends `Authorization: Bearer <that token>`."""
    hub = current_app.extensions["hub"]
    wanted = hub.settings["HUB_METRICS_TOKEN"]
    if wanted:
        given = request.headers.get("Authorization", "")
        scheme, _, token = given.partition(" ")
        if scheme.lower() != "bearer" or not secrets.compare_digest(
            token.strip().encode(), wanted.encode()
        ):
            raise Unauthorized(
                "/metrics needs Authorization: Bearer <HUB_METRICS_TOKEN>",
                headers={"WWW-Authenticate": 'Bearer realm="metrics"'},
            )
    with hub.db.session(write=False) as session:
        lines = _count_gauge(
            session,
            "mihub_incidents",
            "Incidents by state and severity.",
            Incident.state,
            Incident.severity,
        )
        lines += _count_gauge(
            session,
            "mihub_notifications",
            "Outbox rows by channel and status.",
            Notification.channel,
            Notification.status,
        )
    lines += [
        "# HELP mihub_http_requests_total HTTP requests by method, route and status.",
        "# TYPE mihub_http_requests_total counter",
    ]
    for (method, rule, status), count in request_counts.totals():
        rule = rule.replace("\\", "\\\\").replace('"', '\\"')
        lines.append(
            f'mihub_http_requests_total{{method="{method}",route="{rule}",'
            f'status="{status}"}} {count}'
        )
    return Response("\n".join(lines) + "\n", mimetype="text/plain; version=0.0.4")
