"""The post-incident review editor: the template's sections, action items, the review steps.

Built on the reviews operations (hub.reviews.operations), the same ones the API's
`/api/v1/incidents/{id}/review` uses; they check who may edit and step.
"""

from __future__ import annotations

from flask import Blueprint, flash, redirect, request, url_for

from hub.app.db import utcnow
from hub.app.errors import Conflict, Invalid
from hub.core import permissions
from hub.core.permissions import review_owner
from hub.reviews import operations as ops
from hub.reviews.content import ITEM_STATUSES, MAX_ITEMS, PRIORITIES, SECTIONS
from hub.reviews.docs import review_doc
from hub.web.common import render, require_person, the_hub

bp = Blueprint("review", __name__)
BLANK_ROWS = 3
ITEM_FIELDS = ("id", "title", "owner", "due", "priority", "status", "ticket")
STEPS = ("submit", "approve", "reject", "publish")


def form_to_data(form, policy) -> dict:
    """The review's JSON body (as the API takes it) from the editor's form."""
    data = {field: (form.get(field) or "").replace("\r\n", "\n") for field, _h, _w in SECTIONS}
    data["tags"] = [t for t in form.getlist("tags") if t in policy.review_tags]
    users = (form.get("affected_users") or "").strip()
    if users and not users.isdigit():
        raise Invalid("affected users must be a whole number")
    data["affected_users"] = int(users) if users else None
    version = (form.get("version") or "").strip()
    data["version"] = int(version) if version.isdigit() else None
    items = []
    count = form.get("item_count") or "0"
    for n in range(min(int(count) if count.isdigit() else 0, MAX_ITEMS + BLANK_ROWS)):
        raw = {f: (form.get(f"item-{n}-{f}") or "").strip() for f in ITEM_FIELDS}
        if not raw["title"]:
            continue  # an empty row is no item (clear the title to remove one)
        raw["id"] = int(raw["id"]) if raw["id"].isdigit() else None
        items.append(
            {
                k: (v or None) if k in ("owner", "due", "ticket") else v
                for k, v in raw.items()
                if not (k == "id" and v is None)
            }
        )
    data["action_items"] = items
    return data


def typed_fields(form) -> dict:
    """What the person typed, as the editor shows it again after a refused save: every
    section, the figures, the tags and every action item row with anything in it."""
    typed = {field: (form.get(field) or "").replace("\r\n", "\n") for field, _h, _w in SECTIONS}
    typed["affected_users"] = (form.get("affected_users") or "").strip()
    typed["tags"] = form.getlist("tags")
    rows = []
    count = form.get("item_count") or "0"
    for n in range(min(int(count) if count.isdigit() else 0, MAX_ITEMS + BLANK_ROWS)):
        row = {f: (form.get(f"item-{n}-{f}") or "").strip() for f in ITEM_FIELDS}
        if any(row[f] for f in ("title", "owner", "due", "ticket")):
            rows.append(row)
    typed["action_items"] = rows
    return typed


@bp.get("/incidents/<ref>/review")
def editor(ref: str, typed: dict | None = None, conflict: bool = False, status: int = 200):
    """The editor (read-only for those who may not edit); after a refused save, with what
    the person typed in every field and, on a version conflict, the saved version beside it."""
    hub, person, now = the_hub(), require_person(), utcnow()
    with hub.db.session(write=False) as session:
        review = ops.get_review(session, ref)
        incident = review.incident
        doc = review_doc(review, hub.policy, base_url="", owner=review_owner(incident), now=now)
        can = permissions.allowed(hub.policy, incident, person)
        theirs = {}
        if typed is not None:
            if conflict:  # the saved text of each section that differs from what was typed
                theirs = {f: doc[f] for f, _h, _w in SECTIONS if (doc[f] or "") != typed[f]}
            doc = {**doc, **typed}
        body = render(
            "review.html",
            title=f"Review of {incident.ref}",
            doc=doc,
            incident=incident,
            can=can,
            sections=SECTIONS,
            priorities=PRIORITIES,
            statuses=ITEM_STATUSES,
            editable=review.state in ops.EDITABLE and can["review_edit"],
            blank_rows=BLANK_ROWS,
            now=now,
            typed=typed is not None,
            theirs=theirs,
            saved_by=review.updated_by,
        )
    return body, status


@bp.post("/incidents/<ref>/review")
def save(ref: str):
    """Save the edits. A refused save (a wrong value, or a newer version saved by someone
    else meanwhile) shows the editor again with everything typed, never loses it."""
    hub, person, now = the_hub(), require_person(), utcnow()
    try:
        data = form_to_data(request.form, hub.policy)
        with hub.transaction() as session:
            review = ops.get_review(session, ref, lock=True)
            ops.update_review(session, hub.policy, review, data, actor=person, now=now)
    except (Invalid, Conflict) as exc:
        conflict = exc.code == "version_conflict"
        if conflict:
            message = (
                "Not saved: someone else saved this review while you edited it. Your text is "
                "below with the saved version beside each section that differs; merge them "
                "and save again."
            )
        else:
            message = f"Not saved: {exc.message}. Everything you typed is still below."
        flash(message, "error")
        typed = typed_fields(request.form)
        version = (request.form.get("version") or "").strip()
        if not conflict and version.isdigit():
            typed["version"] = int(version)  # a conflict's next save goes on the saved one
        return editor(ref, typed=typed, conflict=conflict, status=exc.status)
    flash("Review saved.", "success")
    return redirect(url_for("review.editor", ref=ref), code=303)


@bp.post("/incidents/<ref>/review/<name>")
def step(ref: str, name: str):
    """Submit, approve, send back (with a reason) or publish."""
    if name not in STEPS:
        raise Invalid(f"unknown step {name!r}")
    hub, person, now = the_hub(), require_person(), utcnow()
    try:
        with hub.transaction() as session:
            review = ops.get_review(session, ref, lock=True)
            ops.step(
                session,
                hub.policy,
                review,
                name,
                actor=person,
                now=now,
                reason=(request.form.get("reason") or "").strip(),
            )
    except (Invalid, Conflict) as exc:
        flash(f"Not done: {exc.message}", "error")
    else:
        flash(
            {
                "submit": "Submitted for approval.",
                "approve": "Approved; publishing now.",
                "reject": "Sent back to draft.",
                "publish": "Publishing now.",
            }[name],
            "success",
        )
    return redirect(url_for("review.editor", ref=ref), code=303)
