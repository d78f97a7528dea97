"""Scale-out on PostgreSQL + Redis: one process against two, for the API and for delivery.

    .venv/bin/python bench/scaleout_bench.py [--clients 16] [--requests 40] [--recipients 1000]
        [--database-url postgresql+psycopg://postgres@127.0.0.1:5432/test]
        [--queue-url redis://127.0.0.1:6379/15]

Runs in a schema of its own (dropped at the end) and a Huey queue of its own (its keys deleted).

1. API: two `mihub web` processes (HUB_WEB_WORKERS=1: one server process each) on one
   database. Closed-loop clients POST /api/v1/incidents first to one process only, then
   split over both; throughput and p99 of each, and the ratio two / one.
2. Delivery: one `mihub web` and one `mihub worker`; a SEV1 whose stakeholder audience is
   --recipients email addresses, through an SMTP relay (hub.testing.fakes.smtp_sink) that
   waits --relay-ms (10) before each 250. Time from the 201 to the last stakeholder message
   at the relay. Then a second `mihub worker` joins and a second SEV1 is declared; the same
   figure with two workers, and the ratio. Every (recipient, Message-ID) is counted: a
   duplicate is reported (and makes the exit status 1).
"""

from __future__ import annotations

import argparse
import email
import os
import signal
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from email import policy as email_policy
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import redis  # noqa: E402
import requests  # noqa: E402
from sqlalchemy import create_engine, text  # noqa: E402

from bench._load import run_load  # noqa: E402
from hub.app.migrate import upgrade  # noqa: E402
from hub.demo import DEMO_POLICY  # noqa: E402
from hub.testing.fakes.smtp_sink import SmtpSink  # noqa: E402
from hub.testing.fakes.teams import FakeTeams  # noqa: E402
from hub.testing.harness import (  # noqa: E402
    create_token,
    free_port,
    start_mihub,
    wait_for,
    wait_healthy,
)

EXECS = "[exec@northwind.example]"


def bench_policy(recipients: int) -> str:
    """The demo policy with the clocks out of the way and `recipients` stakeholders."""
    addresses = ", ".join(f"exec{i:05d}@northwind.example" for i in range(recipients))
    out = (
        DEMO_POLICY.read_text()
        .replace('"https://northwind.example/workflows/executives"', '"$env:BENCH_WEBHOOK"')
        .replace('"https://northwind.example/workflows/oncall"', '"$env:BENCH_WEBHOOK"')
        .replace("after: 15s", "after: 30m")
        .replace("first_update_within: 20s", "first_update_within: 30m")
        .replace("update_every: 30s", "update_every: 30m")
        .replace("ack_within: 40s", "ack_within: 30m")
        .replace("resolve_within: 3m", "resolve_within: 4h")
    )
    assert EXECS in out
    return out.replace(EXECS, f"[{addresses}]")


def stakeholder_mail(sink, incident: str, at: list | None = None) -> list[tuple[str, str]]:
    """(recipient, Message-ID) of every stakeholder message of `incident` at the relay (their
    arrival times appended to `at` when given)."""
    out = []
    for m in list(sink.messages):
        msg = email.message_from_bytes(m.data, policy=email_policy.default)
        if msg["X-Mihub-Incident"] != incident:
            continue
        for rcpt in m.rcpt_tos:
            if rcpt.lower().startswith("exec"):
                out.append((rcpt.lower(), msg["Message-ID"]))
                if at is not None:
                    at.append(m.at)
    return out


def api_part(env, token, clients: int, per_client: int) -> dict:
    ports = [free_port(), free_port()]
    webs = []
    try:
        for port in ports:
            child = start_mihub(
                "web",
                env=dict(
                    env, HUB_HTTP=f"127.0.0.1:{port}", HUB_SMTP_LISTEN=f"127.0.0.1:{free_port()}"
                ),
                cwd=ROOT,
                quiet=True,
            )
            webs.append(child)
            wait_healthy(f"http://127.0.0.1:{port}", child, timeout=90)
        bases = [f"http://127.0.0.1:{p}" for p in ports]
        auth = {"Authorization": f"Bearer {token}"}
        kinds = ["degraded", "minor"]  # not major: the API's work, no mobilisation

        def incident(i):
            return {
                "title": f"scale-out bench {i}",
                "services": ["vpn"],
                "impact": kinds[i % 2],
                "correlate": False,
            }

        for base in bases:  # warm both
            run_load(
                base, "/api/v1/incidents", incident, clients=2, requests_per_client=5, headers=auth
            )
        one = run_load(
            bases[0],
            "/api/v1/incidents",
            incident,
            clients=clients,
            requests_per_client=per_client,
            headers=auth,
        )
        two = _split_load(bases, incident, clients, per_client, auth)
    finally:
        for child in webs:
            child.stop(signal.SIGTERM, timeout=30)
    return {"one": one, "two": two}


def _split_load(bases, body_fn, clients, per_client, headers) -> dict:
    """Half the clients on each base, started together; one throughput and p99 for all."""
    results: list[dict] = []
    started = time.perf_counter()

    def run(base):
        results.append(
            run_load(
                base,
                "/api/v1/incidents",
                body_fn,
                clients=clients // 2,
                requests_per_client=per_client,
                headers=headers,
            )
        )

    threads = [threading.Thread(target=run, args=(b,)) for b in bases]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - started
    total = sum(r["requests"] for r in results)
    return {
        "requests": total,
        "errors": sum(r["errors"] for r in results),
        "seconds": round(elapsed, 2),
        "per_second": round(total / elapsed, 1),
        "p99_ms": max(r["p99_ms"] for r in results),  # the worse half: an upper bound
        "p50_ms": max(r["p50_ms"] for r in results),
    }


def delivery_part(env, token, sink, recipients: int, threads: int) -> dict:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = dict(env, HUB_HTTP=f"127.0.0.1:{port}", HUB_SMTP_LISTEN=f"127.0.0.1:{free_port()}")
    procs = [start_mihub("web", env=env, cwd=ROOT, quiet=True)]
    out = {}
    try:
        wait_healthy(base, procs[0], timeout=90)
        for n in (1, 2):
            procs.append(
                start_mihub("worker", "--workers", str(threads), env=env, cwd=ROOT, quiet=True)
            )
            time.sleep(8)  # the new worker is up and polling (not part of the figure)
            for p in procs:
                p.check_alive()
            t0 = time.perf_counter()
            r = requests.post(
                f"{base}/api/v1/incidents",
                json={
                    "title": f"Payroll is down ({n})",
                    "services": ["payroll"],
                    "impact": "outage",
                    "correlate": False,
                },
                headers={"Authorization": f"Bearer {token}"},
                timeout=60,
            )
            assert r.status_code == 201 and r.json()["major"], r.text
            ref = r.json()["id"]
            wait_for(
                lambda ref=ref: len(set(stakeholder_mail(sink, ref))) >= recipients,
                timeout=900,
                interval=0.2,
                what=f"{recipients} stakeholder messages",
            )
            seconds = time.perf_counter() - t0
            time.sleep(2)  # anything late (a duplicate) arrives
            times: list[float] = []
            got = Counter(stakeholder_mail(sink, ref, times))
            sending = max(times) - min(times)  # first to last message: the delivery itself
            out[n] = {
                "workers": n,
                "messages": sum(got.values()),
                "recipients": len({r for r, _ in got}),
                "duplicates": sum(c - 1 for c in got.values() if c > 1),
                "seconds": round(seconds, 2),  # from the 201: mobilisation included
                "sending_s": round(sending, 2),
                "per_second": round(recipients / sending, 1),
            }
            print(f"  delivery, {n} worker(s): {out[n]}", file=sys.stderr)
    finally:
        for p in procs:
            p.send_signal(signal.SIGINT)
        for p in procs:
            p.stop(timeout=30)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clients", type=int, default=16)
    ap.add_argument("--requests", type=int, default=40, help="requests per client")
    ap.add_argument("--recipients", type=int, default=1000)
    ap.add_argument("--relay-ms", type=float, default=10.0)
    ap.add_argument("--worker-threads", type=int, default=4)
    ap.add_argument(
        "--database-url",
        default=os.environ.get(
            "HUB_TEST_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
        ),
    )
    ap.add_argument(
        "--queue-url", default=os.environ.get("HUB_TEST_QUEUE_URL", "redis://127.0.0.1:6379/15")
    )
    args = ap.parse_args()
    tag = uuid.uuid4().hex[:8]
    schema = f"mihub_bench_{tag}"
    queue = f"mihubbench{tag}"
    admin = create_engine(args.database_url)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in args.database_url else "?"
    url = f"{args.database_url}{sep}options=-csearch_path%3D{schema}"
    data = Path(tempfile.mkdtemp(prefix="mihub-scaleout-"))
    policy = data / "policy.yaml"
    policy.write_text(bench_policy(args.recipients))
    sink = SmtpSink(accept_delay=args.relay_ms / 1000).start()
    teams = FakeTeams(rate=1000.0, burst=1000).start()
    env = dict(
        os.environ,
        HUB_DATA_DIR=str(data / "var"),
        HUB_POLICY=str(policy),
        HUB_DATABASE_URL=url,
        HUB_QUEUE_URL=f"{args.queue_url}?name={queue}",
        HUB_MAIL_TRANSPORT="smtp",
        HUB_SMTP_URL=sink.url,
        HUB_TEAMS_TRANSPORT="webhook",
        HUB_WEB_WORKERS="1",
        HUB_LOG_LEVEL="WARNING",
        BENCH_WEBHOOK=teams.webhook_url("bench"),
    )
    load = os.getloadavg()
    try:
        upgrade(url)
        token = create_token("chloe", env=env, cwd=ROOT)
        print("API part…", file=sys.stderr)
        api = api_part(env, token, args.clients, args.requests)
        print("delivery part…", file=sys.stderr)
        delivery = delivery_part(env, token, sink, args.recipients, args.worker_threads)
    finally:
        sink.stop()
        teams.stop()
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()
        client = redis.Redis.from_url(args.queue_url)
        keys = list(client.scan_iter(f"huey.*.{queue}"))
        if keys:
            client.delete(*keys)
        client.close()
    load_after = os.getloadavg()
    one, two = api["one"], api["two"]
    print(
        f"load average at start {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}, "
        f"at end {load_after[0]:.2f} {load_after[1]:.2f} {load_after[2]:.2f}"
    )
    print(
        f"API create, 1 web process : {one['per_second']}/s, p99 {one['p99_ms']} ms, "
        f"{one['requests']} requests, {one['errors']} errors"
    )
    print(
        f"API create, 2 web processes: {two['per_second']}/s, p99 {two['p99_ms']} ms, "
        f"{two['requests']} requests, {two['errors']} errors"
    )
    print(f"  ratio 2/1: {two['per_second'] / one['per_second']:.2f}x (goal >= 1.6x)")
    d1, d2 = delivery[1], delivery[2]
    for d in (d1, d2):
        print(
            f"delivery, {d['workers']} worker(s): {d['recipients']} recipients, first to last "
            f"message {d['sending_s']} s = {d['per_second']}/s ({d['seconds']} s from the 201, "
            f"mobilisation included), {d['messages']} messages, DUPLICATES={d['duplicates']}"
        )
    print(f"  ratio 2/1: {d2['per_second'] / d1['per_second']:.2f}x (goal >= 1.6x)")
    if d1["duplicates"] or d2["duplicates"]:
        sys.exit(1)


if __name__ == "__main__":
    main()
