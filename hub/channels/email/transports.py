"""Email transports: SMTP, Microsoft Graph sendMail, and a local sink; each has `send(payload) -> Sent`.

Errors follow hub.channels.base: TransientError (retry, honouring `retry_after`) or
PermanentError (fail once, with the reason). Build one transport per process
(`make_mail_transport`) and reuse it: SMTP keeps its connections open across sends.

Graph keeps, per HUB_GRAPH_MAIL_FORMAT: `mime` (default) posts the whole RFC 5322 message
(base64, `Content-Type: text/plain`), so Message-ID, In-Reply-To, References, Thread-Index and
Auto-Submitted survive and mail threads; Exchange then saves it to Sent Items. `json` posts a
Graph message with `saveToSentItems: false`, but Graph accepts only up to five custom headers
named `x-…` there, so threading headers and Auto-Submitted are lost (our Message-ID travels
as X-Mihub-Message-Id, so intake still recognises replies by the reply token).
"""

from __future__ import annotations

import base64
import contextlib
import json
import smtplib
import ssl
import threading
import time
import uuid
from email.errors import HeaderParseError
from email.utils import parseaddr
from urllib.parse import quote, unquote, urlsplit

import requests

from hub.app.settings import Settings, SettingsError
from hub.channels.base import PermanentError, Sent, TransientError, parse_retry_after
from hub.channels.email.compose import idna_address
from hub.channels.email.sink import SinkTransport
from hub.channels.email.wire import mime_bytes
from hub.channels.identity import TimeoutSession, get_token_source

SMTP_PORTS = {"smtp": 25, "smtp+starttls": 587, "smtps": 465}
IDLE_CHECK_AFTER = 2.0  # seconds idle after which a pooled connection is checked with NOOP
GRAPH_CONCURRENCY = 4  # Graph allows 4 concurrent requests per mailbox


def _smtp_error(exc: smtplib.SMTPException) -> Exception:
    """4xx and lost connections are transient; 5xx and missing server features are permanent."""
    if isinstance(exc, smtplib.SMTPNotSupportedError):
        return PermanentError(f"SMTP server lacks a needed feature: {exc}")
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _ in exc.recipients.values()]
        detail = "; ".join(
            f"{rcpt}: {code} {_text(msg)}" for rcpt, (code, msg) in exc.recipients.items()
        )
        if codes and all(400 <= c < 500 for c in codes):
            return TransientError(f"SMTP recipient deferred: {detail}")
        return PermanentError(f"SMTP recipient refused: {detail}")
    code = getattr(exc, "smtp_code", None)
    text = f"{code} {_text(getattr(exc, 'smtp_error', b''))}" if code else str(exc)
    if isinstance(code, int) and 500 <= code < 600:
        return PermanentError(f"SMTP server refused the message: {text}")
    return TransientError(f"SMTP {type(exc).__name__}: {text}")


def _text(value) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


class SmtpTransport:
    """SMTP with up to `max_connections` connections kept open and reused; thread-safe."""

    def __init__(self, url: str, *, timeout: float = 30.0, max_connections: int = 4):
        parts = urlsplit(url)
        if parts.scheme not in SMTP_PORTS or not parts.hostname:
            raise SettingsError(
                "HUB_SMTP_URL must look like smtp://host:25, "
                f"smtp+starttls://user:pass@host:587 or smtps://…:465, got {url!r}"
            )
        self.scheme, self.host = parts.scheme, parts.hostname
        self.port = parts.port or SMTP_PORTS[parts.scheme]
        self.user = unquote(parts.username) if parts.username else None
        self._password = unquote(parts.password or "")
        self.timeout = timeout
        self._slots = threading.BoundedSemaphore(max_connections)
        self._idle: list[tuple[smtplib.SMTP, float]] = []  # (connection, last used)
        self._lock = threading.Lock()
        self.connections_opened = 0

    def _connect(self) -> smtplib.SMTP:
        context = ssl.create_default_context()
        if self.scheme == "smtps":
            conn = smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout, context=context)
        else:
            conn = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        try:
            if self.scheme == "smtp+starttls":
                conn.starttls(context=context)
            if self.user:
                conn.login(self.user, self._password)
        except BaseException:
            _quietly_close(conn)
            raise
        with self._lock:
            self.connections_opened += 1
        return conn

    def send(self, payload: dict) -> Sent:
        """Deliver one message over a pooled connection (never resent after a partial send)."""
        # the signed per-message return path (VERP): bounces prove which delivery failed
        sender = smtp_address(payload.get("return_path") or parseaddr(payload["from"])[1])
        # a batch (hub/notifications/batches.py) goes to its addresses in one envelope
        recipients = [smtp_address(a) for a in payload.get("bcc") or [parseaddr(payload["to"])[1]]]
        try:  # the finished bytes before a connection is taken: a bad message fails alone
            data = mime_bytes(payload)
        except (UnicodeError, ValueError, HeaderParseError) as exc:
            raise PermanentError(f"message cannot be encoded: {type(exc).__name__}: {exc}") from exc
        with self._slots:
            conn = None
            try:
                conn = self._checkout() or self._connect()
                refused = conn.sendmail(sender, recipients, data)
            except smtplib.SMTPException as exc:
                self._discard(conn, exc)
                raise _smtp_error(exc) from None
            except OSError as exc:  # refused, reset, timed out, TLS failure
                self._discard(conn, exc)
                raise TransientError(
                    f"SMTP {self.host}:{self.port} unreachable: {type(exc).__name__}: {exc}"
                ) from None
            except BaseException:  # anything else: the connection's state is unknown
                if conn is not None:
                    _quietly_close(conn)
                raise
            with self._lock:
                self._idle.append((conn, time.monotonic()))
        refused = {
            rcpt.lower(): f"{code} {_text(msg)}" for rcpt, (code, msg) in (refused or {}).items()
        }
        return Sent(
            payload["headers"].get("Message-ID", ""),
            f"250 accepted by {self.host}",
            refused=refused or None,
        )

    def _checkout(self) -> smtplib.SMTP | None:
        """An idle connection that still answers, or None."""
        while True:
            with self._lock:
                if not self._idle:
                    return None
                conn, used = self._idle.pop()
            if time.monotonic() - used < IDLE_CHECK_AFTER:
                return conn
            try:  # servers drop idle sessions; check before trusting one with a message
                if conn.noop()[0] == 250:
                    return conn
            except (smtplib.SMTPException, OSError):
                pass
            _quietly_close(conn)

    def _discard(self, conn: smtplib.SMTP | None, exc: Exception) -> None:
        if conn is None:
            return
        # smtplib has already sent RSET after a refused sender, recipient or data; keep those.
        if (
            isinstance(
                exc,
                smtplib.SMTPRecipientsRefused | smtplib.SMTPSenderRefused | smtplib.SMTPDataError,
            )
            and conn.sock is not None
        ):
            with self._lock:
                self._idle.append((conn, 0.0))  # 0.0: check with NOOP before the next use
            return
        _quietly_close(conn)

    def close(self) -> None:
        """QUIT every idle connection."""
        with self._lock:
            idle, self._idle = self._idle, []
        for conn, _ in idle:
            _quietly_close(conn)


def smtp_address(addr: str) -> str:
    """An envelope address smtplib can send: the domain IDNA-encoded; a non-ASCII local part
    needs SMTPUTF8, which we do not rely on, so it is a permanent error."""
    local, at, _domain = addr.rpartition("@")
    if not at:
        raise PermanentError(f"not an email address: {addr!r}")
    if not local.isascii():
        raise PermanentError(f"the address {addr!r} needs SMTPUTF8 (non-ASCII local part)")
    try:
        return idna_address(addr)
    except UnicodeError as exc:
        raise PermanentError(f"the domain of {addr!r} is not a valid name: {exc}") from exc


def _quietly_close(conn: smtplib.SMTP) -> None:
    with contextlib.suppress(smtplib.SMTPException, OSError):
        conn.quit()
    conn.close()


class GraphTransport:
    """Microsoft Graph `POST /users/{mailbox}/sendMail` with an msal client-credentials token."""

    def __init__(
        self,
        settings: Settings,
        token_source,
        session: requests.Session | None = None,
        *,
        timeout: float = 30.0,
    ):
        self.base = settings.text("HUB_GRAPH_API").rstrip("/")
        self.mailbox = settings.text("HUB_GRAPH_MAILBOX")
        self.format = settings.text("HUB_GRAPH_MAIL_FORMAT").lower()
        if self.format not in ("mime", "json"):
            raise SettingsError(f"HUB_GRAPH_MAIL_FORMAT must be mime or json, got {self.format!r}")
        host = urlsplit(self.base).hostname or ""
        # The token's audience follows the Graph host (national clouds); local fakes get the public one.
        scope_host = host if urlsplit(self.base).scheme == "https" else "graph.microsoft.com"
        self.scopes = [f"https://{scope_host}/.default"]
        self.tokens = token_source
        self.session = session or TimeoutSession(timeout)
        self.timeout = timeout
        self._slots = threading.BoundedSemaphore(GRAPH_CONCURRENCY)

    def send(self, payload: dict) -> Sent:
        """Post one message; 202 means Exchange accepted it."""
        token = self.tokens.token(self.scopes)
        url = f"{self.base}/users/{quote(self.mailbox, safe='@')}/sendMail"
        headers = {"Authorization": f"Bearer {token}", "client-request-id": str(uuid.uuid4())}
        if self.format == "mime":
            headers["Content-Type"] = "text/plain"
            try:
                data = base64.b64encode(mime_bytes(payload, bcc=True))
            except (UnicodeError, ValueError, HeaderParseError) as exc:
                raise PermanentError(
                    f"message cannot be encoded: {type(exc).__name__}: {exc}"
                ) from exc
        else:
            headers["Content-Type"] = "application/json"
            data = json.dumps(graph_message(payload)).encode()
        try:
            with self._slots:
                response = self.session.post(url, data=data, headers=headers, timeout=self.timeout)
        except requests.RequestException as exc:
            raise TransientError(f"Graph sendMail unreachable: {type(exc).__name__}") from None
        status = response.status_code
        if status in (200, 202):
            request_id = response.headers.get("request-id") or payload["headers"]["Message-ID"]
            return Sent(request_id, f"{status} Accepted")
        detail = f"Graph sendMail {status}: {_graph_error(response)}"
        retry_after = parse_retry_after(response.headers.get("Retry-After"))
        if status == 401:
            self.tokens.invalidate()  # the next attempt asks for a fresh token
            raise TransientError(detail, retry_after=retry_after)
        if status in (408, 429) or status >= 500:
            raise TransientError(detail, retry_after=retry_after)
        raise PermanentError(detail)

    def close(self) -> None:
        self.session.close()


def graph_message(payload: dict) -> dict:
    """The JSON form of a payload for sendMail: HTML body, reply-to, at most five x- headers."""
    headers = payload["headers"]
    custom = {name: value for name, value in headers.items() if name.lower().startswith("x-")}
    custom["X-Mihub-Message-Id"] = headers["Message-ID"]
    order = ["X-Mihub-Loop", "X-Mihub-Message-Id", "X-Mihub-Incident", "X-Auto-Response-Suppress"]
    names = [n for n in order if n in custom] + [n for n in custom if n not in order]
    name, address = parseaddr(payload["to"])
    message = {
        "subject": payload["subject"],
        "body": {"contentType": "HTML", "content": payload["html"]},
        "toRecipients": [
            {"emailAddress": {"address": address, **({"name": name} if name else {})}}
        ],
        "internetMessageHeaders": [{"name": n, "value": custom[n]} for n in names[:5]],
    }
    if payload.get("bcc"):
        message["bccRecipients"] = [{"emailAddress": {"address": a}} for a in payload["bcc"]]
    if headers.get("Reply-To"):
        message["replyTo"] = [{"emailAddress": {"address": headers["Reply-To"]}}]
    return {"message": message, "saveToSentItems": False}


def _graph_error(response: requests.Response) -> str:
    try:
        error = response.json().get("error") or {}
        return f"{error.get('code', '')}: {error.get('message', '')}".strip(": ")
    except (ValueError, AttributeError):
        return response.text[:300] or response.reason or ""


def make_mail_transport(settings: Settings):
    """The transport HUB_MAIL_TRANSPORT names; keep one per process."""
    kind = settings.text("HUB_MAIL_TRANSPORT").lower()
    if kind == "smtp":
        if not settings["HUB_SMTP_URL"]:
            raise SettingsError("HUB_MAIL_TRANSPORT=smtp needs HUB_SMTP_URL")
        return SmtpTransport(
            settings["HUB_SMTP_URL"], max_connections=settings.int("HUB_SMTP_CONNECTIONS")
        )
    if kind == "graph":
        return GraphTransport(settings, get_token_source(settings))
    if kind == "sink":
        return SinkTransport(settings.data_dir)
    raise SettingsError(f"HUB_MAIL_TRANSPORT must be smtp, graph or sink, got {kind!r}")
