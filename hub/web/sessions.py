"""Web console sessions: a random token in the signed cookie, its hash, expiry and end in the table.

The cookie is Flask's signed session cookie (HttpOnly, SameSite=Lax, Secure behind https).
It carries the session token and the CSRF token; the `web_sessions` row decides whether the
token still counts, so signing out (or expiry, or the person leaving the policy) ends it on
the server too. Signing in always starts a fresh cookie (no session fixation).
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from flask import Flask, g, request, session
from flask.sessions import SecureCookieSessionInterface
from sqlalchemy import select, update

from hub.app import audit
from hub.app.db import utcnow
from hub.app.models import WebSession
from hub.app.security import hash_token

SESSION_KEY = "sid"
TOUCH_EVERY = timedelta(minutes=5)  # how often last_seen_at is written (not every request)


def lifetime(settings) -> timedelta:
    """HUB_SESSION_LIFETIME as a timedelta."""
    return settings.duration("HUB_SESSION_LIFETIME")


def start_session(hub, person: str, method: str, now: datetime) -> None:
    """Sign `person` in: a new session row and a fresh cookie."""
    token = secrets.token_urlsafe(32)
    with hub.transaction() as db:
        db.add(
            WebSession(
                token_hash=hash_token(token),
                person=person,
                method=method,
                created_at=now,
                expires_at=now + lifetime(hub.settings),
                last_seen_at=now,
            )
        )
        audit.record(db, "sign-in", person, actor=person, now=now, after={"method": method})
    keep = {k: session[k] for k in ("next",) if k in session}
    session.clear()
    session.update(keep)
    session.permanent = True
    session[SESSION_KEY] = token
    session["csrf"] = secrets.token_urlsafe(32)
    g.web_person = person


def load_person(hub, now: datetime) -> str | None:
    """The person of this request's session, if it is live and they are still in the policy."""
    token = session.get(SESSION_KEY)
    if not token:
        return None
    with hub.db.session(write=False) as db:
        row = db.scalars(
            select(WebSession).where(WebSession.token_hash == hash_token(token))
        ).first()
        if row is None or row.ended_at is not None or row.expires_at <= now:
            return None
        person, seen, row_id = row.person, row.last_seen_at, row.id
    if person not in hub.policy.people:
        return None
    if seen is None or now - seen > TOUCH_EVERY:
        with hub.transaction() as db:
            db.execute(update(WebSession).where(WebSession.id == row_id).values(last_seen_at=now))
    return person


def end_session(hub, now: datetime) -> None:
    """Sign out: the row is ended and the cookie emptied."""
    token = session.get(SESSION_KEY)
    if token:
        with hub.transaction() as db:
            ended = db.execute(
                update(WebSession)
                .where(WebSession.token_hash == hash_token(token), WebSession.ended_at.is_(None))
                .values(ended_at=now)
                .returning(WebSession.person)
            ).scalar()
            if ended:
                audit.record(db, "sign-out", ended, actor=ended, now=now)
    session.clear()
    g.web_person = None


def end_sessions_of(hub, person: str, now: datetime) -> int:
    """End every live session of a person (e.g. when they leave); returns how many."""
    with hub.transaction() as db:
        return db.execute(
            update(WebSession)
            .where(WebSession.person == person, WebSession.ended_at.is_(None))
            .values(ended_at=now)
        ).rowcount


class ConsoleSessionInterface(SecureCookieSessionInterface):
    """Flask's signed cookie, never (re)written in answer to another site's form post.

    Such a post arrives without our SameSite=Lax cookie; answering it with a fresh cookie
    would replace the person's session, i.e. sign them out from another site.
    """

    def save_session(self, app, session, response):
        if request.method not in ("GET", "HEAD", "OPTIONS") and foreign(request):
            return None
        return super().save_session(app, session, response)


def foreign(req) -> bool:
    """Whether the request was sent by a page of another site."""
    if req.headers.get("Sec-Fetch-Site") == "cross-site":
        return True
    origin = req.headers.get("Origin")
    return bool(origin) and urlsplit(origin).netloc != req.host


def init_app(app: Flask, hub) -> None:
    """Cookie flags, lifetime, and loading the person before each request."""
    app.session_interface = ConsoleSessionInterface()
    app.config.update(
        SESSION_COOKIE_NAME="mihub_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=hub.settings.base_url.startswith("https://"),
        PERMANENT_SESSION_LIFETIME=lifetime(hub.settings),
    )

    @app.before_request
    def _load_person():
        g.web_person = load_person(app.extensions["hub"], utcnow())
