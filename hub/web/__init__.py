"""The web console: board, incident room, declare, review editor, operations, sign-in.

Server-rendered from templates/web/ with a little script for live refresh and previews (no
build chain). Every page sets a Content-Security-Policy without inline script, denies
framing and limits the referrer; every form carries a CSRF token; sessions live in an
HttpOnly, SameSite=Lax cookie (Secure behind https).
"""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, Flask, request

from hub.http.error_handler import ERROR_PAGE
from hub.web import (
    ack_links,
    auth,
    board,
    csrf,
    declare,
    deliveries,
    drafts,
    errors,
    history,
    kb,
    live,
    ops,
    review,
    room,
    schedules_page,
    sessions,
    sinks,
    status,
    subscriptions,
)
from hub.web.common import init_filters, require_person
from hub.web.headers import SECURITY_HEADERS

STATIC = Path(__file__).resolve().parent / "static"

assets = Blueprint("console", __name__, static_folder=str(STATIC), static_url_path="/static")


def init_app(app: Flask) -> None:
    """Sessions, CSRF, filters, the error page, the console's blueprints, its security headers."""
    hub = app.extensions["hub"]
    app.extensions[ERROR_PAGE] = errors.error_page  # pages, not JSON, for people
    sessions.init_app(app, hub)
    pages = (
        board.bp,
        room.bp,
        declare.bp,
        review.bp,
        ops.bp,
        sinks.bp,
        live.bp,
        schedules_page.bp,
        history.bp,
        subscriptions.console,
        drafts.bp,
        status.console,
        deliveries.bp,
    )
    live.init_app(app)
    names = {bp.name for bp in pages} | {auth.bp.name}
    csrf.init_app(app, names)
    init_filters(app)
    for bp in pages:
        app.register_blueprint(bp)
    signed_in_only = {bp.name for bp in pages}

    @app.before_request
    def _signed_in():
        if request.blueprint in signed_in_only:
            require_person()  # a browser that is not signed in goes to the sign-in page

    app.register_blueprint(auth.bp)
    app.register_blueprint(ack_links.bp)  # signed page links: no sign-in, the token is the check
    app.register_blueprint(drafts.links_bp)  # signed draft links: the same
    app.register_blueprint(assets)
    app.register_blueprint(kb.bp)
    app.register_blueprint(subscriptions.bp)  # public forms and links: the tokens are the check
    app.register_blueprint(status.bp)  # public when HUB_STATUS_PUBLIC=true: checks its own readers

    @app.after_request
    def _security_headers(response):
        links = {ack_links.bp.name, drafts.links_bp.name, subscriptions.bp.name}
        console = request.blueprint in names | links | {assets.name, kb.bp.name, status.bp.name}
        if console or (request.blueprint is None and response.mimetype == "text/html"):
            for name, value in SECURITY_HEADERS.items():
                response.headers.setdefault(name, value)
        if request.blueprint in names | links:
            response.headers.setdefault("Cache-Control", "no-store")
        return response
