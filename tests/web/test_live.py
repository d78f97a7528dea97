"""Live pages: the change feed and the Server-Sent Events streams over real HTTP."""

from __future__ import annotations

import json
import time

import pytest
from sqlalchemy import insert

from hub.app.db import utcnow
from hub.app.models import TimelineEntry
from hub.incidents import operations as ops
from hub.incidents.act import act
from hub.incidents.changes import ChangeFeed
from hub.runner import serving_in_thread
from hub.testing.sse import EventStream, console_cookie, open_web_session
from tests.web.test_web_pages import declare


def update(hub, ref: str, text: str, person: str = "anna") -> None:
    with hub.transaction() as session:
        act(
            session,
            hub.policy,
            ref,
            person,
            "update",
            lambda i: ops.post_update(session, hub.policy, i, text, actor=person, now=utcnow()),
            now=utcnow(),
        )


@pytest.fixture
def served(app):
    with serving_in_thread(app, threads=12) as url:
        yield url
        for stop in app.extensions["hub.stopping"]:
            stop()  # the streams end at once, as they do when the process stops


def stream(app, hub, url: str, path: str, **kw) -> EventStream:
    cookie = console_cookie(app, open_web_session(hub, "anna"))
    return EventStream(url + path, cookie=cookie, **kw)


def test_the_feed_reads_each_new_entry_once_and_waits_for_late_commits(hub):
    ref = declare(hub)
    number = int(ref.removeprefix("INC-"))
    feed = ChangeFeed(hub.db)
    assert feed.poll() == 0  # the first read only notes where the timeline is
    start = feed.newest_id()
    update(hub, ref, "first")
    assert [c.category for c in feed.since(number, start)] == ["update"]
    assert feed.poll() == 1 and feed.poll() == 0
    # an id taken earlier that commits later (a PostgreSQL sequence): seen when it lands
    newest = feed.newest_id()
    with hub.db.session() as session:
        session.execute(
            insert(TimelineEntry).values(
                id=newest + 2, incident_id=number, at=utcnow(), kind="role", text="", data={}
            )
        )
    assert feed.poll() == 1
    with hub.db.session() as session:
        session.execute(
            insert(TimelineEntry).values(
                id=newest + 1,
                incident_id=number,
                at=utcnow(),
                kind="acknowledged",
                text="",
                data={},
            )
        )
    assert feed.poll() == 1
    seq, changes = feed.wait(0, timeout=0)
    assert [c.category for c in changes] == ["update", "role", "acknowledgement"]
    assert seq == 3


def test_a_room_stream_gets_each_change_of_its_incident_and_heartbeats(app, hub, served):
    ref, other = declare(hub), declare(hub, title="Mail is slow", services=("email",))
    events = stream(app, hub, served, f"/incidents/{ref}/events")
    assert events.status == 200
    assert events.headers["Content-Type"].startswith("text/event-stream")
    assert events.headers["X-Accel-Buffering"] == "no"
    assert events.headers["Cache-Control"] == "no-store"
    ready = events.until(lambda e: e.event == "ready", timeout=5)
    update(hub, other, "not this one")
    update(hub, ref, "Rolling back")
    posted = time.monotonic()
    change = events.until(lambda e: e.event == "change", timeout=5)
    assert change.at - posted < 1.0  # the goal: a change reaches the page within a second
    assert json.loads(change.data) == {"incident": ref, "kind": "update", "entry": int(change.id)}
    assert int(change.id) > int(ready.id)
    events.close()


def test_the_board_stream_gets_every_incident(app, hub, served):
    first, second = declare(hub), declare(hub, title="Mail is slow", services=("email",))
    events = stream(app, hub, served, "/events")
    events.until(lambda e: e.event == "ready", timeout=5)
    update(hub, second, "one")
    update(hub, first, "two")
    seen = [json.loads(events.until(lambda e: e.event == "change", timeout=5).data)["incident"]]
    seen.append(json.loads(events.until(lambda e: e.event == "change", timeout=5).data)["incident"])
    assert seen == [second, first]
    events.close()


def test_a_reconnecting_stream_gets_what_it_missed(app, hub, served):
    ref = declare(hub)
    events = stream(app, hub, served, f"/incidents/{ref}/events")
    last = events.until(lambda e: e.event == "ready", timeout=5).id
    events.close()
    update(hub, ref, "while away")
    again = stream(app, hub, served, f"/incidents/{ref}/events", last_event_id=last)
    again.until(lambda e: e.event == "ready", timeout=5)
    missed = again.until(lambda e: e.event == "change", timeout=5)
    assert json.loads(missed.data)["kind"] == "update"
    again.close()


def test_streams_are_for_signed_in_people_and_existing_incidents(app, hub, served):
    ref = declare(hub)
    anonymous = EventStream(f"{served}/incidents/{ref}/events")
    assert anonymous.status in (302, 303, 401)
    anonymous.close()
    missing = stream(app, hub, served, "/incidents/INC-999/events")
    assert missing.status == 404
    missing.close()


def test_a_full_process_refuses_more_streams_and_the_page_polls(app, hub, served, monkeypatch):
    monkeypatch.setattr("hub.web.live.max_streams", lambda: 1)
    ref = declare(hub)
    first = stream(app, hub, served, f"/incidents/{ref}/events")
    first.until(lambda e: e.event == "ready", timeout=5)
    second = stream(app, hub, served, f"/incidents/{ref}/events")
    assert second.status == 503 and second.headers["Retry-After"] == "10"
    second.close()
    first.close()


def test_pages_carry_the_stream_and_live_regions(client, hub):
    from tests.web_kit import sign_in

    ref = declare(hub)
    sign_in(client, hub, "anna")
    board = client.get("/").get_data(as_text=True)
    assert 'data-events-url="/events"' in board
    room = client.get(f"/incidents/{ref}").get_data(as_text=True)
    assert f'data-events-url="/incidents/{ref}/events"' in room
    for region in ("room-head", "roles-live", "timeline-live", "deadlines-live", "chart-live"):
        assert f'id="{region}" data-live' in room
