"""Helpers for the console tests: sign a test client in, post forms with the CSRF token."""

from __future__ import annotations

import re
import secrets
from datetime import timedelta

from hub.app.db import utcnow
from hub.app.models import WebSession
from hub.app.security import hash_token

CSRF = "test-csrf-token"


def sign_in(client, hub, person: str, *, lifetime: timedelta = timedelta(hours=1)) -> str:
    """A live session for `person` in the client's cookie; returns the session token."""
    token = secrets.token_urlsafe(16)
    now = utcnow()
    with hub.db.session() as session:
        session.add(
            WebSession(
                token_hash=hash_token(token),
                person=person,
                method="link",
                created_at=now,
                expires_at=now + lifetime,
                last_seen_at=now,
            )
        )
    with client.session_transaction() as cookie:
        cookie["sid"], cookie["csrf"] = token, CSRF
    return token


def post(client, url: str, data: dict | None = None, **kwargs):
    """A form post carrying the CSRF token."""
    return client.post(url, data={**(data or {}), "csrf_token": CSRF}, **kwargs)


def flashes(client) -> list[tuple[str, str]]:
    """The flashed messages waiting in the session (and clears nothing)."""
    with client.session_transaction() as cookie:
        return list(cookie.get("_flashes", []))


def text_of(response) -> str:
    """The response's HTML with tags removed and whitespace collapsed (for assertions)."""
    return " ".join(re.sub(r"<[^>]+>", " ", response.get_data(as_text=True)).split())


def payroll_outage_with_update(api, text: str = "Failover") -> str:
    """A major payroll outage declared through the API (`api_caller`'s call) and one
    stakeholder update posted to it; the incident's reference."""
    status, body = api(
        "POST", "/api/v1/incidents",
        json={"title": "Payroll is down", "services": ["payroll"], "impact": "outage"},
    )  # fmt: skip
    assert status == 201, body
    ref = body["id"]
    status, body = api("POST", f"/api/v1/incidents/{ref}/updates", json={"text": text})
    assert status in (200, 201), body
    return ref
