"""Graph calendar events for the fake Microsoft 365 (mixed into FakeMicrosoft).

`POST /v1.0/users/{id}/events` creates an event in the user's default calendar and answers
201 with the event; with `isOnlineMeeting: true` and `onlineMeetingProvider:
"teamsForBusiness"` it carries `onlineMeeting.joinUrl`. A POST that repeats a `transactionId`
the mailbox has seen answers with the event already made (Graph's documented purpose of
transactionId: no second event when a client retries a create it got no answer to).
`PATCH /v1.0/users/{id}/events/{event-id}` updates it (attendees get invites),
`GET` reads it. Errors in Graph's shape; the bearer token is checked like sendMail's.
"""

from __future__ import annotations

import secrets
import threading

from hub.testing.fakes.base import Request, Response, Route

EVENT_FIELDS = ("subject", "body", "start", "end", "attendees", "isOnlineMeeting",
                "onlineMeetingProvider", "transactionId", "location", "showAs")  # fmt: skip
PATCHABLE = ("subject", "body", "start", "end", "attendees", "location", "showAs")


def _graph_error(status: int, code: str, message: str) -> Response:
    return Response(status, {"error": {"code": code, "message": message}})


class CalendarMixin:
    """Events per mailbox: `fake.events[mailbox][id]`, `fake.event_posts` (every create call)."""

    def setup_calendar(self) -> None:
        self.events: dict[str, dict[str, dict]] = {}
        self.event_posts: list[dict] = []
        self._calendar_lock = threading.Lock()

    def calendar_routes(self) -> list[Route]:
        return [
            ("POST", r"/v1\.0/users/(?P<mailbox>[^/]+)/events", self.create_event),
            ("PATCH", r"/v1\.0/users/(?P<mailbox>[^/]+)/events/(?P<ident>[^/]+)", self.patch_event),
            ("GET", r"/v1\.0/users/(?P<mailbox>[^/]+)/events/(?P<ident>[^/]+)", self.get_event),
        ]

    def _check(self, request: Request) -> Response | None:
        if not self._authorised(request):
            return _graph_error(
                401, "InvalidAuthenticationToken", "Access token is empty or invalid."
            )
        return None

    def create_event(self, request: Request, mailbox: str) -> Response:
        refused = self._check(request)
        if refused:
            return refused
        try:
            body = request.json()
        except ValueError:
            return _graph_error(400, "BadRequest", "Unable to read JSON request payload.")
        if not isinstance(body, dict) or not body.get("subject") or "start" not in body:
            return _graph_error(400, "ErrorInvalidRequest", "subject and start are required.")
        unknown = set(body) - set(EVENT_FIELDS)
        if unknown:
            return _graph_error(400, "RequestBodyRead", f"Unknown properties: {sorted(unknown)}")
        with self._calendar_lock:
            self.event_posts.append({"mailbox": mailbox, "body": body})
            box = self.events.setdefault(mailbox.lower(), {})
            tid = body.get("transactionId")
            same = next((e for e in box.values() if tid and e.get("transactionId") == tid), None)
            if same is not None:
                return Response(201, same)
            ident = "AAMk" + secrets.token_urlsafe(18)
            event = {"id": ident, **body, "organizer": {"emailAddress": {"address": mailbox}}}
            event["attendees"] = [self._attendee(a) for a in body.get("attendees") or ()]
            online = (
                body.get("isOnlineMeeting")
                and body.get("onlineMeetingProvider") == "teamsForBusiness"
            )
            event["onlineMeeting"] = (
                {"joinUrl": f"https://teams.microsoft.com/l/meetup-join/fake-{ident[-10:]}"}
                if online
                else None
            )
            box[ident] = event
        return Response(201, event)

    @staticmethod
    def _attendee(a: dict) -> dict:
        return {**a, "status": {"response": "none", "time": "0001-01-01T00:00:00Z"}}

    def patch_event(self, request: Request, mailbox: str, ident: str) -> Response:
        refused = self._check(request)
        if refused:
            return refused
        body = request.json()
        if "transactionId" in (body or {}):
            return _graph_error(400, "ErrorInvalidRequest", "transactionId cannot be changed.")
        with self._calendar_lock:
            event = self.events.get(mailbox.lower(), {}).get(ident)
            if event is None:
                return _graph_error(
                    404, "ErrorItemNotFound", "The specified object was not found in the store."
                )
            for key in PATCHABLE:
                if key in body:
                    event[key] = (
                        [self._attendee(a) for a in body[key]] if key == "attendees" else body[key]
                    )
        return Response(200, event)

    def get_event(self, request: Request, mailbox: str, ident: str) -> Response:
        refused = self._check(request)
        if refused:
            return refused
        event = self.events.get(mailbox.lower(), {}).get(ident)
        if event is None:
            return _graph_error(
                404, "ErrorItemNotFound", "The specified object was not found in the store."
            )
        return Response(200, event)
