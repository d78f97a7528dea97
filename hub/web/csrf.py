"""CSRF protection: a random token per browser session, required on every unsafe console request.

Forms carry it in the hidden field `csrf_token`, scripts in the `X-CSRF-Token` header. A
request whose `Origin` names another host, or that the browser marks `Sec-Fetch-Site:
cross-site`, is refused as well. The API is not covered: it
authenticates by bearer token, never by cookie, so a foreign page cannot borrow a session.
"""

from __future__ import annotations

import hmac
import secrets
from urllib.parse import urlsplit

from flask import Flask, request, session
from markupsafe import Markup

from hub.app.errors import Forbidden

SESSION_KEY = "csrf"
FIELD = "csrf_token"
HEADER = "X-CSRF-Token"
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


def csrf_token() -> str:
    """This browser session's token (made on first use)."""
    token = session.get(SESSION_KEY)
    if not token:
        token = session[SESSION_KEY] = secrets.token_urlsafe(32)
    return token


def csrf_field() -> Markup:
    """The hidden form field that carries the token."""
    return Markup('<input type="hidden" name="{}" value="{}">').format(FIELD, csrf_token())


def check_request() -> None:
    """Forbidden unless an unsafe request carries this session's token and comes from here."""
    if request.method in SAFE_METHODS:
        return
    origin = request.headers.get("Origin")
    cross_site = request.headers.get("Sec-Fetch-Site") == "cross-site"
    if cross_site or (origin and urlsplit(origin).netloc != request.host):
        raise Forbidden("this form was sent from another site; it was refused", code="csrf")
    sent = request.headers.get(HEADER) or request.form.get(FIELD) or ""
    expected = session.get(SESSION_KEY) or ""
    if not expected or not sent or not hmac.compare_digest(sent, expected):
        raise Forbidden(
            "the form's security token is missing or out of date; reload the page and try again",
            code="csrf",
        )


def init_app(app: Flask, blueprints: set[str]) -> None:
    """Check every unsafe request to the console's blueprints; give templates the field."""
    app.jinja_env.globals.update(csrf_token=csrf_token, csrf_field=csrf_field)

    @app.before_request
    def _csrf():
        if request.blueprint in blueprints:
            check_request()
