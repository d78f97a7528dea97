"""Quarantine release always releases (no usable From: the releaser's report), quoted history
kept out of the description, and duplicates found by meaning, not by bytes."""

from __future__ import annotations

from hub.intake.email import quarantine as q
from tests.email_corpus import DOMAIN, INTAKE, crlf
from tests.email_kit import feed, incident, later

OUTLOOK_REPLY = """From: Pat Outsider <pat@partner.example>
To: {intake}
Subject: RE: Invoices not arriving
Message-ID: <reply-1@partner.example>

The invoice portal is down for all of our users since 08:00.

________________________________
From: Accounts <accounts@{domain}>
Sent: Monday, March 2, 2026 10:00 AM
To: Pat Outsider <pat@partner.example>
Subject: Invoices not arriving

Old history line one.
Old history line two.
"""


def _number(result) -> int:
    return int(result.incident.removeprefix("INC-"))


def test_release_of_mail_without_a_usable_from_is_the_releasers_report(mhub):
    for n, sender in enumerate(["root@localhost", "Mail Robot <robot@>", "", "a@x, b@y"]):
        header = f"From: {sender}\n" if sender else ""
        data = crlf(
            f"{header}To: {INTAKE}\nSubject: Disk full on host {n}\n"
            f"Message-ID: <nofrom-{n}@{DOMAIN}>\n\nThe disk of host {n} is full.\n"
        )
        held, _row = feed(mhub, data, later(n))
        assert held.outcome == "quarantined", (sender, _row.decisions)
        assert _row.decisions[-1]["reason"] == "no single valid From address"
        if n == 3:
            dropped = q.discard(mhub, held.id, actor="anna", now=later(5))
            assert dropped.status == "discarded"
            continue
        released = q.release(mhub, held.id, actor="anna", now=later(5 + n))
        assert released.outcome == "created", released
        made = incident(mhub, _number(released))
        assert made.title == f"Disk full on host {n}"
        assert [r.reporter for r in made.reports] == ["anna"]
        with mhub.db.session(write=False) as session:
            steps = q.get_message(session, held.id).decisions
        assert {"step": "quarantine", "decision": "released", "reason": "released by anna"} in steps
        assert any(d["decision"] == "attributed" for d in steps)


def test_released_reply_keeps_the_quoted_history_apart(mhub):
    data = crlf(OUTLOOK_REPLY.format(intake=INTAKE, domain=DOMAIN))
    held, _row = feed(mhub, data, later(1))
    assert held.outcome == "quarantined"
    released = q.release(mhub, held.id, actor="anna", now=later(2))
    made = incident(mhub, _number(released))
    assert made.description == "The invoice portal is down for all of our users since 08:00."
    quoted = [e for e in made.timeline if e.kind == "quoted history"]
    assert len(quoted) == 1 and "Old history line two." in quoted[0].text
    assert "Old history" not in made.description


def test_odd_from_headers_are_read(mhub):
    for n, (head, expect) in enumerate(
        [
            (f"From: ben.okafor@{DOMAIN} <ben.okafor@{DOMAIN}>", "created"),
            (f'From: "julia.costa@{DOMAIN}" <julia.costa@{DOMAIN}>', "created"),
        ]
    ):
        data = crlf(f"{head}\nTo: {INTAKE}\nSubject: Oddity {n}\nMessage-ID: <odd-{n}@x>\n\nHi\n")
        assert feed(mhub, data, later(n))[0].outcome == expect
    bom = b"\xef\xbb\xbf" + crlf(
        f"From: Ben <ben.okafor@{DOMAIN}>\nTo: {INTAKE}\nSubject: BOM\n\nLaptop broken.\n"
    )
    result, row = feed(mhub, bom, later(3))
    assert result.outcome == "created" and row.sender == f"ben.okafor@{DOMAIN}"


def test_the_same_message_without_message_id_by_http_and_smtp_is_one(mhub):
    written = (
        f"From: Ben Okafor <ben.okafor@{DOMAIN}>\nTo: {INTAKE}\n"
        "Subject: Scanner on floor 3 jams\n\nIt jams on every page.   \n\n"
    )
    by_http = written.encode()  # LF, as a gateway posts it
    by_smtp = (
        (
            "Return-Path: <ben.okafor@northwind.example>\n"
            "Received: from mail.northwind.example by mx.northwind.example; Tue, 3 Mar 2026\n"
            + written.replace(
                "Subject: Scanner on floor 3 jams", "Subject: Scanner on floor 3\n jams"
            )
        )
        .replace("\n", "\r\n")
        .encode()
    )  # CRLF, transport headers, a folded Subject
    first, _ = feed(mhub, by_http, later(1))
    second, row = feed(mhub, by_smtp, later(2))
    assert first.outcome == "created"
    assert second.outcome == "duplicate", row.decisions
    assert "content hash" in row.decisions[-1]["reason"]
    different, _ = feed(mhub, by_http.replace(b"every page", b"every other page"), later(3))
    assert different.outcome != "duplicate"
