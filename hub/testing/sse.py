"""A Server-Sent Events client for tests and benchmarks, and a console session to use it with."""

from __future__ import annotations

import http.client
import secrets
import socket
import time
from contextlib import suppress
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlsplit

from hub.app.db import utcnow
from hub.app.models import WebSession
from hub.app.security import hash_token


@dataclass
class Event:
    """One event as the stream sent it (`comment` for a `:` line such as the heartbeat)."""

    event: str = "message"
    id: str | None = None
    data: str = ""
    comment: str | None = None
    at: float = 0.0  # time.monotonic() when its blank line arrived


def open_web_session(hub, person: str, *, lifetime: timedelta = timedelta(hours=2)) -> str:
    """A console sign-in for `person` (as a mailed link makes one); returns its token."""
    token = secrets.token_urlsafe(16)
    now = utcnow()
    with hub.db.session() as session:
        session.add(
            WebSession(
                token_hash=hash_token(token),
                person=person,
                method="link",
                created_at=now,
                expires_at=now + lifetime,
                last_seen_at=now,
            )
        )
    return token


def console_cookie(app, token: str, csrf: str = "sse-client") -> str:
    """`name=value` of the console's session cookie for the sign-in `token`."""
    value = app.session_interface.get_signing_serializer(app).dumps({"sid": token, "csrf": csrf})
    return f"{app.config['SESSION_COOKIE_NAME']}={value}"


class EventStream:
    """One open `text/event-stream` response, read event by event."""

    def __init__(
        self,
        url: str,
        *,
        cookie: str | None = None,
        last_event_id: str | None = None,
        timeout: float = 30.0,
    ):
        parts = urlsplit(url)
        self.conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
        headers = {"Accept": "text/event-stream"}
        if cookie:
            headers["Cookie"] = cookie
        if last_event_id is not None:
            headers["Last-Event-ID"] = last_event_id
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        self.conn.request("GET", path, headers=headers)
        self.sock = self.conn.sock  # http.client lets go of it once the response will close
        self.response = self.conn.getresponse()
        self.status = self.response.status
        self.headers = dict(self.response.getheaders())
        self.bytes = 0

    def next(self) -> Event | None:
        """The next event (or comment), None when the stream ended; raises on a read time-out."""
        event, data = Event(), []
        while True:
            raw = self.response.readline()
            if not raw:
                return None
            self.bytes += len(raw)
            line = raw.decode().rstrip("\r\n")
            if line == "":
                if data or event.comment is not None or event.id is not None:
                    event.data, event.at = "\n".join(data), time.monotonic()
                    return event
                continue
            name, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if name == "":
                event.comment = value
            elif name == "event":
                event.event = value
            elif name == "data":
                data.append(value)
            elif name == "id":
                event.id = value

    def until(self, predicate, timeout: float) -> Event:
        """The first event for which `predicate(event)` is true, within `timeout` seconds."""
        deadline = time.monotonic() + timeout
        self.sock.settimeout(timeout)
        while time.monotonic() < deadline:
            event = self.next()
            if event is None:
                raise AssertionError("the stream ended")
            if predicate(event):
                return event
        raise AssertionError(f"no such event within {timeout} s")

    def close(self) -> None:
        """Close the connection (a thread reading it meanwhile sees the stream end)."""
        with suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        self.response.close()
        self.conn.close()
        self.sock.close()
