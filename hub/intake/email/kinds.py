"""What kind of mail this is before anyone reads it: our own (a loop), or automatic mail.

One classifier (`classify`) names every kind of mail no person wrote, with the reason it was
recognised: bounces (RFC 3464 DSNs, `multipart/report` of any report type, `X-Failed-Recipients`,
daemon senders and the phrasings of MTAs that send no DSN), delivery reports (delayed, relayed),
read receipts (RFC 8098 MDNs), feedback loops (RFC 5965 ARF), auto-replies (RFC 3834
`Auto-Submitted`, Exchange, Apple and other vendors' headers, localised subjects) and bulk or list
mail. None of them opens an incident, acknowledges anyone or is answered. What a bounce reports
(recipients, status, the message it is about) is read in dsn.py.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from email.message import EmailMessage

from hub.channels.email.compose import LOOP_HEADER
from hub.channels.email.ids import loop_token, verify_message_id
from hub.intake.email.charsets import header_text
from hub.intake.email.message import normalise_message_id, raw_value, raw_values, sender_of

AUTOMATIC_PRECEDENCE = ("bulk", "junk", "list", "auto_reply")
# local parts of the robots that return mail: these only ever send bounces…
DAEMON = re.compile(
    r"^(mailer[-_.]?daemon|mail[-_.]?delivery[-_.]?(system|subsystem|service)|ndr|imss"
    r"|e500_smtp_mail_service|mdaemon|returned[-_.]?mail|smtp[-_.]?(gateway|error))(?![a-z])",
    re.IGNORECASE,
)
# …these send bounces among other things (a person may write from postmaster@)
ROBOT = re.compile(
    r"^(postmaster|bounces?|mail[-_.]?(administrator|router|system|admin)|nobody|"
    r"system[-_.]?administrator|[\w.-]*antivirus[\w.-]*|[\w.-]*virus[-_]?wall[\w.-]*)(?![a-z])",
    re.IGNORECASE,
)
DAEMON_NAME = re.compile(
    r"mailer[- ]?daemon|mail delivery (system|subsystem|service)|postmaster|"
    r"mail (system|administrator|router)|delivery status notification",
    re.IGNORECASE,
)
BOUNCE_SUBJECT = re.compile(
    r"undeliver|undelivered|returned mail|return(ed)? to sender|delivery (status notification"
    r" \(failure|failure|failed|has failed|notification: delivery has failed|problem)|"
    r"mail delivery (failed|failure|error)|failure notice|non[- ]?deliver|could not be delivered|"
    r"delivery report|mail not delivered|unzustellbar|nicht zustellbar|non remis|"
    r"no se puede entregar|non recapitabile|onbestelbaar|kan inte levereras|error during delivery|"
    r"mail system error|message not delivered|permanent (error|failure)|^bounce|mail error|"
    r"not (yet )?been delivered|delivery (failure|warning)|processing error|failed mail|"
    r"mail failed|rejected mail|nicht zugestellt|не доставлено|"
    r"delayed mail|message delayed|delivery (status notification \()?(mail )?delay",
    re.IGNORECASE,
)
# what MTAs write in the text of a bounce that is not a DSN
BOUNCE_TEXT = re.compile(
    r"(could not be delivered|undeliverable|delivery (to the following )?(recipient|address)"
    r"[^\n]{0,40}failed|permanent(ly)? (error|fatal|failure)|user unknown|unknown user|"
    r"no such (user|mailbox|recipient)|mailbox (unavailable|not found|is full|full)|"
    r"recipient address rejected|message was not delivered|returned to sender|"
    r"was not delivered|delivery has failed|couldn't be delivered|could not deliver|"
    r"unable to deliver|delivery failed|following (address|recipient)\(?e?s?\)? failed|"
    r"this is the (mail system|qmail-send program|postfix program)|hi\. this is the|"
    r"cannot be delivered|can not be delivered|has not yet been delivered|n'a pas pu|"
    r"failed addresses|intended recipient|has been returned|been postponed|"
    r"created automatically by mail delivery software|не может быть доставлено|"
    r"邮件无法|無法傳送|"
    r"i'm afraid i wasn't able to deliver|the following message to <|message delivery failed|"
    r"retry time(out)? exceeded|host unknown|delivery of your message|"
    r"the original message was received at|deferred|has been delayed|delay(ed)? (warning|notice))",
    re.IGNORECASE,
)
AUTO_SUBJECT = re.compile(
    r"^\s*(automatic reply|auto[- ]?reply|autoreply|auto[- ]?response|autoresponse|"
    r"out of (the )?office|ooo\b|abwesenheitsnotiz|automatische antwort|abwesend|"
    r"r[ée]ponse automatique|absence|respuesta autom[áa]tica|fuera de la oficina|"
    r"risposta automatica|fuori sede|automatisch antwoord|afwezig|autosvar|"
    r"automatyczna odpowied[źz]|resposta autom[áa]tica|vacation|on vacation|away from)",
    re.IGNORECASE,
)
_AN_ADDRESS = re.compile(r"[\w.+=-]+@[\w.-]+")
REPORT_KINDS = {
    "delivery-status": "bounce",
    "disposition-notification": "read-receipt",
    "feedback-report": "feedback-report",
}
PART_KINDS = {
    "message/delivery-status": "bounce",
    "message/global-delivery-status": "bounce",
    "message/disposition-notification": "read-receipt",
    "message/feedback-report": "feedback-report",
}


@dataclass(frozen=True)
class Kind:
    """Automatic mail: `name` (bounce, read-receipt, feedback-report, auto-reply, bulk) and why."""

    name: str
    reason: str


def own_mail(msg: EmailMessage, secret: str, our_addresses: set[str]) -> str | None:
    """Why this is mail we sent ourselves (a loop), or None."""
    for name in ("Message-ID", "X-Mihub-Message-Id"):
        mid = normalise_message_id(raw_value(msg, name))
        if mid and verify_message_id(secret, mid):
            return f"{name} is one we signed"
    if (raw_value(msg, LOOP_HEADER) or "").strip() == loop_token(secret):
        return f"our {LOOP_HEADER} header"
    sender = sender_of(msg)
    if sender and _bare(sender) in our_addresses:
        return f"sent from our own address {sender}"
    return None


def _bare(address: str) -> str:
    local, _, domain = address.lower().rpartition("@")
    return f"{local.split('+', 1)[0]}@{domain}"


def classify(msg: EmailMessage, mail_from: str | None, text: str = "") -> Kind | None:
    """The kind of automatic mail this is, with the reason; None for mail a person wrote.

    `mail_from` is the envelope sender ("" for the null sender, None if unknown: HTTP without
    an envelope); `text` is the start of the message's text, for MTA phrasings."""
    return _report(msg) or _bounce(msg, mail_from, text) or _auto_reply(msg) or _bulk(msg)


def _report(msg: EmailMessage) -> Kind | None:
    if msg.get_content_type() == "multipart/report":
        report = (msg.get_param("report-type") or "").lower()
        name = REPORT_KINDS.get(report) or _part_kind(msg) or "bounce"
        return Kind(name, f"multipart/report; report-type={report or '(none)'}")
    part = _part_kind(msg)
    return Kind(part, "a machine-readable report part") if part else None


def _part_kind(msg: EmailMessage) -> str | None:
    for part in msg.walk():
        name = PART_KINDS.get(part.get_content_type())
        if name:
            return name
    return None


def _bounce(msg: EmailMessage, mail_from: str | None, text: str) -> Kind | None:
    if raw_values(msg, "X-Failed-Recipients"):
        return Kind("bounce", "X-Failed-Recipients header")
    from_value = raw_value(msg, "From") or ""
    address = sender_of(msg) or _address_in(from_value)
    local = address.partition("@")[0]
    null = mail_from == "" or (raw_value(msg, "Return-Path") or "").replace(" ", "") == "<>"
    subject = raw_value(msg, "Subject") or ""
    said = BOUNCE_SUBJECT.search(_plain_subject(subject))
    wrote = BOUNCE_TEXT.search(text[:20000])
    if DAEMON.match(local) or DAEMON_NAME.search(from_value) or "<>" in from_value:
        return Kind("bounce", f"daemon sender {(address or from_value)[:80]!r}")
    robot = ROBOT.match(local)
    if robot and (null or said or wrote or _auto_reply(msg)):
        return Kind("bounce", f"robot sender {address[:80]!r}" + _how(null, said or wrote))
    if said and wrote:
        return Kind("bounce", f"an MTA's wording: {said.group(0)!r} and {wrote.group(0)[:60]!r}")
    if null and (said or wrote):
        return Kind("bounce", "null envelope sender and an MTA's wording")
    if not address and (said or wrote):
        return Kind("bounce", "no sender address and an MTA's wording")
    if null and not _auto_reply(msg):
        return Kind("bounce", "null envelope sender (RFC 5321: notifications only)")
    return None


def _how(null: bool, phrased) -> str:
    if null:
        return ", null envelope sender"
    return f", MTA wording {phrased.group(0)[:60]!r}"


def _address_in(value: str) -> str:
    match = _AN_ADDRESS.search(value)
    return match.group(0).lower() if match else ""


def _auto_reply(msg: EmailMessage) -> Kind | None:
    auto = (raw_value(msg, "Auto-Submitted") or "").split(";")[0].strip().lower()
    if auto and auto != "no":
        return Kind("auto-reply", f"Auto-Submitted: {auto}")
    for name in (
        "X-Autoreply",
        "X-Autorespond",
        "X-Auto-Response-Suppress",
        "X-MS-Exchange-Inbox-Rules-Loop",
        "X-Autogenerated",
        "X-AutoReply-From",
        "X-Mail-Autoreply",
        "X-FC-MachineGenerated",
        "X-Vacation",
    ):
        if raw_value(msg, name) is not None:
            return Kind("auto-reply", f"{name} header")
    apple = (raw_value(msg, "X-Apple-Action") or "").strip()
    if apple:
        return Kind("auto-reply", f"X-Apple-Action: {apple[:40]}")
    precedence = (raw_value(msg, "Precedence") or "").strip().lower()
    if precedence == "auto_reply":
        return Kind("auto-reply", "Precedence: auto_reply")
    subject = raw_value(msg, "Subject") or ""
    decoded = _plain_subject(subject)
    match = AUTO_SUBJECT.match(decoded)
    if match:
        return Kind("auto-reply", f"subject starts {match.group(1)!r}")
    return None


def _plain_subject(subject: str) -> str:
    return header_text(subject) if "=?" in subject else subject


def _bulk(msg: EmailMessage) -> Kind | None:
    precedence = (raw_value(msg, "Precedence") or "").strip().lower()
    if precedence in AUTOMATIC_PRECEDENCE:
        return Kind("bulk", f"Precedence: {precedence}")
    list_id = raw_value(msg, "List-Id")
    if list_id is not None:
        return Kind("bulk", f"mailing list {list_id[:200]}")
    return None
