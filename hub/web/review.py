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


@bp.get("/incidents/<ref>/review")
def editor(ref: str):
    """The editor (read-only for those who may not edit)."""
    hub, person, now = the_hub(), require_person(), utcnow()
    with hub.db.session(write=False) as session:
        review = ops.get_review(session, ref)
        incident = review.incident
        doc = review_doc(review, hub.policy, base_url="", owner=review_owner(incident), now=now)
        can = permissions.allowed(hub.policy, incident, person)
        return render(
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
        )


@bp.post("/incidents/<ref>/review")
def save(ref: str):
    """Save the edits (a newer version saved by someone else is not overwritten)."""
    hub, person, now = the_hub(), require_person(), utcnow()
    data = form_to_data(request.form, hub.policy)
    try:
        with hub.transaction() as session:
            review = ops.get_review(session, ref, lock=True)
            ops.update_review(session, hub.policy, review, data, actor=person, now=now)
    except (Invalid, Conflict) as exc:
        flash(f"Not saved: {exc.message}", "error")
    else:
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
