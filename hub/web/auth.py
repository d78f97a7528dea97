"""Sign-in and sign-out: Microsoft Entra ID (auth-code flow with PKCE), or a one-time mailed link."""

from __future__ import annotations

import logging

from flask import Blueprint, abort, flash, redirect, request, session, url_for

from hub.app.db import utcnow
from hub.web import entra, links
from hub.web.common import current_person, render, safe_next, the_hub
from hub.web.sessions import end_session, start_session

bp = Blueprint("auth", __name__)
log = logging.getLogger("hub.web")


def methods(settings) -> set[str]:
    """The sign-in methods on offer (HUB_SIGNIN; `auto`: Entra when a tenant is configured)."""
    chosen = {m.strip() for m in settings.text("HUB_SIGNIN").split(",")}
    if "auto" in chosen:
        return {"entra"} if entra.configured(settings) else {"link"}
    if not entra.configured(settings):
        chosen.discard("entra")
    return chosen or {"link"}


@bp.get("/login")
def login():
    """The sign-in page."""
    target = safe_next(request.args.get("next"))
    if current_person():
        return redirect(target)
    return render("login.html", title="Sign in", next=target, methods=methods(the_hub().settings))


@bp.post("/login/link")
def ask_for_link():
    """Mail a one-time link; the answer is the same whether or not the address is known."""
    hub = the_hub()
    if "link" not in methods(hub.settings):
        abort(404)
    who = (request.form.get("email") or "").strip()[:320]
    target = safe_next(request.form.get("next"))
    if who:
        links.request_link(hub, who, target, utcnow())
    sink = None
    if hub.settings.text("HUB_MAIL_TRANSPORT") == "sink" and not hub.settings.production:
        sink = hub.settings.data_dir / "sinks" / "email"  # a newcomer's first sign-in
    return render("login_sent.html", title="Check your mail", email=who, sink=sink)


@bp.get("/login/link/<token>")
def open_link(token: str):
    """Show who the link signs in, with a button (mail scanners only GET)."""
    hub = the_hub()
    link = links.pending_link(hub, token, utcnow())
    if link is None:
        return render("login_link.html", title="Link expired", link=None), 410
    person = hub.policy.people.get(link.person)
    return render(
        "login_link.html", title="Sign in", link=link, name=person.name if person else link.person
    )


@bp.post("/login/link/<token>")
def use_link(token: str):
    """Spend the link and sign in."""
    hub = the_hub()
    now = utcnow()
    link = links.spend_link(hub, token, now)
    if link is None or link.person not in hub.policy.people:
        return render("login_link.html", title="Link expired", link=None), 410
    start_session(hub, link.person, "link", now)
    log.info("%s signed in with a one-time link", link.person)
    return redirect(safe_next(link.next_url), code=303)


@bp.get("/login/microsoft")
def microsoft():
    """Start the Entra ID flow: keep it in the session, send the browser to sign in."""
    hub = the_hub()
    if "entra" not in methods(hub.settings):
        abort(404)
    try:
        # the redirect URI registered with the app: the hub's public address, not Host
        flow, url = entra.get_sign_in(hub.settings).start(
            f"{hub.settings.base_url}{url_for('auth.microsoft_done')}"
        )
    except entra.SignInError as exc:
        log.error("Entra sign-in could not start: %s", exc)
        return _sign_in_failed(hub, "/", str(exc), 503)
    session["entra_flow"] = flow
    session["next"] = safe_next(request.args.get("next"))
    return redirect(url)


@bp.get("/login/microsoft/callback")
def microsoft_done():
    """Back from Entra ID: redeem the code, check the ID token, find the person, sign in."""
    hub = the_hub()
    flow = session.pop("entra_flow", None)
    target = safe_next(session.pop("next", None))
    if flow is None:
        flash("That sign-in attempt had expired; please start again.", "error")
        return redirect(url_for("auth.login", next=target))
    try:
        claims = entra.get_sign_in(hub.settings).finish(flow, request.args.to_dict())
    except entra.SignInError as exc:
        log.warning("Entra sign-in failed: %s", exc)
        return _sign_in_failed(hub, target, f"Microsoft sign-in failed: {exc}", 401)
    person = entra.match_person(hub.policy, claims)
    if person is None:
        account = claims.get("preferred_username") or claims.get("oid") or "this account"
        log.warning("Entra sign-in by %s: not a person of the policy", account)
        return _sign_in_failed(
            hub,
            target,
            f"{account} is not among the people in the hub's policy; "
            "ask an administrator to add you.",
            403,
        )
    start_session(hub, person.key, "entra", utcnow())
    log.info("%s signed in with Microsoft Entra ID", person.key)
    return redirect(target)


def _sign_in_failed(hub, target: str, error: str, status: int):
    """The sign-in page again, saying why signing in with Microsoft did not work."""
    page = render(
        "login.html", title="Sign in", next=target, methods=methods(hub.settings), error=error
    )
    return page, status


@bp.post("/logout")
def logout():
    """Sign out: the session ends on the server and the cookie is emptied."""
    end_session(the_hub(), utcnow())
    flash("You are signed out.", "info")
    return redirect(url_for("auth.login"), code=303)
