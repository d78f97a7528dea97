"""Email subscriptions in the web app: the form, double opt-in, the subscriber's mail with its
RFC 8058 headers, one-click unsubscribe, the mailto twin, and the console page."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from hub.app.db import utcnow
from hub.app.models import Notification, Subscription
from hub.http.auth import create_token
from hub.notifications.notify import materialize
from hub.subscriptions import service as subs
from tests.web_kit import payroll_outage_with_update, post, sign_in, text_of

ADDRESS = "kim.lee@northwind.example"


def forge(tail: str) -> str:
    """A different tail of the same length (never the original: a forgery, not a coin flip)."""
    return "".join("b" if c == "a" else "a" for c in tail)


def rows(hub, template, recipient=ADDRESS) -> list[Notification]:
    with hub.db.session(write=False) as session:
        return session.scalars(
            select(Notification)
            .where(Notification.template == template, Notification.recipient == recipient)
            .order_by(Notification.id)
        ).all()


def subscription(hub) -> Subscription:
    with hub.db.session(write=False) as session:
        return session.scalars(select(Subscription).order_by(Subscription.id.desc())).first()


def confirm_path(hub) -> str:
    (row,) = rows(hub, "subscribe-confirm")
    assert "/subscribe/confirm/" in row.payload["text"]  # stored: only a placeholder
    assert not re.search(r"/subscribe/confirm/\d+-[0-9a-f]{43}", row.payload["text"])
    sent = materialize(row.payload, hub.settings)  # as the worker sends it
    return re.search(r"/subscribe/confirm/\d+-[0-9a-f]{43}", sent["text"]).group(0)


@pytest.mark.parametrize(
    "address, target, why",
    [
        ("kim@gmail.example", "payroll", "Only addresses of the organisation"),
        ("kim@sub.northwind.example", "payroll", "Only addresses of the organisation"),
        ("<script>@northwind.example", "payroll", "Only addresses of the organisation"),
        (ADDRESS, "the moon", "neither a service"),
        (ADDRESS, "INC-99", "There is no incident INC-99."),
    ],
)
def test_refused_requests_say_why_and_mail_nothing(client, hub, address, target, why):
    response = client.post("/subscribe", data={"email": address, "target": target})
    assert response.status_code == 400
    assert why in text_of(response) and "<script>@" not in response.get_data(as_text=True)
    assert 'href="/status" id="back-to-status"' in response.get_data(as_text=True)  # no dead end
    with hub.db.session(write=False) as session:
        assert session.scalars(select(Notification)).all() == []


def test_double_opt_in_then_updates_with_one_click_unsubscribe(client, hub, api_caller):
    api = api_caller(client)
    response = client.post("/subscribe", data={"email": ADDRESS, "target": "service:payroll"})
    assert response.status_code == 202 and "Check your mail" in text_of(response)
    path = confirm_path(hub)
    # opening the link changes nothing (mail scanners fetch links); the button confirms
    page = client.get(path)
    assert page.status_code == 200 and "Send the updates about Payroll" in text_of(page)
    assert subscription(hub).state == "pending"
    assert client.post(path).status_code == 200
    assert subscription(hub).state == "active"
    assert client.post(path).status_code == 410  # used
    assert client.get(path[:-4] + forge(path[-4:])).status_code == 410  # forged
    status, body = api(
        "POST", "/api/v1/incidents",
        json={"title": "Payroll is down", "services": ["payroll"], "impact": "outage"},
    )  # fmt: skip
    assert status == 201 and body["major"], body
    status, _ = api("POST", f"/api/v1/incidents/{body['id']}/updates", json={"text": "Failover"})
    assert status in (200, 201)
    (update,) = rows(hub, "stakeholder-update")
    mail = materialize(update.payload, hub.settings)
    url, mailto = re.fullmatch(
        r"<([^>]+)>, <([^>]+)>", mail["headers"]["List-Unsubscribe"]
    ).groups()
    assert mail["headers"]["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    token = url.rsplit("/", 1)[1]
    assert url == f"{hub.settings.base_url}/unsubscribe/{token}"
    assert mailto == f"mailto:incidents@northwind.example?subject=unsubscribe%20{token}"
    assert url in mail["text"] and url in mail["html"]  # the link in the body too
    # RFC 8058: a POST with no cookie and no CSRF token ends it
    fresh = client.application.test_client()
    one_click = fresh.post(f"/unsubscribe/{token}", data={"List-Unsubscribe": "One-Click"})
    assert one_click.status_code == 200 and "unsubscribed" in text_of(one_click)
    assert subscription(hub).state == "removed"
    api("POST", f"/api/v1/incidents/{body['id']}/updates", json={"text": "Database back"})
    assert len(rows(hub, "stakeholder-update")) == 1  # the next update did not reach her
    assert fresh.get(f"/unsubscribe/{token[:-4]}{forge(token[-4:])}").status_code == 404


def test_unsubscribe_page_asks_first(client, hub):
    with hub.transaction() as session:
        row, _ = subs.subscribe_person(
            session, hub.policy, "julia", "service:vpn", "email", "console", utcnow()
        )
        token = subs.token_for(hub.settings, subs.UNSUBSCRIBE, row)
    page = client.get(f"/unsubscribe/{token}")
    assert page.status_code == 200 and "Stop sending the updates about Remote access VPN" in (
        text_of(page)
    )
    assert subscription(hub).state == "active"
    assert page.headers["Cache-Control"] == "no-store"


def test_mailto_unsubscribe_through_the_email_intake(client, hub):
    with hub.transaction() as session:
        row, _ = subs.subscribe_person(
            session, hub.policy, "julia", "service:vpn", "email", "console", utcnow()
        )
        token = subs.token_for(hub.settings, subs.UNSUBSCRIBE, row)
    raw = (
        "From: Julia Costa <julia.costa@northwind.example>\r\n"
        "To: incidents@northwind.example\r\n"
        f"Subject: unsubscribe {token}\r\n"
        "Message-ID: <unsub-1@northwind.example>\r\n\r\nunsubscribe\r\n"
    ).encode()
    response = client.post(
        "/intake/email", data=raw, content_type="message/rfc822", headers=auth_headers(hub)
    )
    assert response.status_code == 202 and response.json["outcome"] == "ignored"
    assert subscription(hub).state == "removed"


def auth_headers(hub) -> dict:
    with hub.db.session() as session:
        token = create_token(session, hub.policy, "anna", "test")
    return {"Authorization": f"Bearer {token}"}


def test_console_subscriptions(client, hub):
    sign_in(client, hub, "julia")
    response = post(client, "/subscriptions", {"target": "scanners", "channel": "email"})
    assert response.status_code == 303
    page = client.get("/subscriptions")
    assert "Warehouse handheld scanners (email)" in text_of(page)
    row = subscription(hub)
    assert (row.address, row.person, row.state) == (
        "julia.costa@northwind.example",
        "julia",
        "active",
    )
    assert post(client, f"/subscriptions/{row.id}/end").status_code == 303
    assert subscription(hub).state == "removed"
    sign_in(client, hub, "ivan")
    assert post(client, f"/subscriptions/{row.id}/end").status_code == 404  # not his
    assert client.post("/subscriptions", data={"target": "vpn"}).status_code == 403  # no CSRF


def test_the_subscribe_form_partial_posts_what_the_endpoint_takes(app, client, hub):
    from flask import render_template_string

    with app.test_request_context("/status"):
        html = render_template_string(
            '{% include "_partials/subscribe_form.html" %}', policy=hub.policy
        )
        fixed = render_template_string(
            '{% include "_partials/subscribe_form.html" %}',
            policy=hub.policy,
            subscribe_target="INC-7",
        )
    assert 'action="/subscribe"' in html and 'name="email"' in html
    options = re.findall(r'<option value="([^"]+)">', html)
    assert options == [f"service:{key}" for key in hub.policy.services]
    assert 'name="target" value="INC-7"' in fixed and "<select" not in fixed
    response = client.post("/subscribe", data={"email": ADDRESS, "target": options[0]})
    assert response.status_code == 202 and rows(hub, "subscribe-confirm")


def test_a_notice_queued_before_unsubscribing_is_not_sent(client, hub, api_caller):
    from hub.notifications.delivery import deliver_rows

    with hub.transaction() as session:
        leaving, _ = subs.subscribe_person(
            session, hub.policy, "julia", "service:payroll", "email", "console", utcnow()
        )
        staying, _ = subs.subscribe_person(
            session, hub.policy, "ivan", "service:payroll", "email", "console", utcnow()
        )
        addresses = (leaving.address, staying.address)
    api = api_caller(client)
    ref = payroll_outage_with_update(api)
    (gone,) = rows(hub, "stakeholder-update", addresses[0])
    (kept,) = rows(hub, "stakeholder-update", addresses[1])
    assert gone.status == kept.status == "pending"  # queued while both were subscribed
    with hub.transaction() as session:  # she unsubscribes while it waits
        assert subs.end(session.get(Subscription, leaving.id), utcnow())

    outcomes = deliver_rows(hub, [gone.id, kept.id])

    assert outcomes == {gone.id: "unsubscribed", kept.id: "sent"}
    (gone,) = rows(hub, "stakeholder-update", addresses[0])
    assert (gone.status, gone.last_error, gone.sent_at) == ("skipped", "unsubscribed", None)
    _, doc = api("GET", f"/api/v1/incidents/{ref}")
    (update,) = [e for e in doc["deliveries"] if e["template"] == "stakeholder-update"]
    (subscribers,) = [a for a in update["audiences"] if a["audience"] == "subscribers"]
    assert (subscribers["delivered"], subscribers["skipped"], subscribers["pending"]) == (1, 1, 0)
    assert subscribers["skipped_reasons"] == [{"reason": "unsubscribed", "count": 1}]
    assert "1 not sent (unsubscribed)" in subscribers["summary"]


def test_the_room_follow_button_subscribes_the_signed_in_person(client, hub, api_caller):
    status, body = api_caller(client)(
        "POST", "/api/v1/incidents",
        json={"title": "Payroll is down", "services": ["payroll"], "impact": "outage"},
    )  # fmt: skip
    assert status == 201, body
    ref = body["id"]
    sign_in(client, hub, "julia")
    room = client.get(f"/incidents/{ref}").get_data(as_text=True)
    form = re.search(r'<form method="post" action="(/subscriptions)">(.*?)</form>', room, re.S)
    assert form and 'id="follow-incident"' in form.group(2)
    fields = dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)">', form.group(2)))
    assert fields.pop("csrf_token")  # the form carries its CSRF token
    assert fields == {"target": ref, "channel": "email", "room": ref}
    response = post(client, form.group(1), fields)
    assert response.status_code == 303 and response.headers["Location"].endswith(
        f"/incidents/{ref}"
    )
    row = subscription(hub)
    assert (row.target, row.person, row.channel, row.state) == (
        f"incident:{int(ref.removeprefix('INC-'))}",
        "julia",
        "email",
        "active",
    )
    again = client.get(f"/incidents/{ref}")
    assert 'id="follow-incident"' not in again.get_data(as_text=True)
    assert "You get this incident's updates by email" in text_of(again).replace("&#39;", "'")
    sign_in(client, hub, "ivan")  # someone else still sees the button
    assert 'id="follow-incident"' in client.get(f"/incidents/{ref}").get_data(as_text=True)
