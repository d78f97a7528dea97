"""HTTP: `POST /intake/email` for gateways and forwarders, and the stored-mail API for people."""

from __future__ import annotations

import logging

from flask import Blueprint, current_app, jsonify, request
from sqlalchemy import select

from hub.app.db import utcnow
from hub.app.errors import BadRequest, Forbidden, UnsupportedMediaType
from hub.app.models import InboundMessage
from hub.core import permissions
from hub.http import validate as v
from hub.http.auth import require_person
from hub.intake.email import quarantine as q
from hub.intake.email.pipeline import process
from hub.intake.email.store import store_raw
from hub.notifications import suppression

bp = Blueprint("email_intake", __name__)
log = logging.getLogger("hub.intake.email")
RAW_TYPES = ("message/rfc822",)


def _hub():
    return current_app.extensions["hub"]


@bp.post("/intake/email")
def intake():
    """Take one raw RFC 5322 message (message/rfc822); 202 with the outcome."""
    require_person()
    hub = _hub()
    kind = (request.mimetype or "").lower()
    if kind not in RAW_TYPES:
        raise UnsupportedMediaType(
            f"send one raw message as message/rfc822, not {kind or 'nothing'}"
        )
    envelope = posted_envelope(request)
    request.max_content_length = hub.policy.intake.max_message_bytes
    raw = request.get_data(cache=False)
    if not raw.strip():
        raise BadRequest("the body is empty; send one raw RFC 5322 message")
    now = utcnow()
    with hub.transaction() as session:  # stored (committed) before any processing
        ident = store_raw(session, raw, via="http", now=now, envelope=envelope).id
    result = process(hub, ident, now)
    if result is None or result.status == "failed":  # kept; reprocessing will settle it
        return jsonify({"outcome": "pending", "incident": None, "id": ident}), 202
    return jsonify({"outcome": result.outcome, "incident": result.incident, "id": ident}), 202


def posted_envelope(req) -> dict:
    """The SMTP envelope a gateway passes on: `?mail_from=&rcpt_to=` or the headers
    `X-Envelope-From` / `X-Original-To` (`<>` is the null sender of a bounce)."""
    given = v.query(req.args, v.POST_QUERIES["email_intake.intake"])
    sender = given["mail_from"] or req.headers.get("X-Envelope-From")
    rcpts = given["rcpt_to"] or ",".join(req.headers.getlist("X-Original-To"))
    envelope: dict = {"peer": req.remote_addr}
    if sender is not None:
        envelope["mail_from"] = sender.strip().strip("<>").strip()[:320]
    addresses = [a.strip().strip("<>") for a in (rcpts or "").split(",") if "@" in a]
    if addresses:
        envelope["rcpt_tos"] = addresses[:100]
    return envelope


def _manager() -> str:
    actor = require_person()
    if permissions.manages_mail(_hub().policy, actor):
        return actor
    raise Forbidden(permissions.MAIL_REFUSAL)


@bp.get("/api/v1/mail/quarantine")
def list_quarantine():
    """Quarantined inbound mail, newest first."""
    _manager()
    v.query(request.args, v.QUERIES["email_intake.list_quarantine"])  # it takes none
    with _hub().db.session(write=False) as session:
        return jsonify({"messages": q.list_quarantine(session)})


@bp.get("/api/v1/mail/messages")
def find_messages():
    """Stored inbound email by the name the SMTP listener answered (`?queued_as=`)."""
    _manager()
    name = v.query(request.args, v.MAIL_FIND_FILTERS)["queued_as"]  # 422: missing or unknown
    with _hub().db.session(write=False) as session:
        rows = session.scalars(
            select(InboundMessage).where(
                InboundMessage.channel == "email",
                InboundMessage.envelope["queued_as"].as_string() == name,
            )
        )
        return jsonify({"messages": [q.summary(r) for r in rows]})


@bp.get("/api/v1/mail/messages/<int(max=2147483647):ident>")
def show_message(ident: int):
    """One stored inbound email: status, outcome and every pipeline decision."""
    _manager()
    with _hub().db.session(write=False) as session:
        row = q.get_message(session, ident)
        return jsonify(
            {**q.summary(row), "decisions": row.decisions or [], "envelope": row.envelope or {}}
        )


def _apply(action, ident: int):
    actor = _manager()
    result = action(_hub(), ident, actor=actor, now=utcnow())
    return jsonify(
        {
            "id": result.id,
            "status": result.status,
            "outcome": result.outcome,
            "incident": result.incident,
        }
    )


@bp.post("/api/v1/mail/messages/<int(max=2147483647):ident>/release")
def release(ident: int):
    """Release a quarantined message: it is processed without the sender checks."""
    return _apply(q.release, ident)


@bp.post("/api/v1/mail/messages/<int(max=2147483647):ident>/discard")
def discard(ident: int):
    """Discard a quarantined message (its raw copy is kept)."""
    return _apply(q.discard, ident)


@bp.post("/api/v1/mail/messages/<int(max=2147483647):ident>/reprocess")
def reprocess(ident: int):
    """Process a failed or unprocessed message again from its raw copy."""
    return _apply(q.reprocess, ident)


@bp.get("/api/v1/mail/suppressions")
def list_suppressions():
    """Addresses the hub no longer mails, newest first, with the bounce that caused each."""
    _manager()
    v.query(request.args, v.QUERIES["email_intake.list_suppressions"])  # it takes none
    with _hub().db.session(write=False) as session:
        return jsonify({"suppressions": suppression.list_suppressions(session)})


@bp.post("/api/v1/mail/suppressions/<path:address>/lift")
def lift_suppression(address: str):
    """Mail this address again (after the person's mailbox is fixed)."""
    actor = _manager()
    with _hub().transaction() as session:
        gone = suppression.lift(session, address, actor=actor)
    log.info("email suppression of %s lifted by %s", gone["address"], actor)
    return jsonify({"lifted": gone, "by": actor})
