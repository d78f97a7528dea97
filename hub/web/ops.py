"""Operations pages (administrators): outbox, email quarantine and suppressions, intake log,
the policy."""

from __future__ import annotations

import logging

from flask import Blueprint, flash, redirect, request, url_for
from sqlalchemy import func, select

from hub.app.db import utcnow
from hub.app.errors import Conflict, Forbidden, Invalid, NotFound
from hub.app.models import InboundMessage
from hub.core.permissions import ADMIN_PAGES, is_admin
from hub.intake.email import quarantine as q
from hub.notifications import suppression
from hub.web import outbox_admin, policy_view
from hub.web.common import render, require_person, the_hub

bp = Blueprint("ops", __name__, url_prefix="/ops")
log = logging.getLogger("hub.web.ops")
SHOWN = {
    "problems": ("failed", "pending", "sending"),
    "failed": ("failed",),
    "pending": ("pending", "sending"),
    "sent": ("sent",),
    "all": outbox_admin.STATUSES,
}


@bp.before_request
def _admins_only():
    if not is_admin(the_hub().policy, require_person()):
        raise Forbidden(ADMIN_PAGES)


@bp.get("/")
def index():
    """What needs attention, and the way to each page."""
    hub = the_hub()
    with hub.db.session(write=False) as session:
        counts = outbox_admin.counts(session)
        quarantined = session.scalar(
            select(func.count(InboundMessage.id)).where(InboundMessage.status == "quarantined")
        )
    return render("ops/index.html", title="Operations", counts=counts, quarantined=quarantined)


@bp.get("/outbox")
def outbox():
    """Notifications by status (failed and pending first), with retry."""
    shown = request.args.get("show", "problems")
    statuses = SHOWN.get(shown, SHOWN["problems"])
    with the_hub().db.session(write=False) as session:
        rows = outbox_admin.list_rows(session, statuses)
        counts = outbox_admin.counts(session)
        return render(
            "ops/outbox.html",
            title="Outbox",
            rows=rows,
            counts=counts,
            shown=shown,
            choices=SHOWN,
            now=utcnow(),
        )


@bp.post("/outbox/<int(max=2147483647):row_id>/retry")
def retry(row_id: int):
    """Put a failed delivery back in the queue."""
    hub, person = the_hub(), require_person()
    try:
        with hub.transaction() as session:
            row = outbox_admin.retry_failed(session, row_id, actor=person, now=utcnow())
            what = f"{row.template} to {row.recipient.split('?', 1)[0]}"
    except Conflict as exc:
        flash(exc.message, "error")
    else:
        flash(f"Retrying #{row_id} ({what}).", "success")
    return redirect(url_for("ops.outbox", show=request.args.get("show", "problems")), code=303)


@bp.get("/quarantine")
def quarantine():
    """Quarantined email, with release and discard."""
    with the_hub().db.session(write=False) as session:
        rows = q.list_quarantine(session)
    return render("ops/quarantine.html", title="Email quarantine", rows=rows)


@bp.post("/quarantine/<int(max=2147483647):ident>/<action>")
def quarantine_action(ident: int, action: str):
    """Release (process without the sender checks) or discard a quarantined email."""
    if action not in ("release", "discard"):
        raise Invalid(f"unknown action {action!r}")
    run = q.release if action == "release" else q.discard
    try:
        result = run(the_hub(), ident, actor=require_person(), now=utcnow())
    except Conflict as exc:
        flash(exc.message, "error")
    else:
        where = f" ({result.incident})" if getattr(result, "incident", None) else ""
        flash(f"Email #{ident} {action}d: {result.outcome or result.status}{where}.", "success")
    return redirect(url_for("ops.quarantine"), code=303)


@bp.get("/suppressions")
def suppressions():
    """Addresses the hub no longer mails (permanent bounces of its own mail), with lift."""
    with the_hub().db.session(write=False) as session:
        rows = suppression.list_suppressions(session)
    return render("ops/suppressions.html", title="Suppressed addresses", rows=rows)


@bp.post("/suppressions/lift")
def lift_suppression():
    """Mail a suppressed address again."""
    address = (request.form.get("address") or "").strip()
    person = require_person()
    try:
        with the_hub().transaction() as session:
            gone = suppression.lift(session, address, actor=person, now=utcnow())
    except NotFound as exc:
        flash(exc.message, "error")
    else:
        log.info("email suppression of %s lifted by %s", gone["address"], person)
        flash(f"{gone['address']} will be mailed again.", "success")
    return redirect(url_for("ops.suppressions"), code=303)


@bp.get("/intake")
def intake():
    """Every inbound message, newest first: what came in and what the hub decided."""
    channel = request.args.get("channel") or None
    stmt = select(InboundMessage).order_by(InboundMessage.id.desc()).limit(200)
    if channel:
        stmt = stmt.where(InboundMessage.channel == channel)
    with the_hub().db.session(write=False) as session:
        rows = [
            {
                "id": m.id,
                "channel": m.channel,
                "sender": m.sender,
                "received_at": m.received_at,
                "status": m.status,
                "outcome": m.outcome,
                "incident": f"INC-{m.incident_id}" if m.incident_id else None,
                "decisions": list(m.decisions or ())[-3:],
                "size": len(m.raw or b""),
            }
            for m in session.scalars(stmt)
        ]
    return render("ops/intake.html", title="Intake log", rows=rows, channel=channel)


@bp.get("/policy")
def policy():
    """The policy as what will happen per severity."""
    hub = the_hub()
    policy = hub.policy
    severities = [
        {
            "key": key,
            "severity": sev,
            "steps": policy_view.steps_for(policy, key),
            "picture": policy_view.picture(policy, key) if sev.major else None,
            "audiences": [policy.audience_name(a) for a in sev.notify],
        }
        for key, sev in policy.severities.items()
    ]
    return render(
        "ops/policy.html",
        title="Policy",
        severities=severities,
        duration=policy_view.duration_text,
        target=policy_view.target_text,
        source=policy.source,
        reload_error=hub.policies.last_error,
    )
