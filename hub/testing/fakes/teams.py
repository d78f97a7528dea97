"""A fake Teams Workflows webhook and Bot Framework connector on 127.0.0.1, for dev and tests.

`POST /webhook/<name>` behaves like a Workflows "When a Teams webhook request is received"
trigger: a non-JSON body is refused with 400, but an envelope the flow cannot post (a bare
card, a MessageCard, a wrong contentType) is answered 202 like the real service and only
recorded as `flow_failed` with the reason. More than 4 requests/s per webhook (a token bucket
of 4, refilled at 4/s) gets 429 with `Retry-After: 1`; a body over 28 KB gets 413.
`POST /v3/conversations/<id>/activities` needs `Authorization: Bearer <token>` and answers
201 `{"id": ...}`; `PUT /v3/conversations/<id>/activities/<activity id>` (updateActivity)
replaces a message posted there before (200 `{"id": ...}`; an id it never gave: 404) and is
recorded as a delivery of kind "update". Bot operations on one conversation are limited like
Teams' per-bot-per-thread limits (7 in 1 s, 8 in 2 s, 60 in 30 s, 1800 in an hour): more get
429 with `Retry-After`. Faults (`fail_next`, `slow`, `stop`/`start`) come from `hub.testing.fakes.base`.

Run alone: `python -m hub.testing.fakes.teams --port 8702`; webhooks are `http://127.0.0.1:8702/webhook/<any name>`.
"""

from __future__ import annotations

import argparse
import itertools
import json
import threading
import time
import uuid
from dataclasses import dataclass, field
from urllib.parse import unquote

from hub.testing.fakes.base import FakeServer, Request, Response

ADAPTIVE = "application/vnd.microsoft.card.adaptive"
MAX_BODY = 28 * 1024
THREAD_LIMITS = ((1.0, 7), (2.0, 8), (30.0, 60), (3600.0, 1800))  # (seconds, operations)


@dataclass
class Delivery:
    """One post as the fake judged it."""

    kind: str  # "webhook" | "bot" | "update" (a bot message replaced in place)
    target: str  # webhook name or conversation id
    at: float  # time.time() at arrival
    status: int
    body: object = None
    flow_failed: bool = False
    reason: str = ""
    headers: dict = field(default_factory=dict)
    activity_id: str = ""  # the bot message's id (given on a post, named by an update)
    run_id: str = ""  # a webhook post's x-ms-workflow-run-id answer (the hub's provider id)

    @property
    def card(self) -> dict | None:
        try:
            return self.body["attachments"][0]["content"]
        except (KeyError, IndexError, TypeError):
            return None


def envelope_problem(body: object) -> str:
    """Why a Workflows flow would fail to post this body ("" if it would post it)."""
    if not isinstance(body, dict):
        return "body is not a JSON object"
    if body.get("type") == "AdaptiveCard":
        return "bare Adaptive Card: the flow expects a message with attachments"
    if body.get("@type") == "MessageCard" or body.get("type") == "MessageCard":
        return "legacy MessageCard is not supported by Workflows"
    if body.get("type") != "message":
        return f"type must be 'message', got {body.get('type')!r}"
    attachments = body.get("attachments")
    if not isinstance(attachments, list) or not attachments:
        return "attachments missing or empty"
    first = attachments[0]
    if not isinstance(first, dict) or first.get("contentType") != ADAPTIVE:
        return f"attachments[0].contentType must be {ADAPTIVE}"
    content = first.get("content")
    if not isinstance(content, dict) or content.get("type") != "AdaptiveCard":
        return "attachments[0].content must be an AdaptiveCard"
    try:
        if float(content.get("version", "0")) > 1.5:
            return f"card version {content.get('version')} is newer than Teams renders (1.5)"
    except (TypeError, ValueError):
        return f"card version {content.get('version')!r} is not a number"
    return ""


class FakeTeams(FakeServer):
    """Workflows webhooks under /webhook/<name>, the bot connector under /v3/conversations/."""

    def __init__(
        self,
        port: int = 0,
        host: str = "127.0.0.1",
        *,
        rate: float = 4.0,
        burst: int = 4,
        bot_token: str | None = None,
        strict: bool = False,
        thread_limits: tuple[tuple[float, int], ...] = THREAD_LIMITS,
    ):
        self.rate, self.burst, self.bot_token, self.strict = rate, burst, bot_token, strict
        self.thread_limits = thread_limits
        self._thread_ops: dict[str, list[float]] = {}  # conversation -> operation times
        self._messages: dict[str, dict[str, object]] = {}  # conversation -> id -> activity
        self._buckets: dict[str, tuple[float, float]] = {}  # name -> (tokens, at)
        self._deliveries: list[Delivery] = []
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        super().__init__(port, host)

    def routes(self):
        return [
            *super().routes(),
            ("POST", r"/webhook/(?P<name>[^/]+)", self._webhook),
            ("POST", r"/v3/conversations/(?P<conversation>[^/]+)/activities", self._activity),
            (
                "PUT",
                r"/v3/conversations/(?P<conversation>[^/]+)/activities/(?P<activity>[^/]+)",
                self._update,
            ),
        ]

    def webhook_url(self, name: str = "oncall") -> str:
        """The URL of one fake Workflows webhook."""
        return f"{self.url}/webhook/{name}"

    @property
    def service_url(self) -> str:
        return self.url

    def deliveries(self, kind: str | None = None, target: str | None = None) -> list[Delivery]:
        """Every post judged so far (including 429/413/400 answers), in arrival order."""
        with self._lock:
            return [
                d
                for d in self._deliveries
                if (kind is None or d.kind == kind) and (target is None or d.target == target)
            ]

    def cards(self, target: str | None = None) -> list[dict]:
        """Cards that Teams would have shown (accepted and the flow did not fail)."""
        return [
            d.card
            for d in self.deliveries(None, target)
            if d.status < 300 and not d.flow_failed and d.card is not None
        ]

    def updates(self, conversation: str | None = None) -> list[Delivery]:
        """Accepted updateActivity calls (a message replaced in place), in arrival order."""
        return [d for d in self.deliveries("update", conversation) if d.status < 300]

    def message(self, conversation: str, activity_id: str) -> dict | None:
        """A bot message as Teams shows it now (after every accepted update)."""
        with self._lock:
            return self._messages.get(conversation, {}).get(activity_id)

    def failed_flows(self) -> list[Delivery]:
        """Posts answered 202 whose flow then failed: invisible to the caller, like the real thing."""
        return [d for d in self.deliveries("webhook") if d.flow_failed]

    def clear(self) -> None:
        """Forget recorded requests, deliveries and rate state."""
        self.recorder.clear()
        with self._lock:
            self._deliveries.clear()
            self._buckets.clear()
            self._thread_ops.clear()
            self._messages.clear()

    def _record(self, delivery: Delivery) -> Delivery:
        with self._lock:
            self._deliveries.append(delivery)
        return delivery

    def _take_token(self, name: str, now: float) -> bool:
        with self._lock:
            tokens, at = self._buckets.get(name, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - at) * self.rate)
            if tokens < 1.0:
                self._buckets[name] = (tokens, now)
                return False
            self._buckets[name] = (tokens - 1.0, now)
            return True

    def _webhook(self, request: Request, name: str) -> Response:
        name = unquote(name)
        now = time.monotonic()
        if not self._take_token(name, now):
            self._record(Delivery("webhook", name, request.at, 429))
            return Response(
                429,
                {"error": {"code": "TooManyRequests", "message": "Rate limit is exceeded."}},
                {"Retry-After": "1"},
            )
        if len(request.body) > MAX_BODY:
            self._record(Delivery("webhook", name, request.at, 413, reason="body over 28 KB"))
            return Response(
                413,
                {
                    "error": {
                        "code": "RequestEntityTooLarge",
                        "message": "The request body is too large.",
                    }
                },
            )
        try:
            body = json.loads(request.body)
        except (ValueError, UnicodeDecodeError):
            self._record(Delivery("webhook", name, request.at, 400, reason="not JSON"))
            return Response(
                400,
                {
                    "error": {
                        "code": "InvalidRequestContent",
                        "message": "The request content is not valid JSON.",
                    }
                },
            )
        problem = envelope_problem(body)
        status = 400 if (problem and self.strict) else 202
        run_id = f"08584{next(self._ids):012d}{uuid.uuid4().hex[:8].upper()}CU00"
        self._record(
            Delivery(
                "webhook",
                name,
                request.at,
                status,
                body,
                bool(problem),
                problem,
                dict(request.headers),
                run_id=run_id,
            )
        )
        headers = {"x-ms-workflow-run-id": run_id, "x-ms-request-id": str(uuid.uuid4())}
        return Response(status, {"error": {"message": problem}} if status == 400 else b"", headers)

    def _thread_wait(self, conversation: str, now: float) -> float:
        """0 if one more operation on the conversation is within the limits (and count it),
        else the seconds until it would be."""
        with self._lock:
            times = self._thread_ops.setdefault(conversation, [])
            longest = max((w for w, _ in self.thread_limits), default=0.0)
            times[:] = [t for t in times if now - t < longest]
            wait = 0.0
            for window, most in self.thread_limits:
                inside = [t for t in times if now - t < window]
                if len(inside) >= most:
                    wait = max(wait, window - (now - inside[-most]))
            if wait == 0.0:
                times.append(now)
            return wait

    def _bot_request(self, request: Request, kind: str, conversation: str):
        """The body of an authorised, well-formed bot call within the limits, else the answer."""
        auth = request.headers.get("authorization", "")
        token = auth[7:] if auth.lower().startswith("bearer ") else ""
        if not token or (self.bot_token is not None and token != self.bot_token):
            self._record(Delivery(kind, conversation, request.at, 401, reason="bad token"))
            return Response(401, {"message": "Authorization has been denied for this request."})
        wait = self._thread_wait(conversation, time.monotonic())
        if wait > 0:
            self._record(Delivery(kind, conversation, request.at, 429, reason="thread limit"))
            return Response(
                429,
                {"error": {"code": "TooManyRequests", "message": "Too many requests."}},
                {"Retry-After": str(max(1, int(wait + 0.999)))},
            )
        try:
            body = json.loads(request.body)
        except (ValueError, UnicodeDecodeError):
            body = None
        problem = (
            "activity has no type" if not isinstance(body, dict) or not body.get("type") else ""
        )
        if not problem and body.get("attachments"):
            problem = envelope_problem(body)
        if problem:
            self._record(Delivery(kind, conversation, request.at, 400, body, reason=problem))
            return Response(400, {"error": {"code": "BadArgument", "message": problem}})
        return body

    def _activity(self, request: Request, conversation: str) -> Response:
        conversation = unquote(conversation)
        body = self._bot_request(request, "bot", conversation)
        if isinstance(body, Response):
            return body
        activity_id = f"1:{next(self._ids)}{uuid.uuid4().hex[:6]}"
        with self._lock:
            self._messages.setdefault(conversation, {})[activity_id] = body
        self._record(Delivery("bot", conversation, request.at, 201, body, activity_id=activity_id))
        return Response(201, {"id": activity_id})

    def _update(self, request: Request, conversation: str, activity: str) -> Response:
        conversation, activity_id = unquote(conversation), unquote(activity)
        body = self._bot_request(request, "update", conversation)
        if isinstance(body, Response):
            return body
        with self._lock:
            known = activity_id in self._messages.get(conversation, {})
            if known:
                self._messages[conversation][activity_id] = body
        status = 200 if known else 404
        self._record(
            Delivery(
                "update",
                conversation,
                request.at,
                status,
                body,
                reason="" if known else "no such activity",
                activity_id=activity_id,
            )
        )
        if not known:
            return Response(
                404, {"error": {"code": "ActivityNotFound", "message": "Unknown activity."}}
            )
        return Response(200, {"id": activity_id})


def main(argv: list[str] | None = None) -> None:
    """Serve the fake until Ctrl-C."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8702)
    parser.add_argument("--bot-token", default=None, help="accept only this bearer token")
    parser.add_argument("--strict", action="store_true", help="answer 400 where a flow would fail")
    args = parser.parse_args(argv)
    fake = FakeTeams(args.port, bot_token=args.bot_token, strict=args.strict).start()
    print(
        f"fake Teams on {fake.url}: webhooks {fake.url}/webhook/<name>, bot {fake.service_url}",
        flush=True,
    )
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        fake.stop()


if __name__ == "__main__":
    main()
