"""Microsoft Graph calendar events in the organiser's mailbox: the Teams bridge and the review
meeting (application permission Calendars.ReadWrite).

`POST /users/{organiser}/events` with `isOnlineMeeting: true` and `onlineMeetingProvider:
"teamsForBusiness"` makes a Teams meeting that every attendee gets as an Outlook invite; the
answer's `onlineMeeting.joinUrl` is the bridge. A `transactionId` makes a retried create
answer with the event already made. `PATCH …/events/{id}` replaces the attendees.
"""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime
from urllib.parse import quote, urlsplit

import requests

from hub.app.settings import Settings
from hub.channels.base import TransientError, graph_failure
from hub.channels.identity import TimeoutSession, get_token_source


def graph_time(at: datetime) -> dict:
    """A dateTimeTimeZone in UTC."""
    return {"dateTime": at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S"), "timeZone": "UTC"}


def attendees(addresses: list[tuple[str, str]]) -> list[dict]:
    """Required attendees from (name, email) pairs."""
    return [{"emailAddress": {"address": a, "name": n}, "type": "required"} for n, a in addresses]


class GraphCalendar:
    """Create and update events in one organiser's calendar."""

    def __init__(
        self, settings: Settings, token_source=None, session: requests.Session | None = None
    ):
        self.base = settings.text("HUB_GRAPH_API").rstrip("/")
        self.organizer = settings.text("HUB_GRAPH_ORGANIZER")
        scope_host = urlsplit(self.base).hostname if self.base.startswith("https") else None
        self.scopes = [f"https://{scope_host or 'graph.microsoft.com'}/.default"]
        self.tokens = token_source or get_token_source(settings)
        self.session = session or TimeoutSession(15.0)

    def _call(self, method: str, path: str, body: dict) -> dict:
        headers = {
            "Authorization": f"Bearer {self.tokens.token(self.scopes)}",
            "client-request-id": str(uuid.uuid4()),
        }
        url = f"{self.base}/users/{quote(self.organizer, safe='@')}{path}"
        try:
            response = self.session.request(method, url, json=body, headers=headers, timeout=15.0)
        except requests.RequestException as exc:
            raise TransientError(f"Graph events unreachable: {type(exc).__name__}") from None
        if response.status_code in (200, 201):
            return response.json()
        raise graph_failure(response, f"{method} events", self.tokens)

    def create(
        self,
        subject: str,
        html: str,
        start: datetime,
        end: datetime,
        people: list[tuple[str, str]],
        transaction_id: str,
    ) -> dict:
        """A Teams meeting event; the same transaction_id never makes a second one."""
        return self._call("POST", "/events", {
            "subject": subject,
            "body": {"contentType": "HTML", "content": html},
            "start": graph_time(start),
            "end": graph_time(end),
            "attendees": attendees(people),
            "isOnlineMeeting": True,
            "onlineMeetingProvider": "teamsForBusiness",
            "transactionId": transaction_id,
        })  # fmt: skip

    def set_attendees(self, event_id: str, people: list[tuple[str, str]]) -> dict:
        """Replace the event's attendees (new ones get an invite)."""
        return self._call(
            "PATCH", f"/events/{quote(event_id, safe='')}", {"attendees": attendees(people)}
        )


_CLIENTS: dict[tuple, GraphCalendar] = {}
_LOCK = threading.Lock()


def calendar_for(settings: Settings) -> GraphCalendar | None:
    """The process's calendar client; None unless Graph and an organiser are configured."""
    needed = (
        "HUB_GRAPH_ORGANIZER",
        "HUB_GRAPH_TENANT_ID",
        "HUB_GRAPH_CLIENT_ID",
        "HUB_GRAPH_CLIENT_SECRET",
    )
    if not all((settings.text(name) or "").strip() for name in needed):
        return None
    key = tuple(settings.text(name) for name in (*needed, "HUB_GRAPH_API", "HUB_AUTHORITY_HOST"))
    with _LOCK:
        if key not in _CLIENTS:
            _CLIENTS[key] = GraphCalendar(settings)
        return _CLIENTS[key]
