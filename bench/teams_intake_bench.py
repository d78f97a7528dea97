"""Signed Teams outgoing-webhook commands against the real server: 50 concurrent senders, p50/p99.

    .venv/bin/python bench/teams_intake_bench.py [--clients 50] [--rounds 20] [--web-processes 1]
        [--database-url postgresql+psycopg://…] [--queue-url redis://…]

Starts `mihub web` (gunicorn, its default worker processes; `--web-processes N` starts N such
servers) on a fresh data dir with a test secret, declares ten major incidents, then runs `--clients` sender
threads. Every request is HMAC-signed over its raw body like Teams does and has Teams'
5-second limit as its client timeout; a reply saying the work continues in the background
counts as "late". Phases, each with the same command mix (status, help, report, update, ack,
and 1 in 20 a declare of a new SEV1 incident):
  alone       one sender, no pause: what each command costs with no one else around;
  burst       all senders send at the same instant, round after round (`--rounds`);
  burst_light the same with only status, help and ack (no outbox rows: the intake's own cost);
  paced       each sender waits 1-3 s between commands (people typing), for `--seconds`;
  saturation  closed loop, no pause at all: the most one process takes (a stress figure);
  declares    all senders declare a new SEV1 incident at the same instant (largest fan-out).
No worker runs, so the time measured is the handler's own: store raw, run, write rows, reply.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import http.client
import json
import os
import random
import signal
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._load import run_clients  # noqa: E402
from hub.testing.harness import (  # noqa: E402
    Child,
    ProcessExited,
    WaitTimeout,
    free_port,
    start_mihub,
    wait_healthy,
)

SECRET = base64.b64encode(b"teams intake benchmark secret 32").decode()
LIMIT = 5.0  # Teams gives up after 5 seconds
MIM = "3f2a9c41-6b1e-4d7a-9c25-1e8f4b6d0a11"  # anna, first on the MIM roster of policy.yaml
DECLARERS = [  # the other people of policy.yaml (a per-sender hourly report limit applies)
    "8d4e1b72-0c3f-4a96-8e51-7b2c9d3f1a22",
    "5a7c3e90-2d4b-4f18-a6c3-9e1d7f5b2c33",
    "1e9b5d23-8f6a-4c47-b3e2-4a6c8e0d3d44",
    "9c3f7a54-4e2d-4b89-8f16-2d5b9a1c4e55",
    "2b6d8e15-7a3c-4e5f-9d27-8c4a1f6e5f66",
    "6e1a4c86-3b9f-4d2e-a748-5f7d2b8a6a77",
    "4d8f2b37-9e5a-4c61-b592-3a9e6c1d7b88",
    "7a5e9f68-1c7d-4b3a-8e64-6d1b3e9f8c99",
    "0f3c6a19-5d8e-4f72-9a1b-4e2c7d5a9daa",
]
INCIDENTS = 10
_counter = iter(range(1, 10**9))
_lock = threading.Lock()


def message(text: str, aad: str) -> bytes:
    """A Teams outgoing-webhook activity, as raw bytes."""
    with _lock:
        n = next(_counter)
    doc = {
        "type": "message",
        "id": f"{n}",
        "channelId": "msteams",
        "serviceUrl": "https://smba.trafficmanager.net/emea/",
        "from": {"id": f"29:{aad}", "name": "Bench Sender", "aadObjectId": aad},
        "conversation": {
            "id": f"19:bench@thread.tacv2;messageid={n}",
            "conversationType": "channel",
        },
        "channelData": {"channel": {"id": "19:bench@thread.tacv2"}, "team": {"id": "19:t"}},
        "recipient": None,
        "text": f"<at>MIHub</at> {text}",
    }
    return json.dumps(doc).encode()


def sign(body: bytes) -> str:
    """Teams' signature: HMAC-SHA256 of the raw body with the base64-decoded secret."""
    digest = hmac.new(base64.b64decode(SECRET), body, hashlib.sha256).digest()
    return "HMAC " + base64.b64encode(digest).decode()


def mixed(i: int, sender: int) -> tuple[str, str, str]:
    """(kind, text, sender Entra id) for request i, in the shares of a busy incident channel."""
    k, slot = 1 + i % INCIDENTS, random.Random(i).randrange(20)
    stranger = f"00000000-0000-4000-8000-{sender:012d}"
    if slot < 6:
        return "status", "status", stranger
    if slot < 9:
        return "status INC", f"status INC-{k}", stranger
    if slot < 11:
        return "help", "help", stranger
    if slot < 14:
        return "report", f"the printer on floor {i % 9} jams again ({sender}/{i})", stranger
    if slot < 17:
        return "update", f"update INC-{k} still investigating, next check {i}", MIM
    if slot < 19:
        return "ack", f"ack INC-{k}", MIM
    return "declare", f"declare suspected breach on server {sender}-{i}", DECLARERS[i % 9]


def light(i: int, sender: int) -> tuple[str, str, str]:
    """Only the commands that write no outbox rows: the intake path's own cost."""
    kind, text, aad = mixed(i, sender)
    return (
        (kind, text, aad)
        if kind in ("status", "status INC", "help", "ack")
        else light(i + 7919, sender)
    )


def declares(i: int, sender: int) -> tuple[str, str, str]:
    return "declare", f"declare suspected breach on host {sender}-{i}", DECLARERS[sender % 9]


class Sender:
    """One keep-alive connection that posts signed commands and times them."""

    def __init__(self, base: str):
        self.host, port = base.split("//")[1].split(":")
        self.port, self.conn = int(port), None

    def send(self, text: str, aad: str) -> tuple[float, str]:
        body = message(text, aad)
        headers = {"Authorization": sign(body), "Content-Type": "application/json"}
        started = time.perf_counter()
        try:
            self.conn = self.conn or http.client.HTTPConnection(self.host, self.port, timeout=LIMIT)
            self.conn.request("POST", "/intake/teams", body=body, headers=headers)
            response = self.conn.getresponse()
            data = response.read()
            outcome = "ok" if response.status == 200 else f"http {response.status}"
            outcome = "late" if b"taking longer" in data else outcome
        except TimeoutError:
            outcome, self.conn = "timeout", None
        except (OSError, http.client.HTTPException) as exc:
            outcome, self.conn = type(exc).__name__, None
        return time.perf_counter() - started, outcome


def run(bases: list[str], pick, clients: int, mode: str, amount: float) -> dict:
    """`clients` senders; mode burst (amount = rounds), paced or closed (amount = seconds)."""
    samples: list[tuple[str, float, str]] = []
    start_gate, round_gate = threading.Barrier(clients + 1), threading.Barrier(clients)

    def client(cid: int) -> None:
        sender, mine, rng = Sender(bases[cid % len(bases)]), [], random.Random(cid)
        start_gate.wait()
        deadline, n = time.monotonic() + amount, 0
        while (n < amount) if mode == "burst" else (time.monotonic() < deadline):
            if mode == "burst":
                round_gate.wait()
            kind, text, aad = pick(n * clients + cid, cid)
            mine.append((kind, *sender.send(text, aad)))
            n += 1
            if mode == "paced":
                time.sleep(rng.uniform(1.0, 3.0))
        with _lock:
            samples.extend(mine)

    return summarise(samples, run_clients(client, range(clients), start_gate))


def _pct(values: list[float]) -> dict:
    values = sorted(values)
    q = statistics.quantiles(values, n=100) if len(values) > 1 else values * 99
    return {"n": len(values), "p50_ms": round(q[49] * 1000, 1),
            "p99_ms": round(q[98] * 1000, 1), "max_ms": round(values[-1] * 1000, 1)}  # fmt: skip


def summarise(samples, elapsed: float) -> dict:
    """Throughput, percentiles (all and per command), timeouts, late answers, errors."""
    kinds = sorted({s[0] for s in samples})
    return {
        "requests": len(samples),
        "per_second": round(len(samples) / elapsed, 1),
        "timeouts": sum(1 for s in samples if s[2] == "timeout"),
        "late": sum(1 for s in samples if s[2] == "late"),
        "errors": sorted({s[2] for s in samples if s[2] not in ("ok", "late", "timeout")}),
        **_pct([s[1] for s in samples]),
        "by_kind": {k: _pct([s[1] for s in samples if s[0] == k]) for k in kinds},
    }


def start_servers(count: int, args) -> tuple[list[Child], list[str]]:
    """`count` `mihub web` processes on one fresh data dir (and database, if given)."""
    data = Path(tempfile.mkdtemp(prefix="mihub-teams-bench-"))
    policy = data / "policy.yaml"  # the example, without the hourly per-sender report limit
    text = (ROOT / "policy.yaml").read_text()
    policy.write_text(
        text.replace("rate_per_sender_per_hour: 30", "rate_per_sender_per_hour: 999999")
    )
    if args.database_url:
        fresh_schema(args.database_url)
    servers, bases = [], []
    for _ in range(count):
        port = free_port()
        env = dict(os.environ, HUB_DATA_DIR=str(data), HUB_HTTP=f"127.0.0.1:{port}",
                   HUB_POLICY=str(policy), HUB_LOG_LEVEL="WARNING",
                   HUB_TEAMS_OUTGOING_SECRET=SECRET)  # fmt: skip
        for name, value in (("HUB_DATABASE_URL", args.database_url),
                            ("HUB_QUEUE_URL", args.queue_url)):  # fmt: skip
            env.pop(name, None)
            if value:
                env[name] = value
        servers.append(start_mihub("web", env=env, cwd=ROOT, log=data / f"web-{port}.log"))
        bases.append(f"http://127.0.0.1:{port}")
        try:
            wait_healthy(bases[-1], servers[-1], timeout=60, interval=0.1)
        except (ProcessExited, WaitTimeout) as exc:
            raise SystemExit(str(exc)) from exc
    return servers, bases


def fresh_schema(url: str) -> None:
    """An empty PostgreSQL schema named by the URL's `search_path` option (created if absent)."""
    from urllib.parse import parse_qs, unquote, urlsplit

    from sqlalchemy import create_engine, text

    options = unquote(parse_qs(urlsplit(url).query).get("options", [""])[0])
    schema = options.split("search_path=", 1)[1].split()[0] if "search_path=" in options else None
    if not schema or not schema.replace("_", "").isalnum():
        return
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    engine.dispose()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument("--rounds", type=int, default=20, help="burst phase: rounds of sends")
    ap.add_argument("--seconds", type=float, default=30, help="paced and saturation phases")
    ap.add_argument("--web-processes", type=int, default=1)
    ap.add_argument("--database-url", default=None)
    ap.add_argument("--queue-url", default=None)
    args = ap.parse_args()
    servers, bases = start_servers(args.web_processes, args)
    try:
        setup = Sender(bases[0])
        for k in range(INCIDENTS):
            assert (
                setup.send(f"declare suspected breach on bench host {k}", DECLARERS[0])[1] == "ok"
            )
        run(bases, mixed, 4, "burst", 10)  # warm up every process
        result = {"clients": args.clients, "web_processes": args.web_processes,
                  "cpus": os.cpu_count(), "load_before": os.getloadavg()[0],
                  "database": (args.database_url or "sqlite").split(":")[0]}  # fmt: skip
        n = args.clients
        result["alone"] = run(bases, mixed, 1, "closed", args.seconds / 3)
        result["burst"] = run(bases, mixed, n, "burst", args.rounds)
        result["burst_light"] = run(bases, light, n, "burst", args.rounds)
        result["paced"] = run(bases, mixed, n, "paced", args.seconds)
        result["saturation"] = run(bases, mixed, n, "closed", args.seconds / 2)
        result["declares"] = run(bases, declares, n, "burst", 1)
        result["load_after"] = os.getloadavg()[0]
    finally:
        for server in servers:
            server.stop(signal.SIGTERM, timeout=30)
    print(json.dumps(result, indent=2))
    for phase in ("alone", "burst", "burst_light", "paced", "saturation", "declares"):
        r = result[phase]
        print(f"{phase}: {r['requests']} requests, {r['per_second']}/s, p50 {r['p50_ms']} ms, "
              f"p99 {r['p99_ms']} ms, max {r['max_ms']} ms, timeouts {r['timeouts']}, "
              f"late {r['late']}, errors {r['errors'] or 'none'}")  # fmt: skip


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()
