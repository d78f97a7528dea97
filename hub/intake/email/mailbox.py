"""Mailbox polling (`mihub mailbox`): IMAP by UID and Microsoft Graph delta, cursor in the database.

Each batch of messages is stored together with the advanced cursor in one transaction, so a
crash at any point re-reads at most the batch that was not committed, and never skips one.
IMAP: the cursor is (UIDVALIDITY, last UID); the folder is opened read-only and read with
BODY.PEEK[], so the mailbox is not changed. If UIDVALIDITY changes, UIDs mean nothing any
more and the folder is read again (deduplication by Message-ID keeps that harmless).
"""

from __future__ import annotations

import contextlib
import logging
import ssl
import threading
from urllib.parse import unquote, urlsplit

from hub.app.context import Hub
from hub.app.db import utcnow
from hub.app.settings import SettingsError
from hub.channels.identity import get_token_source
from hub.intake.email.cursor import load_cursor, save_cursor
from hub.intake.email.graph_inbox import GraphInbox
from hub.intake.email.store import store_raw

log = logging.getLogger("hub.intake.mailbox")
IMAP_PORTS = {"imaps": 993, "imap": 143, "imap+plain": 143}
LOOPBACK = ("127.0.0.1", "localhost", "::1")
BATCH = 50


class ImapSource:
    """One IMAP folder from HUB_IMAP_URL."""

    def __init__(self, url: str, *, timeout: float = 30.0):
        parts = urlsplit(url)
        if parts.scheme not in IMAP_PORTS or not parts.hostname or not parts.username:
            raise SettingsError("HUB_IMAP_URL must look like imaps://user:pass@host:993/INBOX")
        if parts.scheme == "imap+plain" and parts.hostname not in LOOPBACK:
            raise SettingsError("imap+plain:// (no TLS) is only for a test server on 127.0.0.1")
        self.scheme, self.host = parts.scheme, parts.hostname
        self.port = parts.port or IMAP_PORTS[parts.scheme]
        self.user, self._password = unquote(parts.username), unquote(parts.password or "")
        self.folder = unquote(parts.path.lstrip("/")) or "INBOX"
        self.timeout = timeout
        self.key = f"imap:{self.user}@{self.host}/{self.folder}"[:300]

    def connect(self):
        """A logged-in IMAPClient (the caller logs out)."""
        from imapclient import IMAPClient

        context = ssl.create_default_context()
        client = IMAPClient(
            self.host,
            self.port,
            ssl=self.scheme == "imaps",
            ssl_context=context,
            timeout=self.timeout,
        )
        if self.scheme == "imap":
            client.starttls(context)
        try:
            client.login(self.user, self._password)
        except Exception:
            client.shutdown()  # a refused login must not leak the socket
            raise
        return client

    def poll(self, hub: Hub) -> int:
        """Store every message after the cursor; returns how many were stored."""
        client = self.connect()
        try:
            validity = int(client.select_folder(self.folder, readonly=True)[b"UIDVALIDITY"])
            with hub.db.session(write=False) as session:
                cursor = load_cursor(session, self.key)
                known, last = (cursor.uidvalidity, cursor.last_uid) if cursor else (None, 0)
            if known is not None and known != validity:
                log.warning(
                    "%s: UIDVALIDITY changed (%s → %s); reading the folder again",
                    self.key,
                    known,
                    validity,
                )
                last = 0
            uids = sorted(u for u in client.search(["UID", f"{last + 1}:*"]) if u > last)
            stored = 0
            for start in range(0, len(uids), BATCH):
                chunk = uids[start : start + BATCH]
                data = client.fetch(chunk, ["BODY.PEEK[]"])
                now = utcnow()
                with hub.transaction() as session:
                    for uid in chunk:
                        raw = data.get(uid, {}).get(b"BODY[]")
                        if raw is not None:  # None: expunged since the search
                            store_raw(
                                session,
                                bytes(raw),
                                via="imap",
                                now=now,
                                envelope={"mailbox": self.key, "uid": uid},
                            )
                            stored += 1
                    save_cursor(session, self.key, now, uidvalidity=validity, last_uid=chunk[-1])
            if known is None and not uids:
                with hub.transaction() as session:
                    save_cursor(session, self.key, utcnow(), uidvalidity=validity, last_uid=0)
            return stored
        finally:
            with contextlib.suppress(Exception):  # the server may have gone; nothing to keep
                client.logout()


def make_source(hub: Hub):
    """The source HUB_MAILBOX_SOURCE names (default: IMAP if HUB_IMAP_URL is set, else Graph)."""
    settings = hub.settings
    kind = settings.mailbox_source
    if kind == "imap":
        if not settings["HUB_IMAP_URL"]:
            raise SettingsError("HUB_MAILBOX_SOURCE=imap needs HUB_IMAP_URL")
        return ImapSource(settings["HUB_IMAP_URL"])
    if kind == "graph":
        if not settings["HUB_GRAPH_MAILBOX"]:
            raise SettingsError("mailbox polling over Graph needs HUB_GRAPH_MAILBOX")
        return GraphInbox(settings, get_token_source(settings))
    raise SettingsError(f"HUB_MAILBOX_SOURCE must be imap or graph, got {kind!r}")


def run_mailbox(hub: Hub, *, once: bool = False, stop: threading.Event | None = None) -> int:
    """Poll until stopped (or once); errors are logged and the next poll tries again."""
    source = make_source(hub)
    every = hub.settings.float("HUB_MAILBOX_POLL_SECONDS")
    stop = stop or threading.Event()
    total = 0
    log.info("polling %s every %.0f s", source.key, every)
    while True:
        try:
            count = source.poll(hub)
            total += count
            if count:
                log.info("%s: stored %d message(s)", source.key, count)
        except Exception as exc:
            if once:
                raise
            log.error("%s: poll failed: %s: %s", source.key, type(exc).__name__, exc)
        if once or stop.wait(every):
            return total
