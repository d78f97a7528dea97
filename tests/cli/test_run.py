"""`mihub run` as a person runs it: one process tree, the API answers, Ctrl-C stops cleanly."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
import requests

from tests.conftest import EXAMPLE_POLICY, ROOT, free_port, pg_schema_url

pytestmark = pytest.mark.e2e


def _start(tmp_path, backend, sig_name):
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
    proc = subprocess.Popen(
        [sys.executable, "-m", "hub.cli", "run"],
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    return proc, env, f"http://127.0.0.1:{port}"


def _wait_healthy(base, proc, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.stdout.read()
        try:
            r = requests.get(f"{base}/healthz", timeout=2)
            if r.status_code == 200:
                return r.json()
        except requests.RequestException:  # not listening yet, or workers still starting
            pass
        time.sleep(0.2)
    raise AssertionError("the hub did not become healthy")


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_run_serves_and_stops_cleanly(tmp_path, backend, sig):
    proc, env, base = _start(tmp_path, backend, sig)
    try:
        health = _wait_healthy(base, proc)
        assert health["checks"] == {**health["checks"], "database": "ok", "queue": "ok"}
        token = subprocess.run(
            [sys.executable, "-m", "hub.cli", "token", "create", "chloe"],
            env=env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()[-1]
        r = requests.post(
            f"{base}/api/v1/incidents",
            timeout=10,
            headers={"Authorization": f"Bearer {token}"},
            json={"title": "Payroll down", "services": ["payroll"], "impact": "outage"},
        )
        assert r.status_code == 201 and r.json()["major"] is True
    finally:
        proc.send_signal(sig)
        out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, out
    assert "Stopped cleanly." in out
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
    proc = subprocess.Popen(
        [sys.executable, "-m", "hub.cli", "web"],
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    line = 'mihub_http_requests_total{method="GET",route="/api/v1/openapi.json",status="200"}'

    def scraped() -> int:
        text = requests.get(f"{base}/metrics", timeout=10).text
        return next((int(x.rsplit(" ", 1)[1]) for x in text.splitlines() if x.startswith(line)), 0)

    try:
        _wait_healthy(base, proc)
        for _ in range(40):  # a new connection each: the workers take turns
            assert requests.get(f"{base}/api/v1/openapi.json", timeout=10).status_code == 200
        seen = []
        for _ in range(8):
            seen.append(scraped())
            time.sleep(0.25)
        time.sleep(1.5)  # each worker writes its counts once a second
        final = [scraped() for _ in range(8)]
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, out
    assert seen == sorted(seen) and seen[-1] <= 40, seen  # never back, never more
    assert final == [40] * 8, (seen, final)
