"""Live pages across processes: two `mihub web` servers on one database; an update made
through one reaches a room stream opened on the other within a second (PostgreSQL + Redis in
scale-out, and the embedded SQLite default)."""

from __future__ import annotations

import json
import os
import signal
import time

import pytest
import requests

from hub import create_app
from hub.testing.harness import create_token, free_port, start_mihub, wait_healthy
from hub.testing.sse import EventStream, console_cookie, open_web_session
from tests.conftest import EXAMPLE_POLICY, ROOT, build_hub

pytestmark = [pytest.mark.e2e, pytest.mark.spread]
SECRET = "two-web-processes"


def test_an_update_through_one_web_process_reaches_a_room_on_the_other(
    tmp_path, backend, example_policy
):
    env = dict(
        os.environ,
        HUB_DATA_DIR=str(backend["data_dir"]),
        HUB_DATABASE_URL=backend["database_url"],
        HUB_QUEUE_URL=backend["queue_url"],
        HUB_POLICY=str(EXAMPLE_POLICY),
        HUB_SECRET_KEY=SECRET,
        HUB_MAIL_TRANSPORT="sink",
        HUB_TEAMS_TRANSPORT="sink",
        HUB_WEB_WORKERS="1",
        HUB_WEB_THREADS="24",
    )
    ports = [free_port(), free_port()]
    webs = [
        start_mihub("web", env={**env, "HUB_HTTP": f"127.0.0.1:{port}"}, cwd=ROOT) for port in ports
    ]
    one, other = (f"http://127.0.0.1:{port}" for port in ports)
    hub = build_hub(backend, example_policy, HUB_SECRET_KEY=SECRET)
    try:
        for base, web in zip((one, other), webs, strict=True):
            wait_healthy(base, web, timeout=90)
        token = create_token("anna", env=env, cwd=ROOT)
        api = requests.Session()
        api.trust_env = False
        api.headers["Authorization"] = f"Bearer {token}"
        created = api.post(
            f"{one}/api/v1/incidents",
            json={"title": "Payroll is down", "services": ["payroll"], "impact": "outage"},
            timeout=10,
        )
        assert created.status_code == 201, created.text
        ref = created.json()["id"]
        cookie = console_cookie(create_app({}, hub=hub), open_web_session(hub, "anna"))
        room = EventStream(f"{other}/incidents/{ref}/events", cookie=cookie)
        assert room.status == 200, room.response.read()[:300]
        room.until(lambda e: e.event == "ready", timeout=10)
        time.sleep(0.5)  # the stream's feed has read where the timeline is
        posted = api.post(
            f"{one}/api/v1/incidents/{ref}/updates", json={"text": "Rolling back"}, timeout=10
        )
        answered = time.monotonic()
        assert posted.status_code in (200, 201), posted.text
        change = room.until(
            lambda e: e.event == "change" and json.loads(e.data)["kind"] == "update", timeout=5
        )
        assert change.at - answered < 1.0  # the goal: within a second, across processes
        assert json.loads(change.data)["incident"] == ref
        room.close()
    finally:
        for web in webs:
            web.stop(signal.SIGTERM, timeout=30)
        hub.db.dispose()
