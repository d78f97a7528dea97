"""Exporting an action item to a ticket system: a signed JSON POST through the outbox, delivered
by the worker's own path, and the ticket's link written back over the API by the ticket system.

The ticket system is hub.testing.fakes.ticket on 127.0.0.1 (it checks the HMAC and calls the
PATCH callback with a bearer token); the hub serves over real HTTP (waitress, `live_server`).
"""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
import requests
from markupsafe import escape
from review_factory import T0, open_draft, resolved_major
from sqlalchemy import select
from web_kit import post, sign_in

from hub.app.models import ActionItem, AuditRecord, Notification, TimelineEntry
from hub.channels.ticket import body_of, sign
from hub.notifications import delivery
from hub.reviews import action_items as items_ops
from hub.reviews import operations as rops
from hub.testing.fakes.ticket import HOOK, FakeTicketSystem

pytestmark = pytest.mark.usefixtures("no_internet")

SECRET = "shared-ticket-secret"
HOSTILE = '<script>alert("x")</script> & <img src=x onerror=alert(1)>'


def _item(hub, title="Load-test the connection pool", owner="elif") -> tuple[str, int]:
    number = resolved_major(hub)
    open_draft(hub, number)
    with hub.transaction() as session:
        review = rops.get_review(session, f"INC-{number}")
        items_ops.replace_items(
            session,
            hub.policy,
            review,
            [{"title": title, "owner": owner, "due": "2026-04-01", "priority": "P1"}],
            now=T0 + timedelta(hours=2),
        )
        session.flush()
        return f"INC-{number}", review.action_items[0].id


@pytest.fixture
def ticket_system(hub, live_server, make_token):
    """The fake ticket system, with the hub set to export to it and to be called back at its
    real HTTP address; the write-back token is the policy admin's (an integration account)."""
    delivery.use_transport("ticket", None)  # made anew with this hub's settings
    fake = FakeTicketSystem(SECRET, token=make_token("anna")).start()
    hub.settings.values.update(
        HUB_TICKET_WEBHOOK_URL=fake.hook_url,
        HUB_TICKET_WEBHOOK_SECRET=SECRET,
        HUB_BASE_URL=live_server,
    )
    yield fake
    fake.stop()
    delivery.use_transport("ticket", None)


def _export(hub, live_server, token, item) -> requests.Response:
    return requests.post(
        f"{live_server}/api/v1/action-items/{item}/export",
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )


def _row(hub, key) -> Notification:
    with hub.db.session(write=False) as session:
        row = session.scalars(select(Notification).where(Notification.key == key)).one()
        session.expunge(row)
        return row


def test_export_is_signed_delivered_by_the_worker_and_the_ticket_link_comes_back(
    hub, ticket_system, live_server, make_token, client
):
    ref, item = _item(hub)
    answer = _export(hub, live_server, make_token("elif"), item)  # the item's owner
    assert answer.status_code == 202, answer.text
    found = answer.json()
    assert found["delivery"] == f"export:{item}:1" and found["status"] == "pending"
    assert ticket_system.recorder.count() == 0  # nothing is sent in the request
    assert ("deliver", found["notification"]) in hub.enqueued

    assert delivery.deliver_now(hub, found["notification"]) == "sent"  # the worker's path
    (request,) = ticket_system.recorder.requests(HOOK)
    assert request.headers["x-mihub-delivery"] == f"export:{item}:1"
    assert request.headers["x-mihub-signature"] == sign(SECRET, request.body)
    assert request.headers["content-type"] == "application/json"
    doc = request.json()
    assert doc["event"] == "action_item.export"
    exported = doc["action_item"]
    assert exported["id"] == item and exported["title"] == "Load-test the connection pool"
    assert (exported["owner"], exported["due"], exported["priority"]) == (
        "elif",
        "2026-04-01",
        "P1",
    )
    assert exported["status"] == "open" and exported["incident"] == ref
    assert exported["review_url"] == f"{live_server}/incidents/{ref}/review"
    assert exported["problem"] == []
    assert doc["callback"] == {
        "url": f"{live_server}/api/v1/action-items/{item}",
        "method": "PATCH",
        "field": "ticket",
    }
    assert body_of(doc) == request.body  # the bytes signed are the bytes sent

    # the ticket system answered 201 and then wrote the ticket's link back with its token
    (ticket,) = ticket_system.tickets.values()
    link = f"{ticket_system.url}/tickets/{ticket.id}"
    ((status, written),) = ticket_system.wait_for_callbacks(1)
    assert status == 200 and written["ticket"] == link
    sent = _row(hub, f"export:{item}:1")
    assert sent.status == "sent" and sent.provider_id == link
    assert sent.channel == "ticket" and sent.recipient == "ticket system (127.0.0.1)"
    with hub.db.session(write=False) as session:
        assert session.get(ActionItem, item).ticket == link
        actions = [
            (r.action, r.actor, r.after)
            for r in session.scalars(select(AuditRecord).order_by(AuditRecord.id))
        ]
        timeline = [
            (e.kind, e.actor, e.text)
            for e in session.scalars(select(TimelineEntry).order_by(TimelineEntry.id))
            if e.kind.startswith("action-item")
        ]
    assert ("action-item-exported", "elif") in [(a, w) for a, w, _ in actions]
    assert ("action-item-changed", "anna", {"ticket": link}) in actions
    assert timeline == [
        (
            "action-item-export",
            "elif",
            f"Action item {item} (Load-test the connection pool) sent to the ticket system "
            "by Elif Yilmaz",
        ),
        (
            "action-item-ticket",
            "anna",
            f"Action item {item} (Load-test the connection pool) has a ticket: {link}",
        ),
    ]
    # the console shows the link, and the export's state
    sign_in(client, hub, "elif")
    page = client.get("/action-items").get_data(as_text=True)
    assert f'href="{link}"' in page and "export sent" in page
    # exported again: a new delivery key, a second ticket
    again = _export(hub, live_server, make_token("elif"), item).json()
    assert again["delivery"] == f"export:{item}:2"
    assert delivery.deliver_now(hub, again["notification"]) == "sent"
    assert len(ticket_system.tickets) == 2


def test_a_503_is_retried_with_the_same_delivery_key_and_signature(
    hub, ticket_system, live_server, make_token
):
    _ref, item = _item(hub)
    row_id = _export(hub, live_server, make_token("elif"), item).json()["notification"]
    ticket_system.fail_next(HOOK, 503)
    assert delivery.deliver_now(hub, row_id) == "retry"
    waiting = _row(hub, f"export:{item}:1")
    assert waiting.status == "pending" and waiting.attempts == 1
    assert "503" in waiting.last_error and waiting.next_attempt_at is not None
    # not before its time: the backoff holds it back
    assert (
        delivery.deliver_now(hub, row_id, now=waiting.next_attempt_at - timedelta(seconds=1))
        == "skipped"
    )
    assert delivery.deliver_now(hub, row_id, now=waiting.next_attempt_at) == "sent"
    first, second = ticket_system.recorder.requests(HOOK)
    assert first.headers["x-mihub-delivery"] == second.headers["x-mihub-delivery"]
    assert first.body == second.body
    assert first.headers["x-mihub-signature"] == second.headers["x-mihub-signature"]
    assert len(ticket_system.tickets) == 1
    assert _row(hub, f"export:{item}:1").status == "sent"
    assert ticket_system.wait_for_callbacks(1)[0][0] == 200


def test_a_wrong_signature_is_refused_and_the_export_fails_with_the_reason(
    hub, ticket_system, live_server, make_token, client
):
    # the fake itself: unsigned and forged requests get no ticket
    body = json.dumps({"event": "action_item.export", "callback": {}}).encode()
    assert requests.post(ticket_system.hook_url, data=body, timeout=5).status_code == 401
    forged = {"X-Mihub-Signature": sign("not-the-secret", body)}
    assert (
        requests.post(ticket_system.hook_url, data=body, headers=forged, timeout=5).status_code
        == 401
    )
    # the hub with the wrong secret: a 401 is not retried; the reason stays on the row
    hub.settings.values["HUB_TICKET_WEBHOOK_SECRET"] = "a-stale-secret"
    _ref, item = _item(hub)
    row_id = _export(hub, live_server, make_token("elif"), item).json()["notification"]
    assert delivery.deliver_now(hub, row_id) == "failed"
    failed = _row(hub, f"export:{item}:1")
    assert failed.status == "failed" and "401" in failed.last_error
    assert "bad signature" in failed.last_error
    assert ticket_system.tickets == {} and ticket_system.rejected == ["bad signature"] * 3
    sign_in(client, hub, "elif")
    page = client.get("/action-items").get_data(as_text=True)
    assert "export failed" in page and "401" in page
    # a failed export may be tried again (a new key)
    again = _export(hub, live_server, make_token("elif"), item)
    assert again.status_code == 202 and again.json()["delivery"] == f"export:{item}:2"


def test_who_may_export_and_when(hub, ticket_system, live_server, make_token):
    _ref, item = _item(hub)
    refused = _export(hub, live_server, make_token("julia"), item)
    assert refused.status_code == 403
    assert "only the item's owner" in refused.json()["error"]["message"]
    assert _export(hub, live_server, make_token("elif"), 99999).status_code == 404
    assert _export(hub, live_server, make_token("anna"), item).status_code == 202  # an admin
    twice = _export(hub, live_server, make_token("elif"), item)  # the first is on its way
    assert twice.status_code == 409 and "already on its way" in twice.json()["error"]["message"]
    hub.settings.values["HUB_TICKET_WEBHOOK_URL"] = None
    off = _export(hub, live_server, make_token("elif"), item)
    assert off.status_code == 409 and off.json()["error"]["code"] == "not_configured"
    with hub.db.session(write=False) as session:
        assert session.scalar(select(Notification.key).where(Notification.channel == "ticket")) == (
            f"export:{item}:1"
        )


def test_the_console_offers_the_export_only_when_configured_and_escapes_the_title(
    hub, ticket_system, client
):
    ref, item = _item(hub, title=HOSTILE)
    sign_in(client, hub, "julia")  # may not change the item: no button
    assert "Export to ticket system" not in client.get("/action-items").get_data(as_text=True)
    sign_in(client, hub, "elif")
    page = client.get("/action-items").get_data(as_text=True)
    assert "Export to ticket system" in page
    assert HOSTILE not in page and str(escape(HOSTILE)) in page
    answer = post(client, f"/action-items/{item}/export")
    assert answer.status_code == 303
    page = client.get("/action-items").get_data(as_text=True)
    assert "on its way to the ticket system" in page and "export pending" in page
    assert "Export to ticket system" not in page  # not twice while one is on its way
    room = client.get(f"/incidents/{ref}").get_data(as_text=True)
    assert "sent to the ticket system" in room and HOSTILE not in room
    # the ticket system refuses it with hostile text: the reason is shown escaped
    ticket_system.fail_next(HOOK, 400, body=HOSTILE)
    (row_id,) = [i for name, i in hub.enqueued if name == "deliver"][-1:]
    assert delivery.deliver_now(hub, row_id) == "failed"
    sign_in(client, hub, "anna")
    outbox = client.get("/ops/outbox?show=problems").get_data(as_text=True)
    assert "action-item-export" in outbox and "ticket system (127.0.0.1)" in outbox
    assert "answered 400" in outbox and "<script>" not in outbox and "&lt;script&gt;" in outbox
    page = client.get("/action-items").get_data(as_text=True)
    assert "export failed" in page and "<script>" not in page
    hub.settings.values["HUB_TICKET_WEBHOOK_URL"] = None  # off: not offered
    assert "Export to ticket system" not in client.get("/action-items").get_data(as_text=True)
