"""The intake mailbox over Microsoft Graph: a delta query on the inbox, raw MIME from `$value`.

The cursor is the next page's link while a round is under way, then the round's deltaLink;
each page is stored together with its link in one transaction. A message that only changed
(read, moved back) comes round again in the delta: when its internetMessageId is already
stored it is not fetched again.
"""

from __future__ import annotations

import logging
from urllib.parse import quote

import requests
from sqlalchemy import select

from hub.app.context import Hub
from hub.app.db import utcnow
from hub.app.models import InboundMessage
from hub.channels.base import PermanentError, TransientError, parse_retry_after
from hub.channels.identity import TimeoutSession
from hub.intake.email.cursor import load_cursor, save_cursor
from hub.intake.email.message import normalise_message_id
from hub.intake.email.store import store_raw

log = logging.getLogger("hub.intake.mailbox")
PAGE_SIZE = 50


class GraphInbox:
    """Delta query on `/users/{mailbox}/mailFolders/inbox/messages/delta` (Mail.Read)."""

    def __init__(
        self, settings, token_source, session: requests.Session | None = None, timeout: float = 30.0
    ):
        self.base = settings.text("HUB_GRAPH_API").rstrip("/")
        self.mailbox = settings.text("HUB_GRAPH_MAILBOX")
        self.tokens = token_source
        self.http = session or TimeoutSession(timeout)
        self.key = f"graph:{self.mailbox.lower()}"[:300]
        self.scopes = ["https://graph.microsoft.com/.default"]
        self.user_url = f"{self.base}/users/{quote(self.mailbox, safe='@')}"

    def _get(self, url: str, **headers) -> requests.Response:
        token = self.tokens.token(self.scopes)
        try:
            response = self.http.get(url, headers={"Authorization": f"Bearer {token}", **headers})
        except requests.RequestException as exc:
            raise TransientError(f"Graph unreachable: {type(exc).__name__}") from None
        if response.status_code == 401:
            self.tokens.invalidate()
        if response.status_code in (401, 408, 429) or response.status_code >= 500:
            raise TransientError(
                f"Graph {response.status_code} for {url}",
                retry_after=parse_retry_after(response.headers.get("Retry-After")),
            )
        return response

    def poll(self, hub: Hub) -> int:
        """Read the delta pages after the cursor; returns how many messages were stored."""
        with hub.db.session(write=False) as session:
            cursor = load_cursor(session, self.key)
            url = (cursor.delta_link if cursor else None) or (
                f"{self.user_url}/mailFolders/inbox/messages/delta?$select=id,internetMessageId"
            )
        stored = 0
        while url:
            response = self._get(url, Prefer=f"odata.maxpagesize={PAGE_SIZE}")
            if response.status_code == 410:  # the delta token expired: start a new round
                log.warning("%s: delta link expired; reading the inbox again", self.key)
                url = (
                    f"{self.user_url}/mailFolders/inbox/messages/delta?$select=id,internetMessageId"
                )
                continue
            if response.status_code != 200:
                raise PermanentError(f"Graph delta {response.status_code}: {response.text[:300]}")
            page = response.json()
            fetched = [(item["id"], self._raw(item["id"])) for item in self._new(hub, page)]
            following = page.get("@odata.nextLink")
            now = utcnow()
            with hub.transaction() as session:
                for graph_id, raw in fetched:
                    if raw is not None:
                        store_raw(
                            session,
                            raw,
                            via="graph",
                            now=now,
                            envelope={"mailbox": self.key, "graph_id": graph_id},
                        )
                        stored += 1
                save_cursor(
                    session, self.key, now, delta_link=following or page.get("@odata.deltaLink")
                )
            url = following
        return stored

    def _new(self, hub: Hub, page: dict) -> list[dict]:
        items = [i for i in page.get("value", []) if "@removed" not in i and i.get("id")]
        keys = {}
        for item in items:
            mid = normalise_message_id(item.get("internetMessageId"))
            if mid:
                keys[f"mid:{mid}"] = item["id"]
        if not keys:
            return items
        with hub.db.session(write=False) as session:
            seen = session.scalars(
                select(InboundMessage.dedupe_key).where(
                    InboundMessage.channel == "email", InboundMessage.dedupe_key.in_(list(keys))
                )
            )
            known = {keys[k] for k in seen}
        return [i for i in items if i["id"] not in known]

    def _raw(self, graph_id: str) -> bytes | None:
        response = self._get(f"{self.user_url}/messages/{quote(graph_id, safe='')}/$value")
        if response.status_code == 404:  # deleted since the delta page
            return None
        if response.status_code != 200:
            raise PermanentError(f"Graph $value {response.status_code}: {response.text[:300]}")
        return response.content
