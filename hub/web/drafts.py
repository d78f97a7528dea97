"""Drafted stakeholder updates in the console: approve, edit or discard them in the room, or
approve them on the signed link the approver got by email (no sign-in: the token is the
permission, as for page links, and it works while the draft awaits approval and its person still
approves)."""

from __future__ import annotations

import logging

from flask import Blueprint, flash, redirect, request, url_for

from hub.app.db import utcnow
from hub.app.errors import HubError
from hub.app.models import UpdateDraft
from hub.core.permissions import role_label
from hub.incidents import drafts
from hub.incidents.act import act
from hub.incidents.page_links import read
from hub.incidents.records import get_incident
from hub.web.common import render, require_person, the_hub
from hub.web.sessions import foreign

bp = Blueprint("drafts", __name__)  # signed in
links_bp = Blueprint("draft_links", __name__)  # signed links: no sign-in
LINK = "/incidents/<ref>/drafts/<int:draft_id>/<token>"
log = logging.getLogger("hub.web")


def submitted(result) -> str:
    """What the person who posted an update is told."""
    if isinstance(result, UpdateDraft):
        return (
            f"Your update is draft {result.id}: it goes to the stakeholders once the "
            f"{role_label(result.approver_role)} approves it."
        )
    return "Update posted."


def room_drafts(session, policy, incident, person: str | None) -> list[dict]:
    """The room's drafts awaiting approval, each with whether `person` may approve it."""
    return [
        dict(
            drafts.draft_context(policy, incident, d),
            may_approve=drafts.may_approve(policy, incident, person, d.approver_role),
            may_discard=drafts.may_discard(policy, incident, person, d),
        )
        for d in drafts.awaiting(session, incident)
    ]


def _decide(ref: str, draft_id: int, person: str) -> str:
    """Approve as `person` through `act()`, with the form's `text` and `public_text` (edited
    first where they changed; a form without a field keeps that text)."""
    hub, now = the_hub(), utcnow()
    text, public_text = request.form.get("text"), request.form.get("public_text")
    with hub.transaction() as session:

        def run(incident):
            draft = drafts.get_draft(session, incident, draft_id)
            drafts.approve(session, hub.policy, incident, draft, actor=person, now=now,
                           text=text, public_text=public_text)  # fmt: skip
            edited = " (edited)" if draft.edits else ""
            return f"Draft {draft.id} approved{edited}: it went to the stakeholders."

        return act(session, hub.policy, ref, person, "update", run, now=now)


@bp.post("/incidents/<ref>/drafts/<int:draft_id>/approve")
def approve(ref: str, draft_id: int):
    """Approve a draft in the room, with its texts as the approver left them."""
    person = require_person()
    try:
        flash(_decide(ref, draft_id, person), "success")
    except HubError as exc:
        flash(f"Not approved: {exc.message}", "error")
    return redirect(url_for("room.room", ref=ref), code=303)


@bp.post("/incidents/<ref>/drafts/<int:draft_id>/discard")
def discard(ref: str, draft_id: int):
    """Discard a draft in the room (its author or its approver): nothing goes out."""
    person = require_person()
    hub, now = the_hub(), utcnow()

    def run(incident):
        found = drafts.get_draft(session, incident, draft_id)
        drafts.discard(session, hub.policy, incident, found, actor=person, now=now)
        return f"Draft {draft_id} discarded: it was not sent."

    try:
        with hub.transaction() as session:
            message = act(session, hub.policy, ref, person, "update", run, now=now,
                          refusal=lambda incident: None)  # fmt: skip
        flash(message, "success")
    except HubError as exc:
        flash(f"Not discarded: {exc.message}", "error")
    return redirect(url_for("room.room", ref=ref), code=303)


def _claim(ref: str, draft_id: int, token: str):
    claim = read(the_hub().settings.secret_key, token)
    if claim is None or claim.purpose != "approve-update":
        return None
    if claim.ref.lower() != ref.lower() or claim.nonce.split("-", 1)[0] != str(draft_id):
        return None  # a token moved to another incident or draft
    return claim


def _link_page(ref: str, draft_id: int, token: str, message: str = "", status: str = ""):
    hub = the_hub()
    claim = _claim(ref, draft_id, token)
    draft, incident_doc = None, None
    if claim is not None:
        with hub.db.session(write=False) as session:
            try:
                incident = get_incident(session, claim.incident_id)
                found = drafts.get_draft(session, incident, draft_id)
            except HubError:
                claim = None
            else:
                draft = drafts.draft_context(hub.policy, incident, found)
                draft["may_approve"] = drafts.may_approve(
                    hub.policy, incident, claim.person, found.approver_role
                )
                draft["decided_by"] = found.decided_by
                incident_doc = {"ref": incident.ref, "title": incident.title,
                                "severity": incident.severity}  # fmt: skip
    if claim is None:
        message = message or "This link is not valid: it may have been changed or cut short."
    body = render(
        "draft_link.html",
        title=f"{ref} draft {draft_id}",
        draft=draft,
        incident=incident_doc,
        token=token if claim is not None else None,
        message=message,
        status=status,
    )
    return body, 200


@links_bp.get(LINK)
def open_link(ref: str, draft_id: int, token: str):
    """The draft with its text to edit and one Approve button; opening it changes nothing."""
    return _link_page(ref, draft_id, token)


@links_bp.post(LINK)
def use_link(ref: str, draft_id: int, token: str):
    """Approve the draft (with its texts as edited on the page) as the link's person."""
    claim = _claim(ref, draft_id, token)
    if claim is None or request.form.get("token") != token or foreign(request):
        return _link_page(ref, draft_id, "", "This form or link is not valid; nothing was changed.")
    try:
        message = _decide(ref, draft_id, claim.person)
        status = "done"
        log.info("%s approved draft %s of %s by link", claim.person, draft_id, claim.ref)
    except HubError as exc:
        message, status = f"{exc.message}. Nothing was changed.", "refused"
    return _link_page(ref, draft_id, token, message, status)
