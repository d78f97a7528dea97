"""Create-incident throughput over real HTTP vs. a one-row durable insert on the same server.

    .venv/bin/python bench/api_bench.py [--clients 32] [--requests 60]

Starts `mihub web`'s server (gunicorn) on the embedded default in a separate process with an
extra route `/bench/insert` that inserts one row into the same database and commits (the
ceiling for a durable write), then loads both routes with the same closed-loop clients.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._load import CEILING, machine, run_load, serve_with_ceiling, web_env  # noqa: E402
from hub.testing.harness import (  # noqa: E402
    Child,
    ProcessExited,
    WaitTimeout,
    create_token,
    free_port,
    wait_healthy,
)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clients", type=int, default=32)
    ap.add_argument("--requests", type=int, default=60, help="requests per client per route")
    ap.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.serve:
        serve_with_ceiling()
        return
    port = free_port()
    data = Path(tempfile.mkdtemp(prefix="mihub-bench-"))
    env = web_env(data, port)
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
        run_load(base, CEILING, lambda i: {}, clients=4, requests_per_client=20)
        run_load(
            base, "/api/v1/incidents", incident, clients=4, requests_per_client=5, headers=auth
        )
        ceiling = run_load(
            base,
            CEILING,
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
        **machine(),
    }
    print(json.dumps(result, indent=2))
    print(
        f"\ncreate incident: {create['per_second']}/s p50 {create['p50_ms']} ms "
        f"p99 {create['p99_ms']} ms; one-row insert: {ceiling['per_second']}/s "
        f"p99 {ceiling['p99_ms']} ms; ratio {result['ratio']}; load average "
        f"{result['load_average'][0]} on {result['cpus']} CPUs"
    )


if __name__ == "__main__":
    main()
