"""`mihub run` as a person runs it: one process tree, the API answers, Ctrl-C stops cleanly."""

from __future__ import annotations

import os
import signal
import time

import pytest
import requests

from hub.testing.harness import (
    create_token,
    free_port,
    port_open,
    start_mihub,
    wait_for,
    wait_healthy,
)
from tests.conftest import EXAMPLE_POLICY, ROOT, pg_schema_url

pytestmark = [pytest.mark.e2e, pytest.mark.spread]


def _start(tmp_path, backend):
    port, smtp_port = free_port(), free_port()
    env = dict(
        os.environ,
        HUB_DATA_DIR=str(tmp_path / "var"),
        HUB_HTTP=f"127.0.0.1:{port}",
        HUB_SMTP_LISTEN=f"127.0.0.1:{smtp_port}",
        HUB_POLICY=str(EXAMPLE_POLICY),
        HUB_DATABASE_URL=backend["database_url"],
        HUB_QUEUE_URL=backend["queue_url"],
    )
    return start_mihub("run", env=env, cwd=ROOT), env, f"http://127.0.0.1:{port}"


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_run_serves_and_stops_cleanly(tmp_path, backend, sig):
    proc, env, base = _start(tmp_path, backend)
    try:
        health = wait_healthy(base, proc, timeout=60)
        assert health["checks"] == {**health["checks"], "database": "ok", "queue": "ok"}
        token = create_token("chloe", env=env, cwd=ROOT)
        r = requests.post(
            f"{base}/api/v1/incidents",
            timeout=10,
            headers={"Authorization": f"Bearer {token}"},
            json={"title": "Payroll down", "services": ["payroll"], "impact": "outage"},
        )
        assert r.status_code == 201 and r.json()["major"] is True
    finally:
        code = proc.stop(sig)
    assert code == 0, proc.output
    assert "Stopped cleanly." in proc.output
    # nothing is left behind listening
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{base}/healthz", timeout=2)


def test_pg_url_helper_pins_schema():
    assert "search_path" in pg_schema_url("x")


def test_metrics_count_the_requests_of_every_web_worker(tmp_path):
    """`mihub web` runs several worker processes; /metrics, answered by any one of them,
    counts the requests all of them served, and its counters never go back."""
    port = free_port()
    env = dict(
        os.environ,
        HUB_DATA_DIR=str(tmp_path / "var"),
        HUB_HTTP=f"127.0.0.1:{port}",
        HUB_POLICY=str(EXAMPLE_POLICY),
        HUB_WEB_WORKERS="4",
    )
    env.pop("HUB_DATABASE_URL", None)
    env.pop("HUB_QUEUE_URL", None)
    web = start_mihub("web", env=env, cwd=ROOT)
    base = f"http://127.0.0.1:{port}"
    line = 'mihub_http_requests_total{method="GET",route="/api/v1/openapi.json",status="200"}'

    def scraped() -> int:
        text = requests.get(f"{base}/metrics", timeout=10).text
        return next((int(x.rsplit(" ", 1)[1]) for x in text.splitlines() if x.startswith(line)), 0)

    try:
        wait_healthy(base, web, timeout=60)
        for _ in range(40):  # a new connection each: the workers take turns
            assert requests.get(f"{base}/api/v1/openapi.json", timeout=10).status_code == 200
        seen = []
        for _ in range(8):
            seen.append(scraped())
            time.sleep(0.25)
        time.sleep(1.5)  # each worker writes its counts once a second
        final = [scraped() for _ in range(8)]
    finally:
        code = web.stop(signal.SIGTERM)
    assert code == 0, web.output
    assert seen == sorted(seen) and seen[-1] <= 40, seen  # never back, never more
    assert final == [40] * 8, (seen, final)


def test_children_stop_when_run_is_killed(tmp_path, backend):
    """`kill -9` of `mihub run` leaves no orphan serving the ports or the database: its web,
    worker and SMTP listener get their parent-death signal and stop; a new `mihub run` on the
    same ports then starts and answers."""
    proc, env, base = _start(tmp_path, backend)
    smtp_port = int(env["HUB_SMTP_LISTEN"].rsplit(":", 1)[1])
    web_port = int(env["HUB_HTTP"].rsplit(":", 1)[1])
    try:
        wait_healthy(base, proc, timeout=60)
        proc.kill()
        gone = time.monotonic()
        wait_for(
            lambda: not port_open(web_port) and not port_open(smtp_port),
            timeout=5,
            interval=0.1,
            what="the orphaned web and SMTP listener to stop",
        )
        print(f"children gone {time.monotonic() - gone:.2f} s after SIGKILL of mihub run")
        again = start_mihub("run", env=env, cwd=ROOT)
        try:
            assert wait_healthy(base, again, timeout=60)["status"] == "ok"
        finally:
            assert again.stop(signal.SIGINT) == 0, again.output
    finally:
        if proc.alive:
            proc.kill()
