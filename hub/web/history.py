"""The console's history and follow-ups: every incident (filters and full-text search), every
action item, every problem record. Each filter is a plain GET form; the one change made here
is an action item's export to the ticket system (hub/reviews/ticket_export.py)."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, request, url_for
from sqlalchemy import select

from hub.app.db import utcnow
from hub.app.errors import Conflict, Forbidden, Invalid
from hub.app.models import Problem, ProblemLink
from hub.core.lifecycle import STATES
from hub.core.permissions import changes_action_item
from hub.incidents.search import Filters, parse_day, search_incidents
from hub.reviews import action_items as items_ops
from hub.reviews import ticket_export
from hub.reviews.content import ITEM_STATUSES, OPEN_ITEM
from hub.reviews.problems import STATES as PROBLEM_STATES
from hub.web.common import render, require_person, the_hub

bp = Blueprint("history", __name__)
SHOWN = 200


def _pick(name: str, allowed) -> tuple[str, ...]:
    """The values of a multi-select filter that are allowed (others are ignored)."""
    return tuple(v for v in request.args.getlist(name) if v in allowed)


@bp.get("/incidents")
def incidents():
    """Every incident, newest first: state, severity, service, dates, mine, and words."""
    hub, person = the_hub(), require_person()
    policy = hub.policy
    args = request.args
    form = {
        "q": (args.get("q") or "").strip()[:200],
        "state": _pick("state", STATES),
        "severity": _pick("severity", policy.severities),
        "service": _pick("service", policy.services),
        "since": (args.get("since") or "").strip(),
        "until": (args.get("until") or "").strip(),
        "mine": args.get("mine") == "1",
    }
    error, rows = None, []
    try:
        filters = Filters(
            q=form["q"],
            state=form["state"],
            severity=form["severity"],
            service=form["service"],
            since=parse_day(form["since"], policy.timezone),
            until=parse_day(form["until"], policy.timezone, end=True, name="until"),
            mine=person if form["mine"] else None,
            limit=SHOWN,
        )
        with hub.db.session(write=False) as session:
            rows = search_incidents(session, filters)
            body = _render_incidents(rows, form, error, policy)
    except Invalid as exc:
        error = exc.message
        body = _render_incidents([], form, error, policy)
    return body


def _render_incidents(rows, form, error, policy) -> str:
    return render(
        "history.html",
        title="Incidents",
        rows=rows,
        form=form,
        error=error,
        states=STATES,
        shown=SHOWN,
        services=[(k, s.name) for k, s in policy.services.items()],
    )


@bp.get("/action-items")
def action_items():
    """Action items of every review: status, owner, overdue."""
    hub = the_hub()
    person = require_person()
    status = _pick("status", ITEM_STATUSES) or OPEN_ITEM
    owner = (request.args.get("owner") or "").strip()[:120] or None
    overdue = request.args.get("overdue") == "1"
    today = utcnow().date()
    with hub.db.session(write=False) as session:
        items = items_ops.list_items(
            session, status=status, owner=owner, overdue_on=today if overdue else None
        )
        docs = items_ops.items_doc(items, hub.policy, today)
        ids = {i.review.incident_id for i in items}
        linked = session.execute(
            select(ProblemLink.incident_id, Problem.id)
            .join(Problem)
            .where(ProblemLink.incident_id.in_(ids))
        )
        problems: dict[str, list[str]] = {}
        for incident_id, problem_id in linked:
            problems.setdefault(f"INC-{incident_id}", []).append(f"PRB-{problem_id}")
        offered = ticket_export.enabled(hub.settings)
        exports = ticket_export.export_state(session, items) if offered else {}
        return render(
            "action_items.html",
            title="Action items",
            items=docs,
            exports={
                ident: (row.status, row.last_error, row.key) for ident, row in exports.items()
            },
            may_export={
                i.id
                for i in items
                if offered and changes_action_item(hub.policy, i.review.incident, i.owner, person)
            },
            problems=problems,
            statuses=ITEM_STATUSES,
            form={"status": status, "owner": owner or "", "overdue": overdue},
        )


@bp.post("/action-items/<ident>/export")
def export_item(ident: str):
    """Send one action item to the ticket system (through the outbox)."""
    hub, person, now = the_hub(), require_person(), utcnow()
    try:
        with hub.transaction() as session:
            item = items_ops.get_item(session, ident, lock=True)
            row = ticket_export.export_item(
                session, hub.settings, hub.policy, item, actor=person, now=now
            )
            key = row.key
    except (Conflict, Forbidden) as exc:
        flash(f"Not exported: {exc.message}", "error")
    else:
        flash(f"Action item {ident} is on its way to the ticket system ({key}).", "success")
    return redirect(url_for("history.action_items"), code=303)


@bp.get("/problems")
def problems():
    """Problem records, newest first, by state."""
    hub = the_hub()
    require_person()
    states = _pick("state", PROBLEM_STATES)
    stmt = select(Problem).order_by(Problem.id.desc()).limit(500)
    if states:
        stmt = stmt.where(Problem.state.in_(states))
    with hub.db.session(write=False) as session:
        rows = list(session.scalars(stmt))
        return render(
            "problems.html",
            title="Problems",
            problems=rows,
            links={p.id: [link.incident_id for link in p.links] for p in rows},
            states=PROBLEM_STATES,
            form={"state": states},
        )
