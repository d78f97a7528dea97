"""Console sign-in by one-time link, sessions, cookies, CSRF, security headers, error pages."""

from __future__ import annotations

import json
import re
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from hub.app.db import utcnow
from hub.app.models import Notification, SignInLink, WebSession
from hub.app.security import hash_token
from hub.notifications.notify import materialize
from hub.web import links
from tests.web_kit import CSRF, post, sign_in

ANNA = "anna.schmidt@northwind.example"


def link_from_outbox(hub) -> str:
    with hub.db.session(write=False) as session:
        row = session.scalars(
            select(Notification)
            .where(Notification.template == "sign-in-link")
            .order_by(Notification.id.desc())
        ).first()
    return re.search(r"/login/link/\S+", delivered(hub, row)["text"]).group(0)


def delivered(hub, row) -> dict:
    """The mail as the worker sends it: the token is put in at delivery, never stored."""
    return materialize(row.payload, hub.settings)


def csrf_from(client) -> str:
    page = client.get("/login", follow_redirects=True).get_data(as_text=True)
    return re.search(r'data-csrf="([^"]+)"', page).group(1)


def test_pages_need_a_sign_in_and_the_api_answers_json(client):
    response = client.get("/incidents/INC-1")
    assert response.status_code == 302
    assert response.headers["Location"] == "/login?next=/incidents/INC-1"
    api = client.get("/api/v1/incidents")
    assert api.status_code == 401 and api.json["error"]["code"] == "unauthorized"
    assert client.get("/api/v1/nope", headers={"Authorization": "Bearer x"}).is_json


def test_security_headers_on_console_pages(client):
    response = client.get("/login")
    csp = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert "frame-ancestors 'none'" in csp
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Referrer-Policy"] == "same-origin"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "<script>" not in response.get_data(as_text=True)  # no inline script at all


def test_one_time_link_signs_in_once(client, hub):
    token = csrf_from(client)
    answer = client.post("/login/link", data={"email": ANNA, "csrf_token": token, "next": "/ops/"})
    assert answer.status_code == 200 and "Check your mail" in answer.get_data(as_text=True)
    assert ("deliver", _last_row_id(hub)) in hub.enqueued
    link = link_from_outbox(hub)
    page = client.get(link)
    assert page.status_code == 200 and "Continue as Anna Schmidt" in page.get_data(as_text=True)
    done = client.post(link, data={"csrf_token": csrf_from(client)})
    assert done.status_code == 303 and done.headers["Location"] == "/ops/"
    assert client.get("/").status_code == 200
    again = client.post(link, data={"csrf_token": csrf_from(client)})
    assert again.status_code == 410


def _last_row_id(hub) -> int:
    with hub.db.session(write=False) as session:
        return session.scalar(select(Notification.id).order_by(Notification.id.desc()))


def test_unknown_addresses_get_the_same_answer_and_no_mail(client, hub):
    token = csrf_from(client)
    answer = client.post("/login/link", data={"email": "mallory@evil.example", "csrf_token": token})
    assert answer.status_code == 200 and "Check your mail" in answer.get_data(as_text=True)
    with hub.db.session(write=False) as session:
        assert session.scalar(select(SignInLink.id)) is None


def test_links_expire_and_are_rate_limited(hub):
    past = utcnow() - timedelta(hours=1)
    assert links.request_link(hub, "anna", "/", past)
    with hub.db.session(write=False) as session:
        row = session.scalars(select(Notification)).first()
    token = re.search(r"/login/link/(\S+)", delivered(hub, row)["text"]).group(1)
    assert links.pending_link(hub, token, utcnow()) is None
    assert links.spend_link(hub, token, utcnow()) is None
    now = utcnow()
    sent = [links.request_link(hub, ANNA, "/", now) for _ in range(links.MAX_LINKS + 1)]
    assert sent == [True] * links.MAX_LINKS + [False]


def test_session_cookie_flags(app, client, hub):
    token = csrf_from(client)
    client.post("/login/link", data={"email": ANNA, "csrf_token": token})
    link = link_from_outbox(hub)
    client.get(link)
    response = client.post(link, data={"csrf_token": csrf_from(client)})
    cookie = response.headers["Set-Cookie"]
    assert cookie.startswith("mihub_session=") and "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie and "Secure" not in cookie and "Expires=" in cookie


def test_secure_cookie_behind_https(hub, example_policy):
    from hub import create_app
    from hub.app.context import Hub
    from hub.app.settings import load_settings

    settings = load_settings(
        overrides={**hub.settings.values, "HUB_BASE_URL": "https://hub.northwind.example"}
    )
    app = create_app({}, hub=Hub(settings, policy=example_policy, db=hub.db))
    assert app.config["SESSION_COOKIE_SECURE"] is True


def test_sign_out_ends_the_session_on_the_server(client, hub):
    sign_in(client, hub, "chloe")
    with client.session_transaction() as cookie:
        saved = dict(cookie)
    assert post(client, "/logout").status_code == 303
    with client.session_transaction() as cookie:
        cookie.update(saved)  # a stolen copy of the old cookie
    assert client.get("/").status_code == 302


def test_expired_sessions_and_people_gone_from_the_policy(client, hub):
    sign_in(client, hub, "chloe")
    with hub.db.session() as session:
        session.execute(update(WebSession).values(expires_at=utcnow() - timedelta(seconds=1)))
    assert client.get("/").status_code == 302
    sign_in(client, hub, "someone-who-left")
    assert client.get("/").status_code == 302


@pytest.mark.parametrize("headers", [{}, {"X-CSRF-Token": "wrong"}])
def test_posts_without_the_token_are_refused(client, hub, headers):
    sign_in(client, hub, "anna")
    response = client.post("/declare", data={"title": "forged"}, headers=headers)
    assert response.status_code == 403 and response.mimetype == "text/html"
    assert "security token" in response.get_data(as_text=True)


def test_a_foreign_origin_is_refused_and_does_not_replace_the_cookie(client, hub):
    sign_in(client, hub, "anna")
    for headers in ({"Origin": "http://evil.example"}, {"Sec-Fetch-Site": "cross-site"}):
        response = client.post("/logout", data={"csrf_token": CSRF}, headers=headers)
        assert response.status_code == 403
        assert "Set-Cookie" not in response.headers
    assert client.get("/").status_code == 200  # still signed in


def test_a_session_cookie_does_not_authenticate_the_api(client, hub, make_token):
    sign_in(client, hub, "anna")
    assert client.get("/api/v1/incidents").status_code == 401
    token = make_token("anna")
    ok = client.get("/api/v1/incidents", headers={"Authorization": f"Bearer {token}"})
    assert ok.status_code == 200 and ok.json == {"incidents": []}


def test_error_pages_are_html_for_people_and_json_for_machines(client, hub):
    sign_in(client, hub, "anna")
    page = client.get("/incidents/INC-404")
    assert page.status_code == 404 and page.mimetype == "text/html"
    assert "no incident INC-404" in page.get_data(as_text=True)
    assert client.get("/intake/nope").is_json


def test_the_outbox_never_holds_a_usable_link(hub):
    """Whoever reads the database (or a backup) finds a placeholder and a nonce, not a token:
    the worker derives the token from the secret key when it sends the mail."""
    assert links.request_link(hub, "anna", "/", utcnow())
    with hub.db.session(write=False) as session:
        row = session.scalars(select(Notification)).first()
        stored = json.dumps(row.payload)
        hashes = set(session.scalars(select(SignInLink.token_hash)))
    assert links.TOKEN_PLACEHOLDER in row.payload["text"]
    words = set(re.findall(r"[A-Za-z0-9_\-]{20,}", stored))
    assert not {hash_token(w) for w in words} & hashes, "a usable token is stored"
    token = re.search(r"/login/link/(\S+)", delivered(hub, row)["text"]).group(1)
    assert hash_token(token) in hashes
    assert links.pending_link(hub, token, utcnow()) is not None
