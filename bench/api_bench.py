"""Create-incident throughput over real HTTP vs. a one-row durable insert on the same server.

    .venv/bin/python bench/api_bench.py [--clients 32] [--requests 60]

Starts `mihub web`'s server (gunicorn) on the embedded default in a separate process with an
extra route `/bench/insert` that inserts one row into the same database and commits (the
ceiling for a durable write), then loads both routes with the same closed-loop clients.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._load import run_load  # noqa: E402
from hub.testing.harness import (  # noqa: E402
    Child,
    ProcessExited,
    WaitTimeout,
    create_token,
    free_port,
    wait_healthy,
)


def serve() -> None:
    """Child process: `mihub web`'s server (gunicorn) running the real app plus the ceiling route."""
    from sqlalchemy import text

    from hub import create_app
    from hub.app.db import utcnow
    from hub.cli.common import start_hub, web_worker_hub
    from hub.runner import serve_web, web_workers

    hub = start_hub()
    with hub.db.session() as s:
        s.execute(
            text(
                "CREATE TABLE IF NOT EXISTS bench_rows (id INTEGER PRIMARY KEY, "
                "at VARCHAR(40), body TEXT)"
            )
        )
    hub.db.dispose()

    def make_app():  # in each worker process, as `mihub web` does
        worker_hub = web_worker_hub(hub)
        app = create_app(hub=worker_hub)

        @app.post("/bench/insert")
        def insert():
            with worker_hub.db.session() as s:
                s.execute(
                    text("INSERT INTO bench_rows (at, body) VALUES (:at, :body)"),
                    {"at": utcnow().isoformat(), "body": "x" * 200},
                )
            return {"ok": True}, 201

        return app

    serve_web(
        make_app,
        os.environ["HUB_HTTP"],
        web_workers(os.environ.get("HUB_WEB_WORKERS", 0)),
        log_level="warning",
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clients", type=int, default=32)
    ap.add_argument("--requests", type=int, default=60, help="requests per client per route")
    ap.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.serve:
        serve()
        return
    port = free_port()
    data = Path(tempfile.mkdtemp(prefix="mihub-bench-"))
    env = dict(
        os.environ,
        HUB_DATA_DIR=str(data),
        HUB_HTTP=f"127.0.0.1:{port}",
        HUB_POLICY=str(ROOT / "policy.yaml"),
        HUB_LOG_LEVEL="WARNING",
    )
    env.pop("HUB_DATABASE_URL", None)
    env.pop("HUB_QUEUE_URL", None)
    token = create_token("chloe", env=env, cwd=ROOT)
    server = Child([sys.executable, __file__, "--serve"], env=env, cwd=ROOT, log=data / "web.log")
    base = f"http://127.0.0.1:{port}"
    try:
        try:
            wait_healthy(base, server.start(), timeout=30, interval=0.1)
        except (ProcessExited, WaitTimeout) as exc:
            raise SystemExit(str(exc)) from exc
        auth = {"Authorization": f"Bearer {token}"}
        services = ["payroll", "erp", "email", "vpn", "website", "customer-portal"]
        kinds = ["outage", "degraded", "minor"]

        def incident(i):
            return {
                "title": f"bench incident {i}",
                "services": [services[i % len(services)]],
                "impact": kinds[i % 3],
                "affected_users": i % 300,
                "correlate": False,
            }

        print(f"warming up… ({args.clients} clients)", file=sys.stderr)
        run_load(base, "/bench/insert", lambda i: {}, clients=4, requests_per_client=20)
        run_load(
            base, "/api/v1/incidents", incident, clients=4, requests_per_client=5, headers=auth
        )
        ceiling = run_load(
            base,
            "/bench/insert",
            lambda i: {},
            clients=args.clients,
            requests_per_client=args.requests,
        )
        create = run_load(
            base,
            "/api/v1/incidents",
            incident,
            clients=args.clients,
            requests_per_client=args.requests,
            headers=auth,
        )
    finally:
        server.stop(signal.SIGTERM, timeout=30)
    result = {
        "clients": args.clients,
        "create_incident": create,
        "one_row_insert": ceiling,
        "ratio": round(create["per_second"] / ceiling["per_second"], 2),
    }
    print(json.dumps(result, indent=2))
    print(
        f"\ncreate incident: {create['per_second']}/s p50 {create['p50_ms']} ms "
        f"p99 {create['p99_ms']} ms; one-row insert: {ceiling['per_second']}/s "
        f"p99 {ceiling['p99_ms']} ms; ratio {result['ratio']}"
    )


if __name__ == "__main__":
    main()
