"""The web during a database outage, through a link the test breaks: refused, then hung.

`mihub web` (two worker processes) talks to PostgreSQL through hub.testing.link.FaultyLink.
Refused: every request answers 503 with a JSON error and Retry-After, a person gets a page,
the log says so once per process, and service resumes by itself. Hung: requests fail within
the statement timeout instead of waiting forever, and /healthz reports it within 5 s.
"""

from __future__ import annotations

import os
import re
import signal
import time

import pytest
import requests

from hub.testing.harness import create_token, free_port, start_mihub, wait_healthy
from hub.testing.link import FaultyLink
from tests.conftest import EXAMPLE_POLICY, ROOT

pytestmark = [pytest.mark.e2e, pytest.mark.spread]


@pytest.fixture
def web_through_link(tmp_path, backend):
    url = backend["database_url"]
    port = int(re.search(r"@[^:/]+:(\d+)/", url).group(1))
    link = FaultyLink(port).start()
    port_web = free_port()
    env = dict(
        os.environ,
        HUB_DATA_DIR=str(tmp_path / "var"),
        HUB_HTTP=f"127.0.0.1:{port_web}",
        HUB_POLICY=str(EXAMPLE_POLICY),
        HUB_DATABASE_URL=re.sub(r"@[^:/]+:\d+/", f"@127.0.0.1:{link.port}/", url),
        HUB_QUEUE_URL=backend["queue_url"],
        HUB_WEB_WORKERS="2",
    )
    web = start_mihub("web", env=env, cwd=ROOT)
    base = f"http://127.0.0.1:{port_web}"
    try:
        wait_healthy(base, web, timeout=60)
        token = create_token("chloe", env=env, cwd=ROOT)
        yield link, web, base, {"Authorization": f"Bearer {token}"}
    finally:
        link.heal()
        web.stop(signal.SIGTERM)
        link.stop()


@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
def test_database_refused_answers_503_and_recovers(web_through_link):
    link, web, base, auth = web_through_link
    assert requests.get(f"{base}/api/v1/incidents", headers=auth, timeout=10).status_code == 200
    link.refuse()
    answers = [
        requests.get(f"{base}/api/v1/incidents", headers=auth, timeout=10) for _ in range(20)
    ]
    assert {r.status_code for r in answers} == {503}
    body = answers[-1].json()
    assert body["error"]["code"] == "database_unavailable", body
    assert int(answers[-1].headers["Retry-After"]) > 0
    created = requests.post(
        f"{base}/api/v1/incidents", headers=auth, json={"title": "Payroll down"}, timeout=10
    )
    assert created.status_code == 503 and created.json()["error"]["code"] == "database_unavailable"
    health = requests.get(f"{base}/healthz", timeout=10)
    assert health.status_code == 503 and health.json()["checks"]["database"] != "ok"
    # the log: one line per kind and process, not a traceback per request
    mentions = web.output.count("database unavailable")
    assert 1 <= mentions <= 2, web.output[-3000:]
    assert "Traceback" not in web.output, web.output[-3000:]
    link.heal()
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        r = requests.get(f"{base}/api/v1/incidents", headers=auth, timeout=10)
        if r.status_code == 200:
            break
        time.sleep(0.2)
    assert r.status_code == 200, r.text


@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
def test_database_hung_fails_fast_and_health_says_so(web_through_link):
    link, web, base, auth = web_through_link
    assert requests.get(f"{base}/api/v1/incidents", headers=auth, timeout=10).status_code == 200
    link.hang()
    started = time.monotonic()
    health = requests.get(f"{base}/healthz", timeout=30)
    health_took = time.monotonic() - started
    assert health.status_code == 503, health.text
    assert health_took <= 5, f"/healthz took {health_took:.1f} s during the hang"
    started = time.monotonic()
    r = requests.get(f"{base}/api/v1/incidents", headers=auth, timeout=60)
    took = time.monotonic() - started
    assert r.status_code == 503 and r.json()["error"]["code"] == "database_unavailable", r.text
    print(f"\nhung database: /healthz 503 in {health_took:.1f} s, API 503 in {took:.1f} s")
    assert took <= 35, f"a request waited {took:.1f} s on a hung database"


@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
def test_a_hung_queue_does_not_hold_a_declaration(tmp_path, backend):
    """Redis accepts connections but answers nothing: a major declaration still answers at
    once (its wake-ups wait at most 250 ms), and /healthz says the queue is not answering."""
    from tests.conftest import REDIS_URL

    redis_port = int(re.search(r":(\d+)", REDIS_URL.split("//", 1)[1]).group(1))
    link = FaultyLink(redis_port).start()
    port_web = free_port()
    queue_url = re.sub(r"//[^/]+/", f"//127.0.0.1:{link.port}/", backend["queue_url"])
    env = dict(
        os.environ,
        HUB_DATA_DIR=str(tmp_path / "var"),
        HUB_HTTP=f"127.0.0.1:{port_web}",
        HUB_POLICY=str(EXAMPLE_POLICY),
        HUB_DATABASE_URL=backend["database_url"],
        HUB_QUEUE_URL=queue_url,
        HUB_WEB_WORKERS="1",
    )
    web = start_mihub("web", env=env, cwd=ROOT)
    base = f"http://127.0.0.1:{port_web}"
    try:
        wait_healthy(base, web, timeout=60)
        auth = {"Authorization": f"Bearer {create_token('chloe', env=env, cwd=ROOT)}"}
        link.hang()
        took = []
        for n in range(3):
            started = time.monotonic()
            r = requests.post(
                f"{base}/api/v1/incidents",
                headers=auth,
                json={"title": f"Payroll down {n}", "services": ["payroll"], "impact": "outage"},
                timeout=30,
            )
            took.append(time.monotonic() - started)
            assert r.status_code == (201 if n == 0 else 200), r.text  # later ones join INC-1
            assert r.json()["major"] is True, r.text
        started = time.monotonic()
        health = requests.get(f"{base}/healthz", timeout=30)
        assert health.status_code == 503 and "no answer" in health.json()["checks"]["queue"]
        assert time.monotonic() - started <= 5
        print(f"\nhung queue: major declarations answered in {[round(t, 2) for t in took]} s")
        assert max(took) < 1.0, took
    finally:
        link.heal()
        web.stop(signal.SIGTERM)
        link.stop()
