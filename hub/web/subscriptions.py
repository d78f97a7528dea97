"""Subscriptions on the web: the public form (double opt-in), its confirm link, one-click
unsubscribe (RFC 8058), and the console page where signed-in people follow services and
incidents.

The public endpoints need no sign-in and no CSRF token: a subscription starts only from the
link mailed to the address, and an unsubscribe link is the secret itself (a mail client's
one-click POST carries no cookie). Opening either link shows a button (a POST), because mail
scanners fetch links: a GET changes nothing.
"""

from __future__ import annotations

import logging

from flask import Blueprint, abort, flash, redirect, request, url_for

from hub.app.db import utcnow
from hub.app.errors import Invalid
from hub.app.models import Subscription
from hub.subscriptions import service as subs
from hub.web.common import render, require_person, the_hub

bp = Blueprint("subscriptions", __name__)  # public: no sign-in, the tokens are the check
console = Blueprint("my_subscriptions", __name__)  # signed in, CSRF-checked
log = logging.getLogger("hub.web")


def _page(state: str, status: int = 200, **context):
    return render("subscription.html", title="Subscription", state=state, **context), status


@bp.post("/subscribe")
def subscribe():
    """Mail a confirm link to an address of the organisation for a service or an incident."""
    hub = the_hub()
    address = (request.form.get("email") or "").strip()[:400]
    wanted = (request.form.get("target") or "").strip()[:200]
    try:
        with hub.transaction() as db:
            target = subs.parse_target(db, hub.policy, wanted)
            subs.request_email(db, hub.settings, hub.policy, address, target, utcnow())
    except Invalid as exc:
        return _page("refused", 400, reason=str(exc))
    # The same answer whether a mail went out or not (already subscribed, too many requests).
    return _page("sent", 202, email=address, what=subs.target_label(hub.policy, target))


@bp.route("/subscribe/confirm/<token>", methods=["GET", "POST"])
def confirm(token: str):
    """GET: what the link confirms, with a button; POST: confirm it."""
    hub, now = the_hub(), utcnow()
    if request.method == "GET":
        with hub.db.session(write=False) as db:
            row = subs.pending_by_token(db, hub.settings, token, now)
            if row is None:
                return _page("expired", 410)
            what, address = subs.target_label(hub.policy, row.target), row.address
        return _page("confirm", email=address, what=what)
    with hub.transaction() as db:
        row = subs.confirm(db, hub.settings, token, now)
        if row is None:
            return _page("expired", 410)
        what, address = subs.target_label(hub.policy, row.target), row.address
        unsubscribe = subs.token_for(hub.settings, subs.UNSUBSCRIBE, row)
    return _page("confirmed", email=address, what=what, unsubscribe=unsubscribe)


@bp.route("/unsubscribe/<token>", methods=["GET", "POST"])
def unsubscribe(token: str):
    """GET: a page with the unsubscribe button; POST (the button, or a mail client's RFC 8058
    one-click `List-Unsubscribe=One-Click`): stop the subscription, no sign-in needed."""
    hub, now = the_hub(), utcnow()
    with hub.transaction() as db:
        row = subs.by_unsubscribe_token(db, hub.settings, token)
        if row is None:
            return _page("unknown", 404)
        what, address = subs.target_label(hub.policy, row.target), row.address
        if request.method == "GET":
            state = "ask" if row.state == "active" else "ended"
            return _page(state, email=address, what=what, token=token)
        subs.end(row, now)
    return _page("ended", email=address, what=what)


@console.get("/subscriptions")
def mine():
    """The signed-in person's subscriptions and a form to add one."""
    hub, person = the_hub(), require_person()
    with hub.db.session(write=False) as db:
        rows = subs.person_subscriptions(db, hub.policy, person)
        items = [
            {"id": r.id, "what": subs.target_label(hub.policy, r.target), "channel": r.channel}
            for r in rows
        ]
    return render("subscriptions.html", title="Subscriptions", items=items)


def following(session, policy, person: str | None, incident) -> bool:
    """Whether `person` follows this incident by email (the room's follow button)."""
    target = f"incident:{incident.id}"
    return bool(person) and any(
        r.target == target and r.channel == "email"
        for r in subs.person_subscriptions(session, policy, person)
    )


@console.post("/subscriptions")
def add():
    """Follow a service or an incident by email or in Teams (`room`: an incident ref whose
    room the answer goes back to, as its follow button asks)."""
    hub, person = the_hub(), require_person()
    channel = request.form.get("channel", "email")
    if channel not in ("email", "teams"):
        abort(400)
    room = request.form.get("room", "")[:40]
    back = (
        url_for("room.room", ref=room) if room else url_for("my_subscriptions.mine")
    )  # url_for: a path of this site, whatever was posted
    try:
        with hub.transaction() as db:
            target = subs.parse_target(db, hub.policy, request.form.get("target", "")[:200])
            _, new = subs.subscribe_person(
                db, hub.policy, person, target, channel, "console", utcnow()
            )
    except Invalid as exc:
        flash(str(exc), "error")
        return redirect(back, code=303)
    what = subs.target_label(hub.policy, target)
    flash(f"You {'now get' if new else 'already get'} the updates about {what}.", "success")
    return redirect(back, code=303)


@console.post("/subscriptions/<int:ident>/end")
def remove(ident: int):
    """Stop one of the signed-in person's subscriptions."""
    hub, person = the_hub(), require_person()
    with hub.transaction() as db:
        row = db.get(Subscription, ident)
        mine = {r.id for r in subs.person_subscriptions(db, hub.policy, person)}
        if row is None or row.id not in mine:
            abort(404)
        subs.end(row, utcnow())
        what = subs.target_label(hub.policy, row.target)
    flash(f"You no longer get the updates about {what}.", "success")
    return redirect(url_for("my_subscriptions.mine"), code=303)
