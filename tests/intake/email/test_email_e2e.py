"""End to end with real processes: `mihub run`, smtplib clients, an aiosmtpd sink for our mail."""

from __future__ import annotations

import os
import re
import smtplib
import time
from email.message import EmailMessage
from email.policy import SMTP

import pytest
import requests

from hub.testing.fakes.smtp_sink import SmtpSink
from hub.testing.harness import create_token, free_port, start_mihub, wait_for, wait_healthy
from tests.conftest import EXAMPLE_POLICY, ROOT

pytestmark = [pytest.mark.e2e, pytest.mark.spread]
DOMAIN = "northwind.example"
INTAKE = f"incidents@{DOMAIN}"


@pytest.fixture
def running_hub(tmp_path, backend):
    sink = SmtpSink().start()
    http, smtp = free_port(), free_port()
    env = dict(
        os.environ,
        HUB_DATA_DIR=str(tmp_path / "var"),
        HUB_HTTP=f"127.0.0.1:{http}",
        HUB_SMTP_LISTEN=f"127.0.0.1:{smtp}",
        HUB_POLICY=str(EXAMPLE_POLICY),
        HUB_DATABASE_URL=backend["database_url"],
        HUB_QUEUE_URL=backend["queue_url"],
        HUB_MAIL_TRANSPORT="smtp",
        HUB_SMTP_URL=sink.url,
        HUB_SECRET_KEY="e2e-secret",
        HUB_MAIL_FROM=f"Major Incident Hub <{INTAKE}>",
    )
    proc = start_mihub("run", env=env, cwd=ROOT)
    base = f"http://127.0.0.1:{http}"
    try:
        wait_healthy(base, proc, timeout=60)
        wait_for(lambda: _listening(smtp, proc), timeout=30, what="the SMTP listener")
        token = create_token("anna", env=env, cwd=ROOT)
        yield {
            "base": base,
            "smtp": smtp,
            "sink": sink,
            "auth": {"Authorization": f"Bearer {token}"},
        }
    finally:
        code = proc.stop()
        sink.stop()
    assert code == 0, proc.output
    assert "Stopped cleanly." in proc.output


def _listening(port, proc):
    proc.check_alive()
    try:
        with smtplib.SMTP("127.0.0.1", port, timeout=2) as client:
            return client.noop()[0] == 250
    except OSError:
        return False


def send(port, msg: EmailMessage | bytes, mail_from="ben.okafor@northwind.example") -> str:
    """One message over SMTP the way an MTA hands it on; returns the name it was queued as."""
    data = msg if isinstance(msg, bytes) else msg.as_bytes(policy=SMTP)
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
        client.ehlo()
        code, _ = client.mail(mail_from)
        assert code == 250
        assert client.rcpt(INTAKE)[0] == 250
        code, reply = client.data(data)
    assert code == 250, reply
    return re.search(rb"queued as (\S+)", reply).group(1).decode()


def message(subject, body, sender="Ben Okafor <ben.okafor@northwind.example>", **headers):
    msg = EmailMessage(policy=SMTP)
    msg["From"], msg["To"], msg["Subject"] = sender, INTAKE, subject
    msg["Message-ID"] = f"<{time.monotonic_ns()}@mail.{DOMAIN}>"
    for name, value in headers.items():
        msg[name.replace("_", "-")] = value
    msg.set_content(body)
    return msg


def stored(hub, name):
    """The stored message once processed, found by the listener's queue name."""

    def done():
        r = requests.get(
            f"{hub['base']}/api/v1/mail/messages",
            params={"queued_as": name},
            headers=hub["auth"],
            timeout=5,
        )
        found = r.json()["messages"]
        if not found or found[0]["status"] == "received":
            return None
        return requests.get(
            f"{hub['base']}/api/v1/mail/messages/{found[0]['id']}", headers=hub["auth"], timeout=5
        ).json()

    return wait_for(done, timeout=40, what=f"email {name} to be processed")


def mails_to(sink, address, template=None):
    found = []
    for received in list(sink.messages):
        msg = received.message()
        if address in received.rcpt_tos and (
            template is None or msg["X-Mihub-Template"] == template
        ):
            found.append(msg)
    return found


def test_email_round_trip_through_real_processes(running_hub):
    hub, port, sink = running_hub, running_hub["smtp"], running_hub["sink"]
    ben = "ben.okafor@northwind.example"
    report = message("Payroll is down", "Payroll is down for everyone since 9:00.")
    first = stored(hub, send(port, report))
    assert (first["outcome"], first["incident"]) == ("created", "INC-1")
    incident = requests.get(
        f"{hub['base']}/api/v1/incidents/INC-1", headers=hub["auth"], timeout=5
    ).json()
    assert incident["major"] and incident["severity"] == "SEV1"
    ack = wait_for(
        lambda: mails_to(sink, ben, "report-received"), timeout=40, what="the acknowledgement"
    )[0]
    assert "INC-1" in ack["Subject"] and ack["Auto-Submitted"] == "auto-replied"
    assert ack["In-Reply-To"] == report["Message-ID"]
    assert "/incidents/INC-1" in ack.get_body(("plain",)).get_content()

    # the same message again (an MTA retrying after a lost 250): a duplicate
    assert stored(hub, send(port, report))["outcome"] == "duplicate"

    # a reply as a mail client writes it, threaded by In-Reply-To/References
    quoted = "\n".join("> " + line for line in ack.get_body(("plain",)).get_content().splitlines())
    answer = message(
        f"RE: {ack['Subject']}",
        f"It is also down in Hamburg.\n\nOn Tue, Ben wrote:\n{quoted}\n",
        In_Reply_To=ack["Message-ID"],
        References=f"{ack['References']} {ack['Message-ID']}",
    )
    replied = stored(hub, send(port, answer))
    assert (replied["outcome"], replied["incident"]) == ("threaded", "INC-1")
    timeline = requests.get(
        f"{hub['base']}/api/v1/incidents/INC-1", headers=hub["auth"], timeout=5
    ).json()["timeline"]
    comment = [e for e in timeline if e["kind"] == "comment"][-1]
    assert comment["text"] == "It is also down in Hamburg." and comment["actor"] == "ben"

    # an update goes to the stakeholders; an out-of-office answer to it is recorded, not looped
    r = requests.post(
        f"{hub['base']}/api/v1/incidents/INC-1/updates",
        headers=hub["auth"],
        json={"text": "Rolled back the payroll release."},
        timeout=5,
    )
    assert r.status_code == 200, r.text
    staff = "all-staff@northwind.example"
    update = wait_for(
        lambda: mails_to(sink, staff, "stakeholder-update"),
        timeout=40,
        what="the stakeholder update",
    )[0]
    before = len(sink.messages)
    oof = message(
        f"Automatic reply: {update['Subject']}",
        "I am out of the office.",
        sender=f"All Staff <{staff}>",
        In_Reply_To=update["Message-ID"],
        Auto_Submitted="auto-replied",
        X_Auto_Response_Suppress="All",
    )
    auto = stored(hub, send(port, oof, mail_from=""))
    assert (auto["outcome"], auto["incident"]) == ("ignored", "INC-1")
    assert auto["decisions"][-1]["step"] == "automatic"
    time.sleep(2)
    assert not [m for m in sink.messages[before:] if staff in m.rcpt_tos]  # nothing answered

    # a bounce of the update to the executives marks that delivery failed
    execs = "exec-team@northwind.example"
    bounced = wait_for(
        lambda: mails_to(sink, execs, "stakeholder-update"),
        timeout=40,
        what="the executives' update",
    )[0]
    dsn = (
        f"From: Mail Delivery System <MAILER-DAEMON@mx.{DOMAIN}>\r\nTo: {INTAKE}\r\n"
        "Subject: Undelivered Mail Returned to Sender\r\nMessage-ID: <dsn-1@mx>\r\n"
        "MIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=delivery-status;"
        ' boundary="b"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nUndeliverable.\r\n'
        "--b\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx\r\n\r\n"
        f"Final-Recipient: rfc822; {execs}\r\nAction: failed\r\nStatus: 5.1.1\r\n\r\n"
        "--b\r\nContent-Type: text/rfc822-headers\r\n\r\n"
        f"Message-ID: {bounced['Message-ID']}\r\n\r\n--b--\r\n"
    ).encode()
    assert stored(hub, send(port, dsn, mail_from=""))["outcome"] == "ignored"
    notes = requests.get(
        f"{hub['base']}/api/v1/incidents/INC-1", headers=hub["auth"], timeout=5
    ).json()["notifications"]
    failed = [x for x in notes if x["recipient"] == execs and x["template"] == "stakeholder-update"]
    assert failed and failed[0]["status"] == "failed"
