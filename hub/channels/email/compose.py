"""One email for one recipient: templates rendered into a JSON-serialisable outbox payload, then MIME.

`render_email` and `hub.channels.email.wire.mime_bytes` run at delivery, in the worker (the row holds a render spec until
then, see hub/notifications/notify.py). Templates live in `templates/email/<name>/` as `subject.txt`,
`body.txt` and `body.html`; files starting with `_` are shared layout. Every email of an
incident has the same subject (`[INC-42] <title>`, see the templates) and threads under one
root Message-ID (see `hub.channels.email.ids`).
"""

from __future__ import annotations

import binascii
import contextlib
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from email.charset import QP, Charset
from email.header import Header
from email.utils import format_datetime, formataddr, make_msgid, parseaddr
from functools import lru_cache

import jinja2

from hub.app.settings import Settings
from hub.app.templates import TEMPLATES
from hub.app.text import nl2br, safe_url
from hub.channels.base import PermanentError
from hub.channels.email.ids import (
    incident_number,
    loop_token,
    make_reply_token,
    message_id,
    reply_address,
    return_path,
    root_message_id,
    thread_index,
)
from hub.policy.templates import STANDARD, Kind, environment_for, register_kind, sample_context

EMAIL_TEMPLATES = TEMPLATES / "email"
REPLY_MARKER = "## Reply above this line to add to {incident} ##"
REPLY_MARKER_RE = re.compile(
    r"^[>\s]*##\s*Reply above this line to add to INC-(\d+)\s*##", re.MULTILINE | re.IGNORECASE
)
LOOP_HEADER = "X-Mihub-Loop"
AUTO_HEADERS = {"Auto-Submitted": "auto-generated", "X-Auto-Response-Suppress": "OOF, AutoReply"}
MAX_SUBJECT = 200


@dataclass(frozen=True)
class ThreadInfo:
    """Where a message belongs: its incident (42 or "INC-42") and its outbox idempotency key."""

    incident_id: int | str
    key: str


def reply_marker(incident_id: int | str) -> str:
    """The visible first line of every body: `## Reply above this line to add to INC-42 ##`."""
    return REPLY_MARKER.format(incident=f"INC-{incident_number(incident_id)}")


@lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    """The one Jinja environment for email: autoescape for .html only, undefined is an error.
    Its templates are the package's, which change only with it: a template is not checked
    for changes on its disk at every use (a policy's own templates, in environments of
    their own, still are)."""
    env = make_environment(jinja2.FileSystemLoader(str(EMAIL_TEMPLATES)))
    env.auto_reload = False
    return env


def make_environment(loader: jinja2.BaseLoader, cls=jinja2.Environment) -> jinja2.Environment:
    """An email environment over `loader` (the policy's overrides: a sandboxed `cls`)."""
    env = cls(
        loader=loader,
        autoescape=jinja2.select_autoescape(
            enabled_extensions=("html",), default=False, default_for_string=False
        ),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["nl2br"] = lambda value: nl2br(value, "<br>\n")  # short lines in the HTML part
    env.filters["safe_url"] = safe_url
    return env


register_kind(
    Kind(
        "email",
        EMAIL_TEMPLATES,
        make_environment,
        (*STANDARD, "reply_marker", "reply_to", "unsubscribe_url"),
        lambda: sample_context(reply_marker=reply_marker(42), reply_to="incidents@example.com"),
    )
)


@lru_cache(maxsize=1)
def _service_env() -> jinja2.Environment:
    """templates/web/mail/: the hub's own service mail (sign-in links, subscription confirms)."""
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES / "web" / "mail")),
        auto_reload=False,  # the package's templates
        autoescape=jinja2.select_autoescape(enabled_extensions=("html",), default=False),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def service_mail(settings: Settings, template: str, values: dict, to: str, kind: str) -> dict:
    """The outbox payload of one service mail from templates/web/mail/<template>/ (the shape
    the mail transports send): automatic-mail headers, the loop token, a Message-ID of `kind`."""
    sender = settings.text("HUB_MAIL_FROM")
    domain = address_of(sender, "HUB_MAIL_FROM").rpartition("@")[2]
    subject, text, html = (
        _service_env().get_template(f"{template}/{part}").render(values)
        for part in ("subject.txt", "body.txt", "body.html")
    )
    headers = {
        "Message-ID": make_msgid(kind, domain=domain),
        **AUTO_HEADERS,
        LOOP_HEADER: loop_token(settings.secret_key),
        "X-Mihub-Template": template,
    }
    return {
        "to": to,
        "from": sender,
        "subject": " ".join(subject.split()),
        "text": text,
        "html": html,
        "headers": headers,
    }


def template_names() -> list[str]:
    """Every email template (a folder with subject.txt), sorted."""
    return sorted(
        p.name
        for p in EMAIL_TEMPLATES.iterdir()
        if p.is_dir() and not p.name.startswith("_") and (p / "subject.txt").exists()
    )


def one_line(text: str, limit: int = MAX_SUBJECT) -> str:
    """Whitespace (newlines too) collapsed, control characters dropped, at most `limit` chars."""
    text = " ".join("".join(ch if ch.isprintable() else " " for ch in text).split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


@lru_cache(maxsize=4096)  # the same few addresses (ours, the intake's) in every message
def address_of(value: str, what: str = "address") -> str:
    """The bare `user@domain` of an address (with or without a display name); checked."""
    if "\r" in value or "\n" in value:
        raise PermanentError(f"{what} contains a line break: {value!r}")
    addr = parseaddr(value)[1]
    if addr.count("@") != 1 or " " in addr or not addr.rpartition("@")[2]:
        raise PermanentError(f"{what} is not an email address: {value!r}")
    return addr


def render_email(
    template: str, context: dict, *, to: str, settings: Settings, thread: ThreadInfo
) -> dict:
    """The outbox payload for one recipient: to, from, subject, text, html, headers."""
    secret = settings.secret_key
    sender = settings.text("HUB_MAIL_FROM")
    from_addr = address_of(sender, "HUB_MAIL_FROM")
    to_addr = address_of(to, "recipient")
    domain = from_addr.rpartition("@")[2].lower()
    number = incident_number(thread.incident_id)
    intake = address_of(context.get("intake_address") or from_addr, "intake address")
    reply_to = reply_address(intake, make_reply_token(secret, number, to_addr))
    marker = reply_marker(number)
    values = {**context, "reply_marker": marker, "reply_to": reply_to}
    try:
        env = environment_for(settings, "email", template) or environment()
        subject = env.get_template(f"{template}/subject.txt").render(values)
        text = env.get_template(f"{template}/body.txt").render(values).lstrip()
        html = env.get_template(f"{template}/body.html").render(values)
    except jinja2.TemplateError as exc:
        raise PermanentError(f"email template {template!r}: {type(exc).__name__}: {exc}") from exc
    if not text.startswith(marker) or marker not in html:
        raise PermanentError(f"email template {template!r} must start with {{{{ reply_marker }}}}")
    subject = one_line(subject)
    if f"[INC-{number}]" not in subject:
        subject = one_line(f"[INC-{number}] {subject}")
    root = root_message_id(secret, number, domain)
    headers = {
        "Message-ID": message_id(secret, number, thread.key, domain),
        "In-Reply-To": root,
        "References": root,
        "Reply-To": reply_to,
        "Thread-Topic": subject,
        "Thread-Index": thread_index(secret, number, thread.key),
        **AUTO_HEADERS,
        LOOP_HEADER: loop_token(secret),
        "X-Mihub-Incident": f"INC-{number}",
        "X-Mihub-Template": template,
    }
    return {
        "to": to,
        "from": sender,
        "return_path": return_path(secret, from_addr, number, thread.key),
        "subject": subject,
        "text": text,
        "html": html,
        "headers": headers,
    }


def render_batch_email(
    template: str, context: dict, *, bcc: list[str], settings: Settings, thread: ThreadInfo
) -> dict:
    """One message for many recipients (`bcc`), To the hub's own sender address.

    Its Reply-To is the intake address without a reply token (a token speaks for one
    recipient); a reply is then trusted as any mail from its sender is."""
    sender = settings.text("HUB_MAIL_FROM")
    out = render_email(template, context, to=sender, settings=settings, thread=thread)
    intake = address_of(context.get("intake_address") or sender, "intake address")
    out["headers"] = {**out["headers"], "Reply-To": intake}
    out["bcc"] = [address_of(a, "recipient") for a in bcc]
    return out


_QP = Charset("utf-8")
_QP.body_encoding = QP  # readable bodies in every client's "show original"
_QP.header_encoding = QP


def _one_line(value) -> str:
    """No line breaks of any kind (no header injection) and no other control characters."""
    text = " ".join(str(value).splitlines())
    if text.isprintable():  # nearly always: no need to look at each character
        return text
    return "".join(ch if ch == "\t" or ch.isprintable() else " " for ch in text)


def _header(value) -> str | Header:
    """A header value on one line, RFC 2047-encoded only if it is not ASCII."""
    text = _one_line(value)
    return text if text.isascii() else Header(text, _QP, maxlinelen=998)


def idna_address(addr: str) -> str:
    """`local@domain` with an internationalised domain in IDNA (UnicodeError if it is invalid)."""
    local, at, domain = addr.rpartition("@")
    if not at or domain.isascii():
        return addr
    return f"{local}@{domain.encode('idna').decode('ascii')}"


def _address(value: str) -> str:
    """`Name <addr>`: a non-ASCII display name encoded, an internationalised domain in IDNA."""
    name, addr = parseaddr(_one_line(value))
    with contextlib.suppress(UnicodeError):
        addr = idna_address(addr)
    return formataddr((name, addr), charset=_QP)


def quoted_printable(body: str) -> str:
    """The body in UTF-8 quoted-printable (lines of at most 76 characters), by binascii's C
    encoder: the email package's own (`Charset.body_encode`) is pure Python, a tenth as fast,
    and was a sixth of a worker's CPU time per message."""
    return binascii.b2a_qp(body.encode("utf-8"), istext=True).decode("ascii")


def _boundary() -> str:
    """A multipart boundary that cannot occur in our parts, so no search for one is needed:
    both parts are quoted-printable, where "=" is always followed by two hex digits or a line
    break, never by "_"."""
    return f"=_mihub_{secrets.token_hex(12)}"


def mime_headers(payload: dict, now: datetime | None = None, bcc: bool = False) -> list:
    """The top-level headers of the message after Content-Type and MIME-Version, in order:
    (name, value) with a value ready for the compat32 policy (str, or a Header if not ASCII)."""
    headers = [
        ("From", _address(payload["from"])),
        ("To", _address(payload["to"])),
        ("Subject", _header(payload["subject"])),
        ("Date", format_datetime(now or datetime.now(UTC))),
    ]
    headers += [(name, _header(value)) for name, value in payload["headers"].items()]
    if bcc and payload.get("bcc"):
        headers.append(("Bcc", ", ".join(_address(a) for a in payload["bcc"])))
    return headers
