"""Live pages: Server-Sent Events of incident changes, for the room, the board and the review.

`GET /incidents/<ref>/events` streams one incident's changes, `GET /events` every incident's
(the board). Each event is `event: change`, `id: <timeline id>` and JSON data
`{"incident", "kind", "entry"}`; the page then fetches what it shows. A comment line every
15 s keeps proxies from closing an idle stream; `X-Accel-Buffering: no` tells nginx not to
buffer it. A stream ends after `MAX_STREAM_SECONDS` (the browser reconnects with
`Last-Event-ID`, and the sign-in is checked again) or when the process stops. Each stream
holds one of the web process's threads: past `HUB_WEB_THREADS` less a reserve for pages, a
new stream is refused with 503 and the page falls back to polling.
"""

from __future__ import annotations

import json
import threading
import time

from flask import Blueprint, Response, current_app, request, stream_with_context

from hub.app.db import row_id
from hub.app.errors import NotFound
from hub.incidents.changes import ChangeFeed
from hub.incidents.records import parse_ref
from hub.web.common import require_person, the_hub

bp = Blueprint("live", __name__)
HEARTBEAT_SECONDS = 15.0
MAX_STREAM_SECONDS = 300.0
RETRY_MS = 1000
PAGE_THREADS = 16  # kept for pages when streams hold the others
FEED = "hub.change_feed"


def change_feed(app=None) -> ChangeFeed:
    """This process's change feed (made on first use: one polling thread per process)."""
    app = app or current_app
    feed = app.extensions.get(FEED)
    if feed is None:
        with _lock:
            feed = app.extensions.get(FEED)
            if feed is None:
                feed = app.extensions[FEED] = ChangeFeed(app.extensions["hub"].db)
    return feed


_lock = threading.Lock()


def max_streams() -> int:
    """Streams one process serves at once: its threads less those kept for pages."""
    threads = the_hub().settings.int("HUB_WEB_THREADS")
    return max(1, threads - PAGE_THREADS)


def _last_event_id() -> int | None:
    raw = request.headers.get("Last-Event-ID") or request.args.get("after") or ""
    return row_id(raw.strip()) if raw.strip() else None


def _frame(change) -> str:
    return f"id: {change.id}\nevent: change\ndata: {json.dumps(change.as_event())}\n\n"


def _stream(feed: ChangeFeed, incident: int | None, after_id: int | None):
    with feed.listening() as seq:
        newest = feed.newest_id()
        yield f"retry: {RETRY_MS}\n"
        yield f"id: {newest}\nevent: ready\ndata: {json.dumps({'entry': newest})}\n\n"
        if after_id is not None and after_id < newest:  # reconnecting: what it missed
            for change in feed.since(incident, after_id):
                if change.id <= newest:
                    yield _frame(change)
        started = last_sent = time.monotonic()
        while not feed.closed and time.monotonic() - started < MAX_STREAM_SECONDS:
            seq, changes = feed.wait(seq, timeout=HEARTBEAT_SECONDS)
            mine = [c for c in changes if incident is None or c.incident == incident]
            for change in mine:
                yield _frame(change)
            if mine:
                last_sent = time.monotonic()
            elif time.monotonic() - last_sent >= HEARTBEAT_SECONDS:
                yield ": heartbeat\n\n"
                last_sent = time.monotonic()


def _respond(incident: int | None) -> Response:
    require_person()
    feed = change_feed()
    if incident is not None and not feed.exists(incident):
        raise NotFound(f"no incident INC-{incident}")
    if feed.listeners >= max_streams():
        return Response(  # the page script polls meanwhile and tries again later
            "This web process serves as many live pages as it can; the page polls instead.\n",
            status=503,
            mimetype="text/plain",
            headers={"Retry-After": "10"},
        )
    response = Response(
        stream_with_context(_stream(feed, incident, _last_event_id())),
        mimetype="text/event-stream",
    )
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Accel-Buffering"] = "no"  # nginx: pass each event on at once
    response.headers["Retry-After"] = "1"
    return response


def init_app(app) -> None:
    """End the streams when the process stops (the runner calls `hub.stopping` on SIGTERM)."""

    def _close():
        feed = app.extensions.get(FEED)
        if feed is not None:
            feed.close()

    app.extensions.setdefault("hub.stopping", []).append(_close)


@bp.get("/incidents/<ref>/events")
def incident_events(ref: str):
    """Server-Sent Events: the incident's changes."""
    return _respond(parse_ref(ref))


@bp.get("/events")
def all_events():
    """Server-Sent Events: every incident's changes (the board)."""
    return _respond(None)
