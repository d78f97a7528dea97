"""The status page across processes: two `mihub web` servers on one PostgreSQL database; a
change made through the API of one shows on the other's public /status within 5 s."""

from __future__ import annotations

import os
import re
import signal
import time
from datetime import timedelta

import pytest
import requests

from hub.app.db import utcnow
from hub.testing.harness import create_token, free_port, start_mihub, wait_healthy
from tests.conftest import EXAMPLE_POLICY, ROOT

pytestmark = pytest.mark.e2e
GOAL_SECONDS = 5.0


def service_state(html: str, key: str) -> str:
    """The state badge of one service on the page."""
    block = html.split(f'id="service-{key}"', 1)[1]
    return re.search(r'class="badge state-([a-z]+)"', block).group(1)


@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
def test_changes_reach_status_on_the_other_web_process_within_5_s(backend):
    env = dict(
        os.environ,
        HUB_DATA_DIR=str(backend["data_dir"]),
        HUB_DATABASE_URL=backend["database_url"],
        HUB_QUEUE_URL=backend["queue_url"],
        HUB_POLICY=str(EXAMPLE_POLICY),
        HUB_SECRET_KEY="status-two-web",
        HUB_MAIL_TRANSPORT="sink",
        HUB_TEAMS_TRANSPORT="sink",
        HUB_WEB_WORKERS="1",
        HUB_STATUS_PUBLIC="true",
    )
    ports = [free_port(), free_port()]
    webs = [
        start_mihub("web", env={**env, "HUB_HTTP": f"127.0.0.1:{port}"}, cwd=ROOT) for port in ports
    ]
    one, other = (f"http://127.0.0.1:{port}" for port in ports)
    reader = requests.Session()
    reader.trust_env = False
    try:
        for base, web in zip((one, other), webs, strict=True):
            wait_healthy(base, web, timeout=90)
        api = requests.Session()
        api.trust_env = False
        api.headers["Authorization"] = f"Bearer {create_token('anna', env=env, cwd=ROOT)}"
        first = reader.get(f"{other}/status", timeout=10)
        assert first.status_code == 200
        assert service_state(first.text, "customer-portal") == "operational"

        def seen_within(change, shows) -> float:
            answer = change()
            assert answer.status_code in (200, 201), answer.text
            answered = time.monotonic()
            while time.monotonic() - answered < GOAL_SECONDS:
                if shows(reader.get(f"{other}/status", timeout=5).text):
                    return time.monotonic() - answered
                time.sleep(0.05)
            pytest.fail(f"not on the other process's /status within {GOAL_SECONDS} s")

        created: dict = {}

        def declare():
            created["r"] = api.post(
                f"{one}/api/v1/incidents",
                json={
                    "title": "Portal down: pool exhausted",
                    "services": ["customer-portal"],
                    "impact": "outage",
                },
                timeout=10,
            )
            return created["r"]

        figures = {
            "declared": seen_within(
                declare, lambda html: service_state(html, "customer-portal") == "outage"
            )
        }
        ref = created["r"].json()["id"]
        figures["update"] = seen_within(
            lambda: api.post(
                f"{one}/api/v1/incidents/{ref}/updates",
                json={"text": "Pool raised to 400 on db-7", "public_text": "Tracking is back soon"},
                timeout=10,
            ),
            lambda html: "Tracking is back soon" in html,
        )
        assert "db-7" not in reader.get(f"{other}/status", timeout=5).text
        figures["resolved"] = seen_within(
            lambda: api.post(
                f"{one}/api/v1/incidents/{ref}/resolve", json={"summary": "Pool raised"}, timeout=10
            ),
            lambda html: service_state(html, "customer-portal") == "operational",
        )
        now = utcnow()
        figures["maintenance"] = seen_within(
            lambda: api.post(
                f"{one}/api/v1/status/maintenance",
                json={
                    "services": ["vpn"],
                    "start": now.isoformat(),
                    "end": (now + timedelta(hours=1)).isoformat(),
                    "text": "Firewall firmware",
                    "public_text": "VPN maintenance",
                },
                timeout=10,
            ),
            lambda html: service_state(html, "vpn") == "maintenance",
        )
        print(
            "\nstatus page, change to the other web process's /status (s): "
            + ", ".join(f"{k} {v:.2f}" for k, v in figures.items())
        )
    finally:
        for web in webs:
            web.stop(signal.SIGTERM, timeout=30)
