"""The status page at /status, its Atom feeds, and the console's maintenance form.

`/status` shows the internal variant to signed-in staff (a console session, or an API token
for tools) and, with `HUB_STATUS_PUBLIC=true`, the public variant to anyone else;
`/status/public` is always the public variant (staff use it to check what the public sees).
Each document is rendered by hub/status/render.py and cached per change counter, so a change
committed through any process shows on the next request.
"""

from __future__ import annotations

from flask import Blueprint, Response, current_app, flash, redirect, request, url_for

from hub.app.db import utcnow
from hub.app.errors import HubError, NotFound, Unauthorized
from hub.app.templates import TEMPLATES
from hub.core.permissions import STATUS_REFUSAL, manages_status
from hub.http import auth as api_auth
from hub.status.api import instant
from hub.status.maintenance import cancel_maintenance, schedule_maintenance, upcoming
from hub.status.render import STYLESHEET, PageCache, render_feed, render_page
from hub.web.common import current_person, render, require_person, the_hub

bp = Blueprint("status", __name__)
console = Blueprint("status_console", __name__, template_folder=str(TEMPLATES / "status"))
CACHE = "hub.status_cache"
ATOM = "application/atom+xml"


def status_public(settings) -> bool:
    """Whether anyone who reaches /status sees the public variant (HUB_STATUS_PUBLIC=true)."""
    return settings.text("HUB_STATUS_PUBLIC").lower() == "true"


def page_cache() -> PageCache:
    """This process's cache of rendered status documents."""
    return current_app.extensions.setdefault(CACHE, PageCache())


def _viewer() -> str | None:
    """The signed-in person (console session, or an API token), else None."""
    person = current_person()
    if person is None and request.headers.get("Authorization"):
        person = api_auth.require_person()
    return person


def _public_view(explicit: bool) -> tuple[bool, str | None]:
    """(public variant?, viewer); 401 for a stranger while the page is not public."""
    person = _viewer()
    if person and not explicit:
        return False, person
    if person or status_public(the_hub().settings):
        return True, person
    raise Unauthorized("sign in to see the status page")


def _prefix(public: bool, explicit: bool) -> str:
    return "/status/public/" if explicit else "/status/"


def _public_base(settings) -> str:
    """Where readers reach the hub: HUB_BASE_URL, else the address this request came to."""
    if settings["HUB_BASE_URL"]:
        return settings.base_url
    return request.host_url.rstrip("/") + request.script_root


def _send(text: str, mimetype: str, public: bool) -> Response:
    response = Response(text, mimetype=mimetype)
    response.headers["Cache-Control"] = "public, max-age=2" if public else "private, no-store"
    response.headers["Vary"] = "Cookie, Authorization"
    return response


def _page(explicit: bool):
    public, person = _public_view(explicit)
    hub, now = the_hub(), utcnow()
    manage = bool(person) and manages_status(hub.policy, person)
    links = []
    if person:
        links = [("Console", "/")]
        links.append(("Internal page", "/status") if public else ("Public page", "/status/public"))
        if manage:
            links.append(("Schedule maintenance", "/status/maintenance"))
    prefix = _prefix(public, explicit)
    text = page_cache().get(
        hub.db,
        hub.policy,
        now,
        public=public,
        what=("page", prefix, tuple(links)),
        render=lambda page: render_page(
            page, prefix=prefix, links=links, subscribe_action=url_for("subscriptions.subscribe")
        ),
    )
    return _send(text, "text/html", public)


def _feed(explicit: bool, service: str | None):
    public, _person = _public_view(explicit)
    hub, now = the_hub(), utcnow()
    if service is not None:
        known = hub.policy.services.get(service)
        if known is None or (public and not known.public):
            raise NotFound(f"no service {service!r} on this status page")
    base = _public_base(hub.settings)
    page_url = base + _prefix(public, explicit).rstrip("/")
    self_url = base + request.path
    text = page_cache().get(
        hub.db,
        hub.policy,
        now,
        public=public,
        what=("feed", explicit, service, base),
        render=lambda page: render_feed(
            page, base_url=base, page_url=page_url, self_url=self_url, service=service
        ),
    )
    return _send(text, ATOM, public)


@bp.get("/status")
def status():
    """The status page: internal for staff; public for others when HUB_STATUS_PUBLIC=true."""
    return _page(explicit=False)


@bp.get("/status/public")
def status_public_page():
    """The public variant (staff may look at it whatever HUB_STATUS_PUBLIC says)."""
    return _page(explicit=True)


@bp.get("/status/feed.atom")
def feed():
    """An Atom feed of every service's incidents, updates and maintenance."""
    return _feed(explicit=False, service=None)


@bp.get("/status/services/<key>.atom")
def service_feed(key: str):
    """An Atom feed of one service."""
    return _feed(explicit=False, service=key)


@bp.get("/status/public/feed.atom")
def public_feed():
    """The public variant's Atom feed."""
    return _feed(explicit=True, service=None)


@bp.get("/status/public/services/<key>.atom")
def public_service_feed(key: str):
    """The public variant's Atom feed of one service."""
    return _feed(explicit=True, service=key)


@bp.get("/status/status.css")
@bp.get("/status/public/status.css")
def stylesheet():
    """The status page's stylesheet (no sign-in: it holds nothing)."""
    response = Response(STYLESHEET.read_bytes(), mimetype="text/css")
    response.headers["Cache-Control"] = "public, max-age=300"
    return response


@console.get("/status/maintenance")
def maintenance():
    """Scheduled maintenance, and the form to add a window (Comms Owners and admins)."""
    hub, person = the_hub(), require_person()
    with hub.db.session(write=False) as session:
        windows = upcoming(session, utcnow())
        return render(
            "status_maintenance.html",
            title="Maintenance",
            windows=windows,
            manage=manages_status(hub.policy, person),
            refusal=STATUS_REFUSAL,
            kept=request.args,
        )


@console.post("/status/maintenance")
def add_maintenance():
    """Schedule a window from the form; times are the policy's local time unless they carry an
    offset."""
    hub, person, now = the_hub(), require_person(), utcnow()
    form = request.form
    try:
        start = instant("start", _local_iso(form.get("start", ""), hub.policy.timezone))
        end = instant("end", _local_iso(form.get("end", ""), hub.policy.timezone))
        with hub.transaction() as session:
            window = schedule_maintenance(
                session,
                hub.policy,
                services=form.getlist("services"),
                start=start,
                end=end,
                text=form.get("text", ""),
                public_text=form.get("public_text"),
                actor=person,
                now=now,
            )
            flash(f"Maintenance {window.id} scheduled.", "success")
    except HubError as exc:
        flash(f"Not scheduled: {exc.message}", "error")
    return redirect(url_for("status_console.maintenance"), code=303)


@console.post("/status/maintenance/<int:window_id>/cancel")
def cancel(window_id: int):
    """Cancel a window."""
    hub, person = the_hub(), require_person()
    try:
        with hub.transaction() as session:
            cancel_maintenance(session, hub.policy, window_id, actor=person, now=utcnow())
        flash(f"Maintenance {window_id} cancelled.", "success")
    except HubError as exc:
        flash(exc.message, "error")
    return redirect(url_for("status_console.maintenance"), code=303)


def _local_iso(text: str, tz: str) -> str:
    """`2026-12-07T22:00` from a datetime-local field, with the policy zone's offset added."""
    from datetime import datetime
    from zoneinfo import ZoneInfo

    text = text.strip()
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        return text  # instant() says what is wrong with it
    if value.tzinfo is None:
        value = value.replace(tzinfo=ZoneInfo(tz))
    return value.isoformat()
