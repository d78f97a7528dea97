"""Email intake ways in: the SMTP listener, POST /intake/email and the API, IMAP and Graph polling."""

from __future__ import annotations

import smtplib
import time
from dataclasses import replace

import pytest
from sqlalchemy import func, select

from hub.app.models import InboundMessage
from hub.intake.email import listener
from hub.intake.email.graph_inbox import GraphInbox
from hub.intake.email.mailbox import ImapSource
from hub.testing.fakes.imap import FakeImap
from hub.testing.fakes.microsoft import FakeMicrosoft
from hub.testing.harness import free_port
from tests.email_corpus import DOMAIN, INTAKE, mail, raw
from tests.email_kit import make_hub

pytestmark = pytest.mark.usefixtures("no_internet")


def _stored(hub) -> list[InboundMessage]:
    with hub.db.session(write=False) as session:
        return list(session.scalars(select(InboundMessage).order_by(InboundMessage.id)))


@pytest.fixture
def smtpd(backend, example_policy):
    policy = replace(example_policy, intake=replace(example_policy.intake, max_message_bytes=4096))
    hub = make_hub(backend, policy)
    listener.durable(hub)
    port = free_port()
    controller, writer = listener.make_controller(hub, f"127.0.0.1:{port}")
    controller.start()
    yield hub, port, writer
    controller.stop()
    writer.close()
    hub.db.dispose()


def _imported(hub, count):
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        rows = _stored(hub)
        if len(rows) >= count:
            return rows
        time.sleep(0.05)
    raise AssertionError(f"{count} message(s) not imported from the spool")


def test_smtp_answers_250_after_spooling_then_imports(smtpd):
    hub, port, writer = smtpd
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
        client.ehlo()
        client.mail(f"ben.okafor@{DOMAIN}")
        client.rcpt(INTAKE)
        client.rcpt(f"incidents+x@{DOMAIN}")
        code, reply = client.data(raw(mail()))
    assert code == 250 and b"queued as" in reply
    name = reply.decode().rsplit(" ", 1)[-1]
    rows = _imported(hub, 1)
    assert len(rows) == 1 and rows[0].status == "received"
    assert rows[0].envelope["rcpt_tos"] == [INTAKE, f"incidents+x@{DOMAIN}"]
    assert rows[0].envelope["mail_from"] == f"ben.okafor@{DOMAIN}"
    assert rows[0].envelope["queued_as"] == name
    deadline = time.monotonic() + 5  # the wake-up is enqueued just after the commit
    while not hub.enqueued and time.monotonic() < deadline:
        time.sleep(0.01)
    assert hub.enqueued == [("process_inbound", rows[0].id)]
    while writer.spool.pending(10) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert writer.spool.pending(10) == []  # deleted once committed


def test_spool_left_by_a_crash_is_imported_once(smtpd):
    hub, _port, writer = smtpd
    items = [(raw(mail()), {"queued_as": "crash.0"}), (raw(mail()), {"queued_as": "crash.1"})]
    writer.spool.write("00000000-crash", items)
    writer.import_some()
    writer.spool.write("00000000-crash", items)  # committed, but the file was not deleted
    writer.import_some()
    assert len(_stored(hub)) == 2


def test_smtp_refuses_oversize_during_data_with_552_and_goes_on(smtpd):
    hub, port, _writer = smtpd
    big = raw(mail(body="x" * 10_000))
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
        client.ehlo()
        assert "size" in client.esmtp_features
        client.mail(f"ben.okafor@{DOMAIN}")  # no SIZE= given: the limit must hold during DATA
        client.rcpt(INTAKE)
        code, _text = client.data(big)
        assert code == 552
        with pytest.raises(smtplib.SMTPSenderRefused) as early:  # SIZE= declared: refused at once
            client.sendmail(f"ben.okafor@{DOMAIN}", [INTAKE], big)
        assert early.value.smtp_code == 552
        client.sendmail(f"ben.okafor@{DOMAIN}", [INTAKE], raw(mail()))
    assert len(_imported(hub, 1)) == 1


def test_smtp_answers_451_when_it_cannot_store(smtpd, monkeypatch):
    hub, port, writer = smtpd

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(writer.spool, "write", broken)
    with (
        smtplib.SMTP("127.0.0.1", port, timeout=10) as client,
        pytest.raises(smtplib.SMTPDataError) as info,
    ):
        client.sendmail(f"ben.okafor@{DOMAIN}", [INTAKE], raw(mail()))
    assert info.value.smtp_code == 451
    time.sleep(0.3)
    assert _stored(hub) == []


def test_smtp_null_sender_is_kept_for_bounce_detection(smtpd):
    hub, port, _writer = smtpd
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
        client.sendmail("<>", [INTAKE], raw(mail(sender=f"mailer-daemon@mx.{DOMAIN}")))
    assert _imported(hub, 1)[0].envelope["mail_from"] == ""


# -- HTTP ------------------------------------------------------------------------------------
@pytest.fixture
def web(mhub):
    from hub import create_app
    from hub.http.auth import create_token

    with mhub.db.session() as session:
        tokens = {p: create_token(session, mhub.policy, p) for p in ("anna", "julia")}
    return create_app({"TESTING": True}, hub=mhub).test_client(), tokens


def _post(client, token, data, kind="message/rfc822"):
    return client.post(
        "/intake/email",
        data=data,
        content_type=kind,
        headers={"Authorization": f"Bearer {token}"} if token else {},
    )


def test_http_intake_outcomes(web):
    client, tokens = web
    message = raw(mail("SAP orders down", "SAP is down.", sender="elif.yilmaz"))
    first = _post(client, tokens["julia"], message)
    assert first.status_code == 202
    assert first.get_json()["outcome"] == "created"
    assert first.get_json()["incident"].startswith("INC-")
    again = _post(client, tokens["julia"], message)
    assert (again.status_code, again.get_json()["outcome"]) == (202, "duplicate")
    assert again.get_json()["incident"] is None
    outsider = _post(client, tokens["julia"], raw(mail(sender="Eve <eve@evil.example>")))
    assert outsider.get_json()["outcome"] == "quarantined"
    assert _post(client, None, message).status_code == 401
    assert _post(client, tokens["julia"], message, "application/json").status_code == 415
    assert _post(client, tokens["julia"], b"").status_code == 400
    too_big = _post(client, tokens["julia"], b"x" * (10 * 1024 * 1024 + 10))
    assert too_big.status_code == 413


def test_quarantine_api(web):
    client, tokens = web
    auth = {"Authorization": f"Bearer {tokens['anna']}"}
    held = _post(client, tokens["julia"], raw(mail("Help", "Hi", sender="Eve <eve@evil.example>")))
    ident = held.get_json()["id"]
    listed = client.get("/api/v1/mail/quarantine", headers=auth).get_json()["messages"]
    assert [m["id"] for m in listed] == [ident] and listed[0]["sender"] == "eve@evil.example"
    forbidden = client.get(
        "/api/v1/mail/quarantine", headers={"Authorization": f"Bearer {tokens['julia']}"}
    )
    assert forbidden.status_code == 403
    detail = client.get(f"/api/v1/mail/messages/{ident}", headers=auth).get_json()
    assert [d["step"] for d in detail["decisions"]][-1] == "trust"
    released = client.post(f"/api/v1/mail/messages/{ident}/release", headers=auth)
    assert released.get_json()["outcome"] == "created"
    again = client.post(f"/api/v1/mail/messages/{ident}/release", headers=auth)
    assert again.status_code == 409
    assert client.get("/api/v1/mail/messages/99999", headers=auth).status_code == 404


# -- mailbox polling -------------------------------------------------------------------------
def test_imap_polling_reads_each_message_once_across_restarts(mhub):
    fake = FakeImap(user="hub", password="pw").start()
    try:
        for i in range(3):
            fake.add(raw(mail(f"Report {i}", "Broken.", sender="julia.costa")))
        assert ImapSource(fake.url).poll(mhub) == 3
        assert ImapSource(fake.url).poll(mhub) == 0  # a new process: the cursor is in the DB
        fake.add(raw(mail("Report 3", "Broken.", sender="julia.costa")))
        assert ImapSource(fake.url).poll(mhub) == 1
        assert [r.envelope["uid"] for r in _stored(mhub)] == [1, 2, 3, 4]
        fake.reset_uidvalidity()  # the server rebuilt the folder: read again, dedupe later
        assert ImapSource(fake.url).poll(mhub) == 4
    finally:
        fake.stop()


def test_imap_bad_password_stores_nothing(mhub):
    from imapclient.exceptions import LoginError

    fake = FakeImap(user="hub", password="pw").start()
    try:
        fake.add(raw(mail()))
        with pytest.raises(LoginError):
            ImapSource(fake.url.replace(":pw@", ":nope@")).poll(mhub)
        assert _stored(mhub) == []
    finally:
        fake.stop()


def test_graph_delta_polling_follows_pages_and_keeps_the_delta_link(backend, example_policy):
    from hub.channels.identity import TokenSource

    fake = FakeMicrosoft(tenant="t1", clients={"c1": "s1"}).start()
    hub = make_hub(
        backend,
        example_policy,
        HUB_AUTHORITY_HOST=fake.url,
        HUB_GRAPH_API=f"{fake.url}/v1.0",
        HUB_GRAPH_TENANT_ID="t1",
        HUB_GRAPH_CLIENT_ID="c1",
        HUB_GRAPH_CLIENT_SECRET="s1",
        HUB_GRAPH_MAILBOX=INTAKE,
    )
    try:
        ids = [
            fake.deliver_to_inbox(INTAKE, raw(mail(f"Report {i}", "x", sender="julia.costa")))
            for i in range(120)
        ]

        def inbox():
            return GraphInbox(hub.settings, TokenSource(hub.settings))

        assert inbox().poll(hub) == 120  # three pages of 50
        assert inbox().poll(hub) == 0
        from hub.app.db import utcnow
        from hub.intake.email.pipeline import process

        process(hub, _stored(hub)[0].id, utcnow())  # its Message-ID is now known
        fake.touch_in_inbox(INTAKE, ids[0])  # read by someone: in the delta again
        fake.deliver_to_inbox(INTAKE, raw(mail("Late", "x", sender="julia.costa")))
        assert inbox().poll(hub) == 1
        with hub.db.session(write=False) as session:
            assert session.scalar(select(func.count(InboundMessage.id))) == 121
        assert fake.recorder.count("/v1.0/users", "GET") >= 121 + 4
    finally:
        fake.stop()
        hub.db.dispose()


def test_smtp_takes_long_lines_and_keeps_the_message_byte_for_byte(mhub):
    listener.durable(mhub)
    port = free_port()
    controller, writer = listener.make_controller(mhub, f"127.0.0.1:{port}")
    controller.start()
    try:
        lines = [b"x" * 1500, b"." + b"y" * 5000, b"z" * 70_000]  # a dot-stuffed one too
        sent = raw(mail("Long lines", "see below", sender="julia.costa")).replace(b"\n", b"\r\n")
        sent += b"\r\n".join(lines) + b"\r\n"
        with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
            client.sendmail(f"julia.costa@{DOMAIN}", [INTAKE], sent)
        stored = _imported(mhub, 1)[0]
    finally:
        controller.stop()
        writer.close()
    assert stored.raw == sent
    assert max(len(line) for line in stored.raw.split(b"\r\n")) == 70_000


def test_http_intake_carries_the_envelope(web):
    client, tokens = web
    bounce = raw(
        mail("Undelivered Mail Returned to Sender", "5.1.1 unknown", sender=f"ndr@mx.{DOMAIN}")
    )
    by_header = client.post(
        "/intake/email",
        data=bounce,
        content_type="message/rfc822",
        headers={
            "Authorization": f"Bearer {tokens['julia']}",
            "X-Envelope-From": "<>",
            "X-Original-To": INTAKE,
        },
    )
    assert by_header.status_code == 202 and by_header.get_json()["outcome"] == "ignored"
    by_query = client.post(
        f"/intake/email?mail_from=%3C%3E&rcpt_to={INTAKE},other@{DOMAIN}",
        data=raw(mail("Auto", "I am away", sender="julia.costa")),
        content_type="message/rfc822",
        headers={"Authorization": f"Bearer {tokens['julia']}"},
    )
    assert by_query.status_code == 202
    rows = _stored(web_hub(client))
    assert rows[-2].envelope["mail_from"] == "" and rows[-2].envelope["rcpt_tos"] == [INTAKE]
    assert rows[-1].envelope["rcpt_tos"] == [INTAKE, f"other@{DOMAIN}"]
    assert "null envelope sender" in rows[-1].decisions[-1]["reason"]
    unknown = client.post(
        "/intake/email?sender=x",
        data=bounce,
        content_type="message/rfc822",
        headers={"Authorization": f"Bearer {tokens['julia']}"},
    )
    assert unknown.status_code == 422


def web_hub(client):
    return client.application.extensions["hub"]
