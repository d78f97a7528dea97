"""The page links: open one (a confirmation, changes nothing), tap its button (acknowledge).

Nobody needs to be signed in: the signed token in the URL is the permission, and the form
posts it back, so no other site can make the post without the link itself (the console's
CSRF token would need a session this browser may not have). Every answer is a calm page
with status 200 saying what happened, whatever was wrong with the link.
"""

from __future__ import annotations

import logging

from flask import Blueprint, flash, redirect, request, url_for

from hub.app.db import utcnow
from hub.app.errors import HubError
from hub.incidents import ack_links
from hub.incidents.page_links import read
from hub.web.common import current_person, render, the_hub
from hub.web.sessions import foreign

bp = Blueprint("ack_links", __name__)
LINK = '/incidents/<ref>/<any(acknowledge, "take-over"):purpose>/<token>'
log = logging.getLogger("hub.web")
INVALID = ack_links.LinkState(
    "invalid",
    "This link is not valid: it may have been changed or cut short. Nothing was changed.",
)


@bp.get("/incidents/<ref>/acknowledge")
def room_link(ref: str):
    """An unsigned acknowledge link (older pages, audience pages): the room, after sign-in."""
    return redirect(url_for("room.room", ref=ref), code=303)


def _claim(ref: str, purpose: str, token: str):
    claim = read(the_hub().settings.secret_key, token)
    if claim is None:
        return None
    if claim.purpose != purpose or claim.ref.lower() != ref.lower():
        return None  # a token moved to another incident or action
    return claim


def _page(state: ack_links.LinkState, token: str | None = None):
    title = (state.incident or {}).get("ref", "Page link")
    return render("ack_link.html", title=title, state=state, token=token), 200


@bp.get(LINK)
def open_link(ref: str, purpose: str, token: str):
    """What the link would do, with one button when it still can."""
    claim = _claim(ref, purpose, token)
    if claim is None:
        return _page(INVALID)
    hub = the_hub()
    with hub.db.session(write=False) as session:
        state = ack_links.inspect(session, hub.policy, claim)
    return _page(state, token if state.status == "ready" else None)


@bp.post(LINK)
def use_link(ref: str, purpose: str, token: str):
    """Acknowledge (or take over) as the link's person, once."""
    claim = _claim(ref, purpose, token)
    if claim is None or request.form.get("token") != token:
        return _page(INVALID)
    if foreign(request):
        return _page(
            ack_links.LinkState(
                "invalid", "This form was sent from another site; nothing was changed."
            )
        )
    hub = the_hub()
    try:
        with hub.transaction() as session:
            state = ack_links.use(session, hub.policy, claim, utcnow())
    except HubError as exc:
        state = ack_links.refused(exc)
    if state.status == "done":
        log.info("%s used a page link on %s (%s)", claim.person, claim.ref, claim.purpose)
        if current_person() == claim.person:  # signed in here already: straight to the room
            flash(state.message, "success")
            return redirect(url_for("room.room", ref=claim.ref), code=303)
    return _page(state)
