"""Checklist tasks of an incident and the audit log over the API."""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify, request

from hub.app import audit
from hub.app.db import utcnow
from hub.app.errors import Forbidden, Invalid
from hub.app.timefmt import parse_iso
from hub.core.permissions import is_admin
from hub.http import validate as v
from hub.http.auth import require_person
from hub.incidents import records, tasks
from hub.incidents.act import act

bp = Blueprint("worklog", __name__, url_prefix="/api/v1")
AUDIT_REFUSAL = "the audit log is for the administrators named in the policy (admins:)"


def _hub():
    return current_app.extensions["hub"]


@bp.before_request
def _authenticate():
    require_person()


@bp.get("/incidents/<ref>/tasks")
def list_tasks(ref: str):
    """The incident's tasks by number: each role's checklist and the runbook steps."""
    hub, now = _hub(), utcnow()
    with hub.db.session(write=False) as session:
        incident = records.get_incident(session, ref)
        docs = [tasks.task_doc(hub.policy, t, now) for t in tasks.tasks_of(session, incident)]
        return jsonify({"incident": incident.ref, "tasks": docs})


@bp.post("/incidents/<ref>/tasks/<int:n>")
def tick(ref: str, n: int):
    """Tick task n (`{"done": true, "note": "…"}`), or untick it (`"done": false`); only the
    task's own role (or a policy admin) may (403 with the reason otherwise)."""
    actor = require_person()
    data = v.json_body(v.TASK)
    hub, now = _hub(), utcnow()
    with hub.transaction() as session:
        task = act(
            session,
            hub.policy,
            ref,
            actor,
            "task",
            lambda incident: tasks.tick_task(
                session,
                hub.policy,
                incident,
                n,
                done=data.get("done", True),
                note=data.get("note"),
                actor=actor,
                now=now,
            ),
            now=now,
        )
        session.flush()
        doc = tasks.task_doc(hub.policy, task, now)
    return jsonify(doc)


@bp.get("/audit")
def list_audit():
    """Audit records, oldest first (administrators only)."""
    actor = require_person()
    hub = _hub()
    wanted = v.query(request.args, v.AUDIT_FILTERS, {"action": list(audit.ACTIONS)})
    if not is_admin(hub.policy, actor):
        raise Forbidden(AUDIT_REFUSAL)
    try:
        since = parse_iso(wanted["since"]) if wanted["since"] else None
    except ValueError as exc:
        raise Invalid(f"since: {exc}", code="invalid_value") from None
    with hub.db.session(write=False) as session:
        rows = audit.records(
            session,
            since=since,
            action=(wanted["action"] or [None])[0],
            actor=wanted["actor"],
            limit=wanted["limit"],
        )
        return jsonify({"records": [audit.record_doc(r) for r in rows]})
