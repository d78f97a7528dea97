"""Email out: templates, threading, reply tokens, MIME, and the SMTP and sink transports."""

from __future__ import annotations

import json
import re
import threading
from email import policy
from email.parser import BytesParser

import pytest

from hub.app.settings import SettingsError, load_settings
from hub.channels.base import PermanentError, TransientError
from hub.channels.email import transports
from hub.channels.email.compose import (
    EMAIL_TEMPLATES,
    REPLY_MARKER_RE,
    ThreadInfo,
    render_email,
    reply_marker,
    template_names,
)
from hub.channels.email.ids import (
    make_reply_token,
    message_id,
    root_message_id,
    token_from_address,
    verify_message_id,
    verify_reply_token,
    verify_return_path,
)
from hub.channels.email.transports import SinkTransport, SmtpTransport, make_mail_transport
from hub.channels.email.wire import mime_bytes
from hub.testing.fakes.smtp_sink import SmtpSink

pytestmark = pytest.mark.usefixtures("no_internet")

EXPECTED = {
    "incident-declared",
    "page",
    "stakeholder-update",
    "update-reminder",
    "no-change-update",
    "sla-warning",
    "sla-breach",
    "resolved",
    "escalation",
}
NEEDS = {
    "page": "page",
    "escalation": "page",
    "sla-warning": "sla",
    "sla-breach": "sla",
    "update-reminder": "next_update_at_local",
    "review-assigned": "review",
    "review-reminder": "review",
    "review-overdue": "review",
    "alerts-resolved": "alerts",
    "action-due-soon": "review",
    "task-late": "task",
    "update-draft": "draft",
    "page-undeliverable": "unreachable",
}
ALL = template_names()  # the templates above plus any added later: all must pass the same tests
EVIL = '<script>alert("x")</script> {{ 7*7 }} & "quotes"'


@pytest.fixture
def settings(tmp_path):
    return load_settings(
        env={},
        overrides={
            "HUB_SECRET_KEY": "k1",
            "HUB_MAIL_FROM": "Major Incident Hub <hub@northwind.example>",
            "HUB_DATA_DIR": str(tmp_path / "var"),
        },
    )


def context(**changes):
    """The standard context (as the workflow builds it), hostile everywhere people type."""
    base = {
        "incident": {
            "id": "INC-42",
            "title": f"Payroll\r\ndown {EVIL}\nBcc: x@evil.example",
            "severity": "SEV1",
            "state": "investigating",
            "major": True,
            "services": ["payroll", EVIL],
            "reasons": ["critical service down", EVIL],
            "summary": f"first line\nsecond {EVIL}",
            "url": "https://hub.example/incidents/INC-42",
            "bridge_url": "javascript:alert(1)",
            "roles": [
                {
                    "role": "major_incident_manager",
                    "role_label": "Major Incident Manager",
                    "person": "anna",
                    "person_name": f"Anna {EVIL}",
                    "acknowledged": True,
                },
                {
                    "role": "tech_lead",
                    "role_label": "Technical Lead",
                    "person": None,
                    "person_name": None,
                    "acknowledged": False,
                },
            ],
            "created_at_local": "14:02 CET",
        },
        "recipient": {"name": f"Ben {EVIL}", "email": "ben@northwind.example"},
        "update": {
            "text": f"Rolled back.\n{EVIL}\nsecond line",
            "author_name": f"Chloe {EVIL}",
            "at_local": "14:30 CET",
        },
        "next_update_at_local": "15:00 CET",
        "alerts": {"total": 37, "at_local": "10:42 CET"},
        "split": {
            "from_id": "INC-7",
            "from_title": f"Payroll {EVIL}",
            "report": f"My report {EVIL}",
            "why": f"another problem {EVIL}",
        },
        "sla": {
            "kind": "resolve",
            "label": "Resolve within 4h",
            "due_at_local": "18:02 CET",
            "percent": 80,
            "breached": False,
        },
        "page": {
            "role": "major_incident_manager",
            "role_label": "Major Incident Manager",
            "step": 2,
            "tasks": [
                {"n": 1, "text": EVIL, "due_local": "14:07 CET", "url": "javascript:alert(1)"}
            ],
            "tasks_url": "https://hub.example/incidents/INC-42#tasks",
        },
        "task": {
            "n": 3,
            "role_label": "Technical Lead",
            "text": f"Post the hypothesis {EVIL}",
            "due_local": "14:22 CET",
            "url": "javascript:alert(1)",
        },
        "draft": {
            "id": 3,
            "text": f"Failover started {EVIL}",
            "public_text": f"Portal slow {EVIL}",
            "author_name": f"Felix {EVIL}",
            "at_local": "14:20 CET",
            "state": "awaiting",
            "approver_label": "Communications Owner",
        },
        "approve_url": "https://hub.example/incidents/INC-42/drafts/3/tok?x=1&y=2",
        "policy_timezone": "Europe/Berlin",
        "hub_url": "https://hub.example",
        "ack_url": "https://hub.example/ack/abc?x=1&y=2",
        "unreachable": {
            "person_name": f"Erin {EVIL}",
            "role_label": "Technical Lead",
            "tried": [{"channel": "email", "to": "erin@example.com", "reason": EVIL, "line": EVIL}],
        },
        "review": {
            "state": "draft",
            "state_label": f"Draft {EVIL}",
            "due_at_local": "Fri 14:00 CET",
            "url": "https://hub.example/incidents/INC-42/review",
            "api_url": "https://hub.example/api",
            "problem_manager_name": f"Dave {EVIL}",
            "missing": ["Root causes", EVIL],
            "escalated": True,
            "overdue_items": [
                {"title": EVIL, "owner_name": f"Eve {EVIL}", "due": "2026-01-02", "priority": "P1"}
            ],
        },
    }
    base.update(changes)
    return base


def render(
    settings, template="page", to="ben@northwind.example", key="k", incident="INC-42", **changes
):
    return render_email(
        template, context(**changes), to=to, settings=settings, thread=ThreadInfo(incident, key)
    )


# -- templates --------------------------------------------------------------------------------
def test_every_expected_template_is_complete():
    assert set(ALL) >= EXPECTED
    for name in ALL:
        for part in ("subject.txt", "body.txt", "body.html"):
            assert (EMAIL_TEMPLATES / name / part).is_file(), f"{name}/{part}"
        assert (EMAIL_TEMPLATES / name / "body.txt").read_text().startswith("{#"), (
            f"{name}/body.txt must document its context in a leading comment"
        )


@pytest.mark.parametrize("template", ALL)
def test_template_renders_hostile_context_safely(settings, template):
    mail = render(settings, template)
    assert "\n" not in mail["subject"] and "\r" not in mail["subject"]
    assert mail["subject"].startswith("[INC-42] ") and len(mail["subject"]) <= 200
    marker = reply_marker(42)
    assert mail["text"].startswith(marker + "\n")
    assert marker in mail["html"].split("<body", 1)[1].split("<table", 1)[0]  # first in body
    assert "<script>" not in mail["html"] and "&lt;script&gt;" in mail["html"]
    assert "javascript:" not in mail["html"]
    assert "{{ 7*7 }}" in mail["text"] and "49" not in mail["text"]
    assert '"quotes"' in mail["text"]  # text is not HTML-escaped
    json.dumps(mail)  # the outbox stores it as JSON
    msg = BytesParser(policy=policy.default).parsebytes(mime_bytes(mail))
    assert msg["Bcc"] is None and msg["To"] == "ben@northwind.example"
    assert msg.get_content_type() == "multipart/alternative"


@pytest.mark.parametrize("template", ALL)
def test_template_renders_with_optional_values_absent(settings, template):
    absent = {
        "update": None,
        "sla": None,
        "page": None,
        "next_update_at_local": None,
        "review": None,
    }
    absent.pop(NEEDS.get(template, ""), None)
    mail = render(settings, template, **absent)
    assert mail["text"].startswith(reply_marker(42))


def test_updates_state_the_next_update_time(settings):
    for template in ("stakeholder-update", "no-change-update", "incident-declared"):
        assert "15:00 CET" in render(settings, template)["text"]
    no_change = render(settings, "no-change-update")["text"]
    assert "No change since 14:30 CET — next update at 15:00 CET" in no_change
    assert "14:02 CET" in render(settings, "no-change-update", update=None)["text"]
    assert "due at 15:00 CET" in render(settings, "update-reminder")["text"]
    assert "STEP 2" in render(settings, "escalation")["text"]


def test_template_errors_are_permanent(settings):
    with pytest.raises(PermanentError, match="'no-such'"):
        render(settings, "no-such")
    with pytest.raises(PermanentError, match="UndefinedError"):
        render_email(
            "page",
            {"incident": {"id": "INC-1"}},
            to="a@b.example",
            settings=settings,
            thread=ThreadInfo(1, "k"),
        )


@pytest.mark.parametrize("to", ["a@b.example\r\nBcc: x@evil.example", "not an address", ""])
def test_bad_recipient_is_permanent(settings, to):
    with pytest.raises(PermanentError):
        render(settings, to=to)


# -- threading --------------------------------------------------------------------------------
def test_message_ids_are_deterministic_per_key_and_share_the_incident_root(settings):
    first, again = (
        render(settings, key="page:INC-42|anna|email"),
        render(settings, "stakeholder-update", key="page:INC-42|anna|email"),
    )
    other = render(settings, key="page:INC-42|ben|email")
    assert first["headers"]["Message-ID"] == again["headers"]["Message-ID"]
    assert first["headers"]["Message-ID"] != other["headers"]["Message-ID"]
    root = root_message_id("k1", 42, "northwind.example")
    for mail in (first, other):
        assert mail["headers"]["In-Reply-To"] == mail["headers"]["References"] == root
        assert mail["headers"]["Thread-Index"][:28] == first["headers"]["Thread-Index"][:28]
    elsewhere = render(settings, incident=43)
    assert elsewhere["headers"]["References"] != root
    assert first["headers"]["Thread-Index"][:28] != elsewhere["headers"]["Thread-Index"][:28]
    assert first["subject"] == again["subject"]  # Gmail and Outlook split on a new subject


def test_automation_and_loop_headers(settings):
    headers = render(settings)["headers"]
    assert headers["Auto-Submitted"] == "auto-generated"
    assert headers["X-Auto-Response-Suppress"] == "OOF, AutoReply"
    assert headers["X-Mihub-Loop"] and headers["X-Mihub-Incident"] == "INC-42"


def test_our_message_ids_verify_and_forgeries_do_not():
    mid = message_id("k1", 42, "INC-42|ben|email", "northwind.example")
    assert verify_message_id("k1", mid) == 42
    assert verify_message_id("k1", " " + mid.upper() + " ") == 42
    assert verify_message_id("k1", root_message_id("k1", 42, "northwind.example")) == 42
    assert verify_message_id("k2", mid) is None
    assert verify_message_id("k1", mid.replace("inc-42", "inc-43")) is None
    assert verify_message_id("k1", "<CAF=abc@mail.gmail.com>") is None


# -- reply tokens -----------------------------------------------------------------------------
def test_reply_token_round_trip_and_plus_address(settings):
    mail = render(settings, to="Ben Okafor <Ben@Northwind.example>")
    reply_to = mail["headers"]["Reply-To"]
    assert re.fullmatch(r"hub\+[0-9a-z-]+@northwind\.example", reply_to)
    assert len(reply_to.split("@")[0]) <= 64
    token = token_from_address(reply_to)
    assert verify_reply_token("k1", token)[0] == 42
    assert verify_reply_token("k1", token, sender="ben@northwind.example")[0] == 42
    assert verify_reply_token("k1", token.upper(), sender="BEN@northwind.example")[0] == 42


def test_reply_to_uses_the_policy_intake_address(settings):
    mail = render(settings, intake_address="Incidents <incidents@northwind.example>")
    assert mail["headers"]["Reply-To"].startswith("incidents+42-")
    assert mail["headers"]["Reply-To"].endswith("@northwind.example")


@pytest.mark.parametrize("case", ["wrong-secret", "other-incident", "forwarded", "garbage"])
def test_reply_token_rejects_tampering_and_forwarding(case):
    token = make_reply_token("k1", "INC-42", "ben@northwind.example")
    number, tag, sig = token.split("-")
    secret, sender = "k1", None
    if case == "wrong-secret":
        secret = "k2"
    elif case == "other-incident":
        token = f"43-{tag}-{sig}"
    elif case == "forwarded":
        sender = "mallory@elsewhere.example"
    else:
        token = "42-zzzz-zzzz"
    assert verify_reply_token(secret, token, sender=sender) is None


def test_marker_found_in_quoted_replies():
    reply = f"Fixed now.\n\nOn Tue, Hub wrote:\n> {reply_marker(42)}\n> old text"
    match = REPLY_MARKER_RE.search(reply)
    assert match and match.group(1) == "42" and reply[: match.start()].strip().endswith("wrote:")


# -- MIME -------------------------------------------------------------------------------------
def test_sent_mime_has_both_alternatives_and_every_header(settings):
    mail = render(settings, "stakeholder-update")
    msg = BytesParser(policy=policy.default).parsebytes(mime_bytes(mail))
    assert msg["Date"] and msg["Subject"] == mail["subject"]
    for name, value in mail["headers"].items():
        assert str(msg[name]).strip() == value, name
    assert msg.get_body(("plain",)).get_content().startswith(reply_marker(42))
    assert "&lt;script&gt;" in msg.get_body(("html",)).get_content()


def test_sent_mime_encodes_non_ascii_and_cannot_be_injected(settings):
    mail = render(settings, "stakeholder-update")
    mail = {
        **mail,
        "to": "Zoë Ünal <zoe@northwind.example>",
        "subject": "[INC-42] Zahlungsausfall – Lohn ✓\r\nBcc: evil@attacker.example",
        "text": "Grüße\n" + "x" * 200 + "  \n.\nend",
        "headers": {**mail["headers"], "X-Mihub-Template": "update\nBcc: evil@attacker.example"},
    }
    raw = mime_bytes(mail)
    assert raw.isascii()  # RFC 2047 headers, quoted-printable bodies
    assert b"\nBcc:" not in raw.split(b"\r\n\r\n", 1)[0]  # the top-level header block (CRLF)
    stored = raw.replace(b"\r\n", b"\n")  # as a mail store keeps it (line ends: LF)
    msg = BytesParser(policy=policy.default).parsebytes(stored)
    assert msg["Bcc"] is None
    assert msg["Subject"] == "[INC-42] Zahlungsausfall – Lohn ✓ Bcc: evil@attacker.example"
    assert msg["To"].addresses[0].display_name == "Zoë Ünal"
    assert msg.get_body(("plain",)).get_content() == mail["text"]
    assert all(len(line) <= 998 for line in raw.splitlines())


@pytest.mark.parametrize("control", ["\x0b", "\x0c", "\x1c", "\x85", "\u2028", "\x00"])
def test_sent_mime_drops_every_kind_of_line_break_and_control_character(settings, control):
    mail = render(settings, "stakeholder-update")
    mail = {**mail, "subject": f"[INC-42] a{control}Bcc: evil@attacker.example"}
    mail["headers"] = {**mail["headers"], "X-Mihub-Template": f"x{control}y"}
    raw = mime_bytes(mail)
    msg = BytesParser(policy=policy.default).parsebytes(raw)
    assert msg["Bcc"] is None and not msg.defects
    assert msg["Subject"].startswith("[INC-42] a") and msg["X-Mihub-Template"] == "x y"


def test_internationalised_domains_are_idna_and_non_ascii_local_parts_fail_once():
    from hub.channels.email.transports import smtp_address

    assert smtp_address("anna@bücher.example") == "anna@xn--bcher-kva.example"
    with pytest.raises(PermanentError, match="SMTPUTF8"):
        smtp_address("zoë@northwind.example")


# -- SMTP against a real aiosmtpd sink --------------------------------------------------------
@pytest.fixture
def sink():
    server = SmtpSink().start()
    yield server
    server.stop()


def test_smtp_delivers_many_messages_over_one_connection(settings, sink):
    transport = SmtpTransport(sink.url, timeout=5)
    sent = [
        transport.send(render(settings, to=f"user{n}@northwind.example", key=str(n)))
        for n in range(20)
    ]
    transport.close()
    assert len(sink.messages) == 20 and transport.connections_opened == 1
    assert len({m.peer for m in sink.messages}) == 1
    first = sink.messages[0]
    # the envelope sender is the message's signed return path (VERP), for proven bounces
    assert first.mail_from.startswith("hub+b") and first.mail_from.endswith("@northwind.example")
    assert verify_return_path("k1", first.mail_from) is not None
    assert first.rcpt_tos == ["user0@northwind.example"]
    assert first.message()["Message-ID"].strip() == sent[0].provider_id


def test_smtp_fan_out_from_many_threads_keeps_connections_bounded(settings, sink):
    transport = SmtpTransport(sink.url, timeout=5, max_connections=3)
    mails = [render(settings, to=f"u{n}@northwind.example", key=str(n)) for n in range(120)]
    errors = []

    def worker(chunk):
        for mail in chunk:
            try:
                transport.send(mail)
            except Exception as exc:  # noqa: BLE001 - collected and asserted below
                errors.append(exc)

    threads = [threading.Thread(target=worker, args=(mails[i::12],)) for i in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    transport.close()
    assert not errors and len(sink.messages) == 120
    assert len({m.peer for m in sink.messages}) <= 3 and transport.connections_opened <= 3


def test_smtp_auth(settings):
    with SmtpSink(credentials=("hub", "p@ss word")) as sink:
        good = SmtpTransport(sink.url.replace("p@ss word", "p%40ss%20word"), timeout=5)
        good.send(render(settings))
        good.close()
        assert len(sink.messages) == 1
        wrong = SmtpTransport(f"smtp://hub:nope@{sink.host}:{sink.port}", timeout=5)
        with pytest.raises(PermanentError, match="535"):
            wrong.send(render(settings))
        anonymous = SmtpTransport(f"smtp://{sink.host}:{sink.port}", timeout=5)
        with pytest.raises(PermanentError, match="530"):
            anonymous.send(render(settings))
        anonymous.close()


def test_smtp_rejections_map_to_permanent_or_transient(settings, sink):
    sink.reject["gone@northwind.example"] = "550 5.1.1 no such user"
    sink.reject["busy@northwind.example"] = "451 4.3.0 try again later"
    transport = SmtpTransport(sink.url, timeout=5)
    with pytest.raises(PermanentError, match="550 5.1.1 no such user"):
        transport.send(render(settings, to="gone@northwind.example"))
    with pytest.raises(TransientError, match="451"):
        transport.send(render(settings, to="busy@northwind.example"))
    transport.send(render(settings))
    transport.close()
    assert transport.connections_opened == 1 and len(sink.messages) == 1


def test_smtp_sink_down_is_transient_and_delivery_resumes(settings, sink, monkeypatch):
    transport = SmtpTransport(sink.url, timeout=5)
    transport.send(render(settings, key="a"))
    sink.stop()
    with pytest.raises(TransientError, match="unreachable|SMTP"):
        transport.send(render(settings, key="b"))
    sink.start()
    monkeypatch.setattr(transports, "IDLE_CHECK_AFTER", 0.0)  # pooled connections get a NOOP
    transport.send(render(settings, key="b"))
    transport.close()
    assert len(sink.messages) == 2


def test_smtp_url_is_checked():
    with pytest.raises(SettingsError):
        SmtpTransport("http://mail.example.com")
    assert SmtpTransport("smtps://u:p@mail.example.com").port == 465
    assert SmtpTransport("smtp+starttls://mail.example.com").port == 587


# -- the local sink and the factory -----------------------------------------------------------
def test_sink_transport_writes_eml_and_index(settings):
    transport = make_mail_transport(settings)
    assert isinstance(transport, SinkTransport)
    first = transport.send(render(settings, key="a"))
    transport.send(render(settings, key="b"))
    folder = settings.data_dir / "sinks" / "email"
    assert (folder / first.provider_id).is_file()
    assert not list(folder.glob(".*.tmp"))
    index = transport.messages()
    assert [entry["file"] for entry in index][0] == first.provider_id and len(index) == 2
    eml = BytesParser(policy=policy.default).parsebytes((folder / first.provider_id).read_bytes())
    assert eml["Message-ID"].strip() == index[0]["message_id"]


def test_sink_makes_its_folder_again_when_it_is_removed_and_says_when_it_cannot(settings):
    import shutil

    from hub.channels.base import TransientError

    transport = make_mail_transport(settings)
    folder = settings.data_dir / "sinks" / "email"
    transport.send(render(settings, key="a"))
    shutil.rmtree(folder)  # someone cleared the sink while the hub runs
    again = transport.send(render(settings, key="b"))
    assert (folder / again.provider_id).is_file() and len(transport.messages()) == 1
    shutil.rmtree(folder.parent)
    folder.parent.write_text("a file where the folder was")  # cannot be made: retryable
    with pytest.raises(TransientError, match="not writable"):
        transport.send(render(settings, key="c"))


def test_factory_picks_the_configured_transport(tmp_path):
    smtp = load_settings(
        env={}, overrides={"HUB_MAIL_TRANSPORT": "smtp", "HUB_SMTP_URL": "smtp://127.0.0.1:2526"}
    )
    assert isinstance(make_mail_transport(smtp), SmtpTransport)
    with pytest.raises(SettingsError, match="HUB_SMTP_URL"):
        make_mail_transport(load_settings(env={}, overrides={"HUB_MAIL_TRANSPORT": "smtp"}))


def test_why_major_reads_as_one_sentence(settings):
    ctx = context()
    ctx["incident"] = dict(ctx["incident"], reasons=["Critical service down.", "Many users hit"])
    text = render_email(
        "incident-declared", ctx, to="ben@northwind.example", settings=settings,
        thread=ThreadInfo("INC-42", "k"),
    )["text"]  # fmt: skip
    assert "Why major:  Critical service down; Many users hit.\n" in text
