"""Operations pages: admins only, the outbox with retry, quarantine, intake log, policy, sinks."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select, update

from hub.app.models import InboundMessage, Notification
from hub.channels.email.sink import SinkTransport
from hub.channels.teams.transports import TeamsSinkTransport
from tests.web.test_web_pages import HOSTILE, declare
from tests.web_kit import flashes, post, sign_in, text_of

PAGES = (
    "/ops/",
    "/ops/outbox",
    "/ops/outbox?show=all",
    "/ops/quarantine",
    "/ops/intake",
    "/ops/policy",
    "/ops/sinks/",
    "/ops/sinks/?show=teams",
)


def test_operations_are_for_admins(client, hub):
    sign_in(client, hub, "chloe")
    for path in PAGES:
        assert client.get(path).status_code == 403, path
    assert "Operations" not in client.get("/").get_data(as_text=True)


def test_every_operations_page_renders(client, hub):
    declare(hub)
    sign_in(client, hub, "anna")
    for path in PAGES:
        response = client.get(path)
        assert response.status_code == 200, path
    policy = text_of(client.get("/ops/policy"))
    assert "+5 min (unless acknowledged): page Major Incident Manager #2 (Ben Okafor)" in policy
    assert "critical-service-outage → SEV1: a critical service and impact outage" in policy


def fail_one(hub) -> int:
    with hub.db.session() as session:
        row_id = session.scalar(select(Notification.id).order_by(Notification.id))
        session.execute(
            update(Notification)
            .where(Notification.id == row_id)
            .values(status="failed", attempts=10, last_error="550 5.1.1 no such user")
        )
    return row_id


def test_retry_puts_a_failed_delivery_back_in_the_queue(client, hub):
    ref = declare(hub)
    row_id = fail_one(hub)
    sign_in(client, hub, "anna")
    listed = client.get("/ops/outbox?show=failed").get_data(as_text=True)
    assert f'id="notification-{row_id}"' in listed and "550 5.1.1 no such user" in listed
    hub.enqueued.clear()
    assert post(client, f"/ops/outbox/{row_id}/retry").status_code == 303
    assert hub.enqueued == [("deliver", row_id)]
    with hub.db.session(write=False) as session:
        row = session.get(Notification, row_id)
        assert (row.status, row.attempts) == ("pending", 0)
        assert "retried by anna" in row.incident.timeline[-1].text
        assert row.incident.ref == ref
    post(client, f"/ops/outbox/{row_id}/retry")
    assert "only failed deliveries are retried" in flashes(client)[-1][1]


def test_the_retried_row_is_delivered_by_the_worker(hub):
    from hub.notifications.delivery import deliver_now, use_transport

    declare(hub)
    row_id = fail_one(hub)
    sent = []

    class Recording:
        def send(self, payload):
            from hub.channels.base import Sent

            sent.append(payload)
            return Sent("id-1", "ok")

    from hub.app.db import utcnow
    from hub.web.outbox_admin import retry_failed

    with hub.transaction() as session:
        retry_failed(session, row_id, actor="anna", now=utcnow())
    with hub.db.session(write=False) as session:
        channel = session.get(Notification, row_id).channel
    use_transport(channel, Recording())
    try:
        assert deliver_now(hub, row_id) == "sent"
    finally:
        use_transport(channel, None)
    assert len(sent) == 1


def test_quarantine_and_intake_log_show_stored_mail(client, hub):
    with hub.db.session() as session:
        session.add(
            InboundMessage(
                channel="email",
                dedupe_key="q1",
                raw=(f"From: m@evil.example\r\nSubject: {HOSTILE}\r\n\r\nhi").encode(),
                status="quarantined",
                sender="m@evil.example",
                decisions=[{"step": "trust", "decision": "quarantine", "reason": "not allowed"}],
            )
        )
    sign_in(client, hub, "anna")
    page = client.get("/ops/quarantine").get_data(as_text=True)
    assert "m@evil.example" in page and "<script>alert(1)" not in page
    log = text_of(client.get("/ops/intake"))
    assert "trust: quarantine (not allowed)" in log
    with hub.db.session(write=False) as session:
        ident = session.scalar(select(InboundMessage.id))
    post(client, f"/ops/quarantine/{ident}/discard")
    with hub.db.session(write=False) as session:
        assert session.get(InboundMessage, ident).status == "discarded"


@pytest.fixture
def sinks(hub):
    """One mail and one card in the local sinks, both carrying hostile text."""
    SinkTransport(hub.settings.data_dir).send(
        {
            "to": "exec@northwind.example",
            "from": "hub@northwind.example",
            "subject": HOSTILE,
            "text": f"body {HOSTILE}",
            "html": "<p>x</p>",
            "headers": {"Message-ID": "<m1@x>", "X-Mihub-Incident": "INC-7"},
        }
    )
    card = {
        "type": "AdaptiveCard",
        "version": "1.4",
        "body": [
            {"type": "TextBlock", "text": f"**Update** {HOSTILE} \\*literal\\*", "wrap": True},
            {"type": "FactSet", "facts": [{"title": "Severity", "value": "SEV1"}]},
        ],
        "actions": [
            {"type": "Action.OpenUrl", "title": "Open", "url": "https://hub.test/x"},
            {"type": "Action.OpenUrl", "title": "Bad", "url": "javascript:alert(1)"},
        ],
    }
    envelope = {
        "type": "message",
        "attachments": [
            {
                "contentType": "application/vnd.microsoft.card.adaptive",
                "contentUrl": None,
                "content": card,
            }
        ],
    }
    folder = hub.settings.data_dir / "sinks" / "teams"
    folder.mkdir(parents=True, exist_ok=True)  # written as is: the transport would refuse it
    (folder / "20260101T000000000000Z-000001.json").write_text(
        json.dumps(
            {
                "at": "2026-01-01T00:00:00.000+00:00",
                "transport": "webhook",
                "to": "https://hooks.test/x",
                "envelope": envelope,
            }
        )
    )
    envelope["attachments"][0]["content"]["actions"].pop()
    TeamsSinkTransport(hub.settings.data_dir).send(
        {"url": "https://hooks.test/x?sig=s", "envelope": envelope}
    )


def test_the_sinks_viewer_draws_mail_and_cards(client, hub, sinks):
    sign_in(client, hub, "anna")
    mail = client.get("/ops/sinks/?show=email&incident=INC-7").get_data(as_text=True)
    assert "body &lt;script&gt;" in mail and "<script>alert" not in mail
    assert "No mail in the sink for INC-8" in client.get("/ops/sinks/?incident=INC-8").get_data(
        as_text=True
    )
    name = json.loads(next((hub.settings.data_dir / "sinks" / "email").glob("*.json")).read_text())[
        "file"
    ]
    raw = client.get(f"/ops/sinks/email/{name}")
    assert raw.mimetype == "text/plain" and b"Message-ID: <m1@x>" in raw.data
    assert client.get("/ops/sinks/email/..%2Fhub.db").status_code == 404
    cards = client.get("/ops/sinks/?show=teams").get_data(as_text=True)
    assert "<strong>Update</strong>" in cards and "*literal*" in cards
    assert '<a class="ac-action" href="https://hub.test/x"' in cards
    assert "javascript:" not in cards and "<script>alert" not in cards
    assert "sig=s" not in cards  # the webhook's secret stays hidden


def test_sign_in_links_in_the_sink_stay_private(client, hub):
    from hub.app.db import utcnow
    from hub.web import links

    assert links.request_link(hub, "chloe", "/", utcnow())
    with hub.db.session(write=False) as session:
        payload = session.scalars(select(Notification.payload)).first()
    SinkTransport(hub.settings.data_dir).send(payload)
    sign_in(client, hub, "anna")
    page = client.get("/ops/sinks/").get_data(as_text=True)
    assert "Your sign-in link" in page and "/login/link/" not in page
    name = json.loads(next((hub.settings.data_dir / "sinks" / "email").glob("*.json")).read_text())[
        "file"
    ]
    assert client.get(f"/ops/sinks/email/{name}").status_code == 404
