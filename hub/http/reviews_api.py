"""Reviews, problems and action items over the API (the built knowledge base: hub/web/kb.py)."""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify, request
from sqlalchemy import select

from hub.app.db import utcnow
from hub.app.models import Problem
from hub.core.permissions import review_owner
from hub.http import validate as v
from hub.http.auth import require_person
from hub.reviews import action_items as items_ops
from hub.reviews import operations as ops
from hub.reviews import problems as prb
from hub.reviews import ticket_export
from hub.reviews.docs import review_doc

bp = Blueprint("reviews", __name__)


def _hub():
    return current_app.extensions["hub"]


@bp.before_request
def _authenticate():
    if request.path.startswith("/api/"):
        require_person()


def _doc(session, review, now) -> dict:
    hub = _hub()
    linked = [p.ref for p in prb.problems_of(session, review.incident_id)]
    return review_doc(
        review,
        hub.policy,
        base_url=hub.settings.base_url,
        owner=review_owner(review.incident),
        now=now,
        problems=linked,
    )


@bp.get("/api/v1/incidents/<ref>/review")
def get_review(ref: str):
    """The post-incident review: content, timeline, figures, state and deadline."""
    with _hub().db.session(write=False) as session:
        return jsonify(_doc(session, ops.get_review(session, ref), utcnow()))


@bp.put("/api/v1/incidents/<ref>/review")
def update_review(ref: str):
    """Edit the review (Problem Manager or Major Incident Manager); fields left out stay."""
    actor, data, hub, now = require_person(), v.json_body(v.REVIEW), _hub(), utcnow()
    with hub.transaction() as session:
        review = ops.get_review(session, ref, lock=True)
        ops.update_review(session, hub.policy, review, data, actor=actor, now=now)
        session.flush()
        return jsonify(_doc(session, review, now))


def _step(ref: str, name: str, spec, status: int = 200):
    actor, data, hub, now = require_person(), v.json_body(spec), _hub(), utcnow()
    with hub.transaction() as session:
        review = ops.get_review(session, ref, lock=True)
        ops.step(
            session, hub.policy, review, name, actor=actor, now=now, reason=data.get("reason") or ""
        )
        session.flush()
        doc = _doc(session, review, now)
    return jsonify(doc), status


@bp.post("/api/v1/incidents/<ref>/review/submit")
def submit(ref: str):
    """Submit the review for approval (Problem Manager)."""
    return _step(ref, "submit", v.REVIEW_STEP)


@bp.post("/api/v1/incidents/<ref>/review/approve")
def approve(ref: str):
    """Approve the review (Major Incident Manager or admin); publishing starts at once."""
    return _step(ref, "approve", v.REVIEW_STEP, 202)


@bp.post("/api/v1/incidents/<ref>/review/reject")
def reject(ref: str):
    """Send the review back to draft with a reason (Major Incident Manager or admin)."""
    return _step(ref, "reject", v.REVIEW_REJECT)


@bp.post("/api/v1/incidents/<ref>/review/publish")
def publish(ref: str):
    """Publish (or re-publish) an approved review to the knowledge base."""
    return _step(ref, "publish", v.REVIEW_STEP, 202)


@bp.get("/api/v1/problems")
def list_problems():
    """Problem records, newest first, filtered by state."""
    wanted = v.query(request.args, v.PROBLEM_FILTERS)  # 422: unknown name or value
    stmt = select(Problem).order_by(Problem.id.desc())
    if wanted["state"]:
        stmt = stmt.where(Problem.state.in_(wanted["state"]))
    with _hub().db.session(write=False) as session:
        return jsonify({"problems": [prb.problem_doc(p) for p in session.scalars(stmt)]})


@bp.post("/api/v1/problems")
def create_problem():
    """Open a problem record for a root cause, linked to incidents."""
    actor, data, hub, now = require_person(), v.json_body(v.PROBLEM), _hub(), utcnow()
    with hub.transaction() as session:
        problem = prb.create_problem(session, hub.policy, data, actor=actor, now=now)
        session.flush()
        return jsonify(prb.problem_doc(problem)), 201


@bp.get("/api/v1/problems/<ref>")
def show_problem(ref: str):
    """One problem record."""
    with _hub().db.session(write=False) as session:
        return jsonify(prb.problem_doc(prb.get_problem(session, ref)))


@bp.put("/api/v1/problems/<ref>")
def update_problem(ref: str):
    """Update a problem: text, state (known error needs a workaround), more incidents."""
    actor, data, hub, now = require_person(), v.json_body(v.PROBLEM_UPDATE), _hub(), utcnow()
    with hub.transaction() as session:
        problem = prb.get_problem(session, ref, lock=True)
        prb.update_problem(session, hub.policy, problem, data, actor=actor, now=now)
        session.flush()
        return jsonify(prb.problem_doc(problem))


@bp.get("/api/v1/action-items")
def list_items():
    """Action items across reviews: open ones by default; ?status=, ?owner=, ?overdue=true."""
    wanted = v.query(request.args, v.ITEM_FILTERS)  # 422: unknown name or value
    today = utcnow().date()
    overdue = today if wanted["overdue"] else None
    with _hub().db.session(write=False) as session:
        items = items_ops.list_items(
            session, status=tuple(wanted["status"]), owner=wanted["owner"], overdue_on=overdue
        )
        return jsonify({"action_items": items_ops.items_doc(items, _hub().policy, today)})


@bp.patch("/api/v1/action-items/<ident>")
def update_item(ident: str):
    """Track an action item: status, owner, due date, priority, ticket."""
    actor, data, hub, now = require_person(), v.json_body(v.ITEM_UPDATE), _hub(), utcnow()
    with hub.transaction() as session:
        item = items_ops.get_item(session, ident)
        items_ops.update_item(session, hub.policy, item, data, actor=actor, now=now)
        session.flush()
        return jsonify(items_ops.items_doc([item], hub.policy, now.date())[0])


@bp.post("/api/v1/action-items/<ident>/export")
def export_item(ident: str):
    """Send an action item to the ticket system (HUB_TICKET_WEBHOOK_URL) through the outbox."""
    actor, hub, now = require_person(), _hub(), utcnow()
    with hub.transaction() as session:
        item = items_ops.get_item(session, ident, lock=True)
        row = ticket_export.export_item(
            session, hub.settings, hub.policy, item, actor=actor, now=now
        )
        doc = {"action_item": item.id, "delivery": row.key, "notification": row.id}
    return jsonify({**doc, "status": "pending"}), 202
