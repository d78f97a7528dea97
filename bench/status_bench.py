"""The status page: how long a change takes to show, and what a render costs.

    .venv/bin/python bench/status_bench.py [--open 10] [--resolved 150] [--changes 20]
        [--database-url postgresql+psycopg://postgres@127.0.0.1:5432/test]

1. Change to visible: two `mihub web` processes on one database (SQLite in a temporary data
   directory, or PostgreSQL in a schema of its own, dropped at the end, with --database-url),
   `HUB_STATUS_PUBLIC=true`. Each change is an update with a public text POSTed to the first;
   the second's public `/status` is polled every 20 ms until the text shows. Time from the
   API's answer to the first page that shows it: median and worst of --changes. Goal: 5 s.
2. Render cost, in-process on the same database with --open open major incidents and
   --resolved resolved in the last 30 days (three updates each): `/status` with the cache
   emptied before each request ("cold") and as cached ("unchanged"), p50 and p95.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import requests  # noqa: E402
from sqlalchemy import create_engine, text  # noqa: E402

from hub.app.migrate import upgrade  # noqa: E402
from hub.testing.harness import create_token, free_port, start_mihub, wait_healthy  # noqa: E402

SERVICES = ("customer-portal", "email", "vpn", "website", "identity")


def fill(hub, open_: int, resolved: int, now: datetime) -> None:
    """Major incidents on public services with updates carrying public text."""
    from hub.core.classify import Report
    from hub.incidents import operations as ops
    from hub.incidents.reports import create_incident

    for n in range(open_ + resolved):
        at = now - timedelta(days=(n % 29) + (0 if n < open_ else 1), minutes=n)
        with hub.transaction() as session:
            incident, _ = create_incident(
                session,
                hub.policy,
                Report(
                    title=f"Bench outage {n}",
                    services=(SERVICES[n % len(SERVICES)],),
                    impact="outage",
                    reporter="ivan",
                    source="api",
                ),
                actor="ivan",
                now=at,
                correlate=False,
            )
            for u in range(3):
                ops.post_update(
                    session,
                    hub.policy,
                    incident,
                    f"Internal step {u}",
                    actor="anna",
                    now=at + timedelta(minutes=u + 1),
                    public_text=f"Public step {u}",
                )
            if n >= open_:
                ops.resolve(
                    session,
                    hub.policy,
                    incident,
                    "Fixed",
                    actor="anna",
                    now=at + timedelta(hours=1),
                )


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def change_to_visible(env: dict, changes: int) -> list[float]:
    ports = [free_port(), free_port()]
    webs = [
        start_mihub("web", env={**env, "HUB_HTTP": f"127.0.0.1:{p}"}, cwd=ROOT, quiet=True)
        for p in ports
    ]
    one, other = (f"http://127.0.0.1:{p}" for p in ports)
    try:
        for base, web in zip((one, other), webs, strict=True):
            wait_healthy(base, web, timeout=90)
        api = requests.Session()
        api.trust_env = False
        api.headers["Authorization"] = f"Bearer {create_token('anna', env=env, cwd=ROOT)}"
        reader = requests.Session()
        reader.trust_env = False
        ref = api.post(
            f"{one}/api/v1/incidents",
            json={
                "title": "Bench",
                "services": ["customer-portal"],
                "impact": "outage",
                "correlate": False,
            },
            timeout=10,
        ).json()["id"]
        seen = []
        for n in range(changes):
            marker = f"bench-change-{n}-{uuid.uuid4().hex[:6]}"
            answer = api.post(
                f"{one}/api/v1/incidents/{ref}/updates",
                json={"text": "internal", "public_text": marker},
                timeout=10,
            )
            answer.raise_for_status()
            answered = time.monotonic()
            while marker not in reader.get(f"{other}/status", timeout=10).text:
                if time.monotonic() - answered > 30:
                    raise SystemExit(f"change {n} not visible after 30 s")
                time.sleep(0.02)
            seen.append(time.monotonic() - answered)
        return seen
    finally:
        for web in webs:
            web.stop(signal.SIGTERM, timeout=30)


def render_cost(url: str, data_dir: Path, open_: int, resolved: int, requests_: int) -> dict:
    from hub import create_app
    from hub.app.context import Hub
    from hub.app.settings import load_settings
    from hub.web.status import CACHE
    from tests.web_kit import sign_in

    settings = load_settings(
        overrides={
            "HUB_DATA_DIR": str(data_dir),
            "HUB_DATABASE_URL": url,
            "HUB_QUEUE_URL": "memory://",
            "HUB_POLICY": str(ROOT / "policy.yaml"),
        }
    )
    hub = Hub(settings)
    hub.enqueue = lambda jobs: None  # no worker here: mobilisation is not measured
    fill(hub, open_, resolved, datetime.now(UTC))
    app = create_app({}, hub=hub)
    client = app.test_client()
    sign_in(client, hub, "anna")
    assert client.get("/status").status_code == 200
    out = {}
    for label, before in (
        ("cold", lambda: app.extensions[CACHE]._pages.clear()),
        ("unchanged", None),
    ):
        times = []
        for _ in range(requests_):
            if before:
                before()
            t = time.perf_counter()
            page = client.get("/status")
            times.append(time.perf_counter() - t)
            assert page.status_code == 200
        out[label] = times
    out["bytes"] = len(client.get("/status").data)
    hub.db.dispose()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--open", type=int, default=10)
    ap.add_argument("--resolved", type=int, default=150)
    ap.add_argument("--changes", type=int, default=20)
    ap.add_argument("--requests", type=int, default=100)
    ap.add_argument("--database-url", default=None)
    args = ap.parse_args()
    data_dir = Path(tempfile.mkdtemp(prefix="mihub-status-bench-"))
    schema = None
    url = f"sqlite:///{data_dir / 'hub.db'}"
    if args.database_url:
        schema = f"mihub_bench_{uuid.uuid4().hex[:8]}"
        engine = create_engine(args.database_url)
        with engine.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        sep = "&" if "?" in args.database_url else "?"
        url = f"{args.database_url}{sep}options=-csearch_path%3D{schema}"
    try:
        upgrade(url)
        env = dict(
            os.environ,
            HUB_DATA_DIR=str(data_dir),
            HUB_DATABASE_URL=url,
            HUB_QUEUE_URL=f"sqlite:///{data_dir / 'queue.db'}",
            HUB_POLICY=str(ROOT / "policy.yaml"),
            HUB_SECRET_KEY="status-bench",
            HUB_MAIL_TRANSPORT="sink",
            HUB_TEAMS_TRANSPORT="sink",
            HUB_WEB_WORKERS="1",
            HUB_STATUS_PUBLIC="true",
        )
        seen = change_to_visible(env, args.changes)
        cost = render_cost(url, data_dir, args.open, args.resolved, args.requests)
    finally:
        if schema:
            with engine.begin() as conn:
                conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    backend = "PostgreSQL" if schema else "SQLite"
    print(f"database: {backend}; load average {os.getloadavg()[0]:.1f}")
    print(
        f"change to visible on the other web process ({args.changes} changes): "
        f"median {statistics.median(seen) * 1000:.0f} ms, worst {max(seen) * 1000:.0f} ms "
        f"(goal 5000 ms)"
    )
    for label in ("cold", "unchanged"):
        t = cost[label]
        print(
            f"/status {label} ({args.open} open, {args.resolved} resolved): "
            f"p50 {pct(t, 50) * 1000:.1f} ms, p95 {pct(t, 95) * 1000:.1f} ms"
        )
    print(f"page size: {cost['bytes'] // 1024} KB")


if __name__ == "__main__":
    main()
