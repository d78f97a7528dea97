"""Bounces change something only with proof that they are about mail the hub sent: a forged DSN
naming a role holder changes nothing; the real bounce of a page suppresses exactly that address,
and the incident shows the role holder as unreachable by email (API and room)."""

from __future__ import annotations

import smtplib
import time

import pytest
from sqlalchemy import select

from hub import create_app
from hub.app.models import EmailSuppression, InboundMessage, Notification
from hub.channels.email.ids import return_path, root_message_id
from hub.channels.email.transports import SmtpTransport
from hub.http.auth import create_token
from hub.intake.email import listener
from hub.intake.email.pipeline import process
from hub.notifications.notify import materialize
from hub.notifications.suppression import suppress
from hub.testing.fakes.smtp_sink import SmtpSink
from hub.testing.harness import free_port
from tests.email_corpus import DOMAIN, INTAKE, crlf
from tests.email_kit import SECRET, later, seed_world
from tests.web_kit import post, sign_in, text_of

pytestmark = pytest.mark.usefixtures("no_internet")
ANNA = f"anna.schmidt@{DOMAIN}"


def dsn(to: str, recipient: str, status: str, diagnostic: str, original_headers: str) -> bytes:
    """A DSN as Postfix writes it (RFC 3464), about `recipient`, returned to `to`."""
    return crlf(
        f"""From: MAILER-DAEMON@mx.partner.example (Mail Delivery System)
To: {to}
Subject: Undelivered Mail Returned to Sender
Message-ID: <dsn-{abs(hash((to, recipient, status, original_headers)))}@mx.partner.example>
Auto-Submitted: auto-replied
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="b1"

--b1
Content-Type: text/plain

This is the mail system at host mx.partner.example.
I'm sorry to have to inform you that your message could not
be delivered to one or more recipients.

<{recipient}>: host mx.partner.example said: {diagnostic}

--b1
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.partner.example

Final-Recipient: rfc822; {recipient}
Original-Recipient: rfc822;{recipient}
Action: failed
Status: {status}
Diagnostic-Code: smtp; {diagnostic}

--b1
Content-Type: text/rfc822-headers

{original_headers}
--b1--
"""
    )


@pytest.fixture
def smtp_in(mhub):
    listener.durable(mhub)
    port = free_port()
    controller, writer = listener.make_controller(mhub, f"127.0.0.1:{port}")
    controller.start()
    yield port
    controller.stop()
    writer.close()


def _bounce_in(hub, port: int, data: bytes, rcpt: str, minute: float):
    """MAIL FROM:<> to `rcpt` through the listener, then the pipeline; the stored row."""
    with hub.db.session(write=False) as session:
        last = session.scalar(select(InboundMessage.id).order_by(InboundMessage.id.desc()))
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
        client.sendmail("<>", [rcpt], data)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with hub.db.session(write=False) as session:
            ident = session.scalar(select(InboundMessage.id).where(InboundMessage.id > last))
        if ident:
            break
        time.sleep(0.05)
    process(hub, ident, later(minute))
    with hub.db.session(write=False) as session:
        return session.get(InboundMessage, ident)


def _state(hub, key: str):
    with hub.db.session(write=False) as session:
        row = session.scalars(select(Notification).where(Notification.key == key)).one()
        return row.status, set(session.scalars(select(EmailSuppression.address)))


def test_forged_dsns_change_nothing_and_a_real_bounce_suppresses_exactly_that_address(
    mhub, smtp_in
):
    world = seed_world(mhub)
    page_status, _ = _state(mhub, world.delivery_key)
    with mhub.db.session(write=False) as session:
        page = session.scalars(
            select(Notification).where(Notification.key == world.delivery_key)
        ).one()
        payload = materialize(page.payload, mhub.settings)

    # the hub really sends the page: the relay sees the signed return path
    sink = SmtpSink().start()
    transport = SmtpTransport(sink.url, timeout=5)
    try:
        transport.send(payload)
    finally:
        transport.close()
        sink.stop()
    sent = sink.messages[0]
    assert sent.mail_from == return_path(SECRET, f"incidents@{DOMAIN}", world.incident, page.key)
    original = sent.data.split(b"\r\n\r\n", 1)[0].decode()

    forged = [
        # a DSN naming Anna, about a message the hub never sent, to the intake address
        dsn(
            INTAKE,
            ANNA,
            "5.1.1",
            "550 5.1.1 <anna> User unknown",
            f"Message-ID: <fake-{world.incident}@mail.{DOMAIN}>\nTo: {ANNA}",
        ),
        # … quoting the incident's thread root (signed, but no message of ours has it)
        dsn(
            INTAKE,
            ANNA,
            "5.1.1",
            "550 5.1.1 User unknown",
            f"Message-ID: {root_message_id(SECRET, world.incident, DOMAIN)}\nTo: {ANNA}",
        ),
        # … returned to a made-up VERP address (bad signature)
        dsn(
            sent.mail_from[:-20] + "x" + sent.mail_from[-19:],
            ANNA,
            "5.1.1",
            "550 5.1.1 User unknown",
            f"To: {ANNA}",
        ),
    ]
    rcpts = [INTAKE, INTAKE, sent.mail_from[:-20] + "x" + sent.mail_from[-19:]]
    for i, (data, rcpt) in enumerate(zip(forged, rcpts, strict=True)):
        row = _bounce_in(mhub, smtp_in, data, rcpt, 2 + i)
        assert row.outcome == "ignored" and row.decisions[-1]["step"] == "bounce", row.decisions
        assert "about no message the hub sent" in row.decisions[-1]["reason"]
        assert _state(mhub, world.delivery_key) == (page_status, set()), f"forged DSN #{i}"

    # proven, but about the sender's reputation or temporary: nobody is suppressed
    for i, (status, said) in enumerate(
        [
            ("5.7.1", "550 5.7.1 Service unavailable; client host blocked using Spamhaus"),
            ("4.7.0", "421 4.7.0 IP frequency limited"),
        ]
    ):
        row = _bounce_in(
            mhub, smtp_in, dsn(sent.mail_from, ANNA, status, said, original), sent.mail_from, 6 + i
        )
        assert "not a permanent recipient failure" in row.decisions[-1]["reason"], row.decisions
        assert _state(mhub, world.delivery_key) == (page_status, set())

    # the real bounce of the page: returned to its return path, Anna's mailbox is gone
    row = _bounce_in(
        mhub,
        smtp_in,
        dsn(
            sent.mail_from,
            ANNA,
            "5.1.1",
            "550 5.1.1 <anna.schmidt>: Recipient address "
            "rejected: User unknown in virtual mailbox table",
            original,
        ),
        sent.mail_from,
        9,
    )
    assert row.outcome == "ignored", row.decisions
    assert "returned to our signed return path" in row.decisions[-1]["reason"]
    assert _state(mhub, world.delivery_key) == ("failed", {ANNA})

    # the incident shows her as unreachable by email: API and room
    with mhub.db.session() as session:
        token = create_token(session, mhub.policy, "ben")
    client = create_app({"TESTING": True}, hub=mhub).test_client()
    auth = {"Authorization": f"Bearer {token}"}
    doc = client.get(f"/api/v1/incidents/INC-{world.incident}", headers=auth).get_json()
    mim = next(r for r in doc["roles"] if r["role"] == "major_incident_manager")
    assert mim["person"] == "anna" and "5.1.1" in mim["email_unreachable"]
    others = [r for r in doc["roles"] if r["person"] != "anna"]
    assert others and all(r["email_unreachable"] is None for r in others)
    sign_in(client, mhub, "ben")
    room = text_of(client.get(f"/incidents/INC-{world.incident}"))
    assert room.count("unreachable by email") == 1 and "5.1.1 bounce" in room
    page = text_of(client.get("/ops/suppressions"))
    assert ANNA in page and f"stored email #{row.id}" in page
    listed = client.get("/api/v1/mail/suppressions", headers=auth).get_json()["suppressions"]
    assert [(s["address"], s["status"], s["bounce"]) for s in listed] == [(ANNA, "5.1.1", row.id)]
    lifted = post(client, "/ops/suppressions/lift", {"address": ANNA.upper()})
    assert lifted.status_code == 303
    assert "No address is suppressed" in text_of(client.get("/ops/suppressions"))
    assert client.post(f"/api/v1/mail/suppressions/{ANNA}/lift", headers=auth).status_code == 404
    assert "unreachable by email" not in text_of(client.get(f"/incidents/INC-{world.incident}"))
    doc = client.get(f"/api/v1/incidents/INC-{world.incident}", headers=auth).get_json()
    assert all(r["email_unreachable"] is None for r in doc["roles"])


def test_lift_over_the_api(mhub):
    with mhub.db.session() as session:
        token = create_token(session, mhub.policy, "anna")
        suppress(session, f"gone@{DOMAIN}", "5.1.1", "test", None, later(0))
    client = create_app({"TESTING": True}, hub=mhub).test_client()
    auth = {"Authorization": f"Bearer {token}"}
    answer = client.post(f"/api/v1/mail/suppressions/gone@{DOMAIN}/lift", headers=auth)
    assert answer.status_code == 200 and answer.get_json()["lifted"]["status"] == "5.1.1"
    assert client.get("/api/v1/mail/suppressions", headers=auth).get_json() == {"suppressions": []}
