"""Scale-out on PostgreSQL + Redis: one process against two, for the API and for delivery.

    .venv/bin/python bench/scaleout_bench.py [--clients 16] [--requests 40] [--recipients 1000]
        [--rounds 3] [--api-only | --delivery-only] [--relay native|python|aiosmtpd]
        [--worker-threads 8]
        [--database-url postgresql+psycopg://postgres@127.0.0.1:5432/test]
        [--queue-url redis://127.0.0.1:6379/15]

Runs in a schema of its own (dropped at the end) and a Huey queue of its own (its keys deleted).

1. API: two `mihub web` processes (HUB_WEB_WORKERS=1: one server process each) on one
   database. Closed-loop clients POST /api/v1/incidents first to one process only, then
   split over both, in --rounds alternated rounds; throughput and p99 of each, the ratio
   two / one (the round with the median ratio), and the CPU milliseconds per request of the
   web processes, their PostgreSQL backends, the load client and everything else on the
   machine, with the ceiling those set on the ratio (see CpuMeter).
2. Delivery: one `mihub web` and one `mihub worker`; a SEV1 whose stakeholder audience is
   --recipients email addresses, through an SMTP relay that waits --relay-ms (10) before each
   250, in a process of its own: bench/_relay.c compiled with the system's C compiler
   (--relay native, the default since 2026-12-07: 0.13–0.17 ms of CPU a message in this
   bench's runs, about half of the Python relay's) or bench/_relay.py (--relay python; until 2026-12-06 21:30 the
   only one, one asyncio loop then, one thread per connection since); or the tests' aiosmtpd
   sink (hub.testing.fakes.smtp_sink) in the bench's process (--relay aiosmtpd). The relay
   stands for the mail server the hub hands messages to, which in production runs on a machine
   of its own: on this bench's two cores its CPU is taken from the workers measured, so it is
   kept as small as it can be while it still waits before each 250 and records every message.
   All three record the same (recipient, Message-ID) of every message. Throughput from
   the first to the last stakeholder message at the relay. Then a second `mihub worker` joins and a second SEV1 is declared;
   the same figure with two workers, and the ratio; in --rounds rounds (the second worker
   stopped between them), the round with the median ratio. Also, per message, the CPU time
   of the workers, the web process, the PostgreSQL backends, this process (the counting), the
   relay and the rest of the machine, and how many messages each worker sent (by the
   relay's client ports). Every (recipient, Message-ID) is counted: a duplicate is reported
   (and makes the exit status 1). The relay's messages are counted incrementally (headers
   only), so the bench's own CPU stays small next to what it measures.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from email.parser import BytesHeaderParser
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import redis  # noqa: E402
import requests  # noqa: E402
from sqlalchemy import create_engine, text  # noqa: E402

from bench._load import WORKER_THREADS, cpu_seconds, machine_busy_seconds, run_load, tree  # noqa: E402
from hub.app.migrate import upgrade  # noqa: E402
from hub.demo import DEMO_POLICY  # noqa: E402
from hub.testing.fakes.smtp_sink import SmtpSink  # noqa: E402
from hub.testing.fakes.teams import FakeTeams  # noqa: E402
from hub.testing.harness import (  # noqa: E402
    create_token,
    free_port,
    run_mihub,
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


class StakeholderMail:
    """(recipient, Message-ID, arrival time) of every stakeholder message at the relay, by
    incident. Incremental: each look reads only the messages that arrived since the last one,
    so the bench's polling (every 0.2 s) costs O(new messages) of the bench process's CPU, not
    O(all messages) — on two cores, re-parsing every message at every look took CPU from the
    workers it measures. From the relay process's file (bench/_relay.c or .py: one line a message,
    the Message-ID and incident read from the message's header block) or, with
    `--relay aiosmtpd`, from the in-process sink's messages (their headers parsed here)."""

    def __init__(self, sink):
        self.sink, self.seen = sink, 0
        self.by_incident: dict[str, list[tuple[str, str, float]]] = {}
        self.peers: dict[str, Counter] = {}  # incident -> messages per client port
        self.parser = BytesHeaderParser()  # compat32: a third of the CPU of policy.default
        self.partial = b""

    def _new(self):
        """(incident, Message-ID, recipients, client port, arrival time) of each new message."""
        if isinstance(self.sink, RelayProcess):
            with open(self.sink.out, "rb") as f:
                f.seek(self.seen)
                chunk = f.read()
            self.seen += len(chunk)
            lines = (self.partial + chunk).split(b"\n")
            self.partial = lines.pop()  # a line not complete yet
            for line in lines:
                at, port, mid, incident, rcpts = line.decode().split("\t")
                yield incident, mid, rcpts.split(","), int(port), float(at)
            return
        new = self.sink.messages[self.seen :]
        self.seen += len(new)
        for m in new:
            msg = self.parser.parsebytes(m.data)
            yield str(msg["X-Mihub-Incident"]), str(msg["Message-ID"]), m.rcpt_tos, m.peer[1], m.at

    def _update(self) -> None:
        for incident, mid, rcpts, port, at in self._new():
            found = self.by_incident.setdefault(incident, [])
            peers = self.peers.setdefault(incident, Counter())
            for rcpt in rcpts:
                if rcpt.lower().startswith("exec"):
                    found.append((rcpt.lower(), mid, at))
                    peers[port] += 1

    def of(self, incident: str, at: list | None = None) -> list[tuple[str, str]]:
        """(recipient, Message-ID) of `incident`'s stakeholder messages (their arrival times
        appended to `at` when given)."""
        self._update()
        found = self.by_incident.get(incident, [])
        if at is not None:
            at.extend(t for _, _, t in found)
        return [(r, mid) for r, mid, _ in found]

    def count(self, incident: str) -> int:
        self._update()
        return len({(r, mid) for r, mid, _ in self.by_incident.get(incident, [])})


class RelayProcess:
    """The relay in a process of its own (its CPU counted as the relay's): bench/_relay.c
    compiled with the system's C compiler (`native`), or bench/_relay.py (`python`)."""

    def __init__(self, accept_delay: float, directory: Path, kind: str = "native"):
        self.port = free_port()
        self.out = directory / "relay.tsv"
        self.out.touch()
        if kind == "native":
            binary = directory / "relay"
            compiler = shutil.which(os.environ.get("CC", "cc"))
            if compiler is None:
                raise SystemExit("no C compiler for the native relay: use --relay python")
            subprocess.run(
                [compiler, "-O2", "-pthread", "-o", str(binary), str(ROOT / "bench" / "_relay.c")],
                check=True,
            )
            command = [str(binary)]
        else:
            command = [sys.executable, "-m", "bench._relay"]
        self.proc = subprocess.Popen(
            [
                *command,
                "--port",
                str(self.port),
                "--accept-ms",
                str(accept_delay * 1000),
                "--out",
                str(self.out),
            ],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout.readline().strip() == "ready", "the relay did not start"
        self.url = f"smtp://127.0.0.1:{self.port}"
        self.pid = self.proc.pid

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def local_ports(pids: list[int]) -> set[int]:
    """The local TCP ports of the sockets these processes hold open (from /proc)."""
    inodes = set()
    for pid in pids:
        try:
            for fd in os.listdir(f"/proc/{pid}/fd"):
                with contextlib.suppress(OSError):
                    link = os.readlink(f"/proc/{pid}/fd/{fd}")
                    if link.startswith("socket:["):
                        inodes.add(link[8:-1])
        except OSError:
            continue
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError), open(table) as f:
            for line in list(f)[1:]:
                fields = line.split()
                if fields[9] in inodes:
                    ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


class CpuMeter:
    """Where the CPU goes during a load run: the web processes, the PostgreSQL backends of the
    bench's own connections (`application_name`), this process (the load client), and the
    whole machine (other work included), as CPU milliseconds per request."""

    def __init__(self, webs, admin, app_name: str, relay_pid: int | None = None):
        self.webs, self.admin, self.app_name = webs, admin, app_name
        self.relay_pid = relay_pid  # the relay's own process (delivery), if it has one

    def _backends(self) -> dict[int, float]:
        with self.admin.connect() as conn:
            pids = conn.scalars(
                text("SELECT pid FROM pg_stat_activity WHERE application_name = :n"),
                {"n": self.app_name},
            ).all()
        return {pid: cpu_seconds([pid]) for pid in pids}

    def snapshot(self) -> dict:
        return {
            "web": cpu_seconds([p for w in self.webs for p in tree(w.proc.pid)]),
            "postgres": self._backends(),
            "client": time.process_time(),
            "relay": cpu_seconds([self.relay_pid]) if self.relay_pid else 0.0,
            "machine": machine_busy_seconds(),
            "at": time.perf_counter(),
        }

    def per_request(self, before: dict, after: dict, requests: int) -> dict:
        pg = sum(v - before["postgres"].get(pid, 0.0) for pid, v in after["postgres"].items())
        parts = {
            "web": after["web"] - before["web"],
            "postgres": pg,
            "client": after["client"] - before["client"],
            "relay": after["relay"] - before["relay"],
        }
        machine = after["machine"] - before["machine"]
        out = {f"{k}_ms": round(1000 * v / requests, 2) for k, v in parts.items()}
        out["other_ms"] = round(1000 * (machine - sum(parts.values())) / requests, 2)
        out["cores_busy"] = round(machine / (after["at"] - before["at"]), 2)
        return out


def metered(meter: CpuMeter, run) -> dict:
    """`run()`'s result with the CPU per request of each party added under "cpu"."""
    before = meter.snapshot()
    result = run()
    result["cpu"] = meter.per_request(before, meter.snapshot(), result["requests"])
    return result


def api_part(
    env, token, clients: int, per_client: int, admin=None, app_name="", n_rounds: int = 3
) -> dict:
    """Rounds of one process then two; the round with the median ratio, and every ratio."""
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
        meter = CpuMeter(webs, admin, app_name)
        rounds = []
        for _ in range(n_rounds):  # alternated: a change in the machine's load hits both
            one = metered(
                meter,
                lambda: run_load(
                    bases[0],
                    "/api/v1/incidents",
                    incident,
                    clients=clients,
                    requests_per_client=per_client,
                    headers=auth,
                ),
            )
            two = metered(meter, lambda: _split_load(bases, incident, clients, per_client, auth))
            rounds.append((one, two))
            print(
                f"  API round {len(rounds)}: 1 process {one['per_second']}/s, 2 processes "
                f"{two['per_second']}/s, ratio {two['per_second'] / one['per_second']:.2f}x, "
                f"load average {os.getloadavg()[0]:.1f}",
                file=sys.stderr,
            )
    finally:
        for child in webs:
            child.stop(signal.SIGTERM, timeout=30)
    ratios = sorted(two["per_second"] / one["per_second"] for one, two in rounds)
    one, two = sorted(rounds, key=lambda r: r[1]["per_second"] / r[0]["per_second"])[
        len(rounds) // 2
    ]
    return {"one": one, "two": two, "ratios": ratios}


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


def delivery_part(
    env,
    token,
    sink,
    recipients: int,
    threads: int,
    admin=None,
    app_name: str = "",
    n_rounds: int = 1,
) -> dict:
    """Rounds of one worker then two (the second worker started for its run and stopped
    after it); the round with the median ratio, and every ratio."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = dict(env, HUB_HTTP=f"127.0.0.1:{port}", HUB_SMTP_LISTEN=f"127.0.0.1:{free_port()}")
    web = start_mihub("web", env=env, cwd=ROOT, quiet=True)
    procs = [web]
    mail = StakeholderMail(sink)
    rounds = []
    try:
        wait_healthy(base, web, timeout=90)
        for i in range(max(1, n_rounds)):
            runs = {}
            for n in (1, 2):
                procs.append(
                    start_mihub("worker", "--workers", str(threads), env=env, cwd=ROOT, quiet=True)
                )
                time.sleep(8)  # the new worker is up and polling (not part of the figure)
                for p in procs:
                    p.check_alive()
                runs[n] = _declare_and_count(
                    base, token, mail, web, procs[1:], recipients, f"{i + 1}.{n}", admin, app_name
                )
                print(f"  delivery, {n} worker(s): {runs[n]}", file=sys.stderr)
            for p in procs[1:]:  # the next round starts with one worker again
                p.send_signal(signal.SIGINT)
            for p in procs[1:]:
                p.stop(timeout=30)
            del procs[1:]
            rounds.append((runs[1], runs[2]))
            print(
                f"  delivery round {len(rounds)}: 1 worker {runs[1]['per_second']}/s, 2 workers "
                f"{runs[2]['per_second']}/s, ratio "
                f"{runs[2]['per_second'] / runs[1]['per_second']:.2f}x, "
                f"load average {os.getloadavg()[0]:.1f}",
                file=sys.stderr,
            )
    finally:
        for p in procs:
            p.send_signal(signal.SIGINT)
        for p in procs:
            p.stop(timeout=30)
    ratios = sorted(two["per_second"] / one["per_second"] for one, two in rounds)
    one, two = sorted(rounds, key=lambda r: r[1]["per_second"] / r[0]["per_second"])[
        len(rounds) // 2
    ]
    return {1: one, 2: two, "ratios": ratios, "rounds": rounds, "threads": threads}


def _declare_and_count(
    base, token, mail, web, workers, recipients: int, label: str, admin, app_name
) -> dict:
    """Declare a SEV1 and count its stakeholder messages at the relay."""
    relay_pid = getattr(mail.sink, "pid", None)
    meter = CpuMeter(workers, admin, app_name, relay_pid) if admin is not None else None
    before = meter.snapshot() if meter else None
    web_before = cpu_seconds(tree(web.proc.pid))
    t0 = time.perf_counter()
    r = requests.post(
        f"{base}/api/v1/incidents",
        json={
            "title": f"Payroll is down ({label})",
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
        lambda: mail.count(ref) >= recipients,
        timeout=900,
        interval=0.2,
        what=f"{recipients} stakeholder messages",
    )
    seconds = time.perf_counter() - t0
    cpu = meter.per_request(before, meter.snapshot(), recipients) if meter else {}
    # Which worker sent what: the relay saw each message's client port, and each worker's
    # pooled SMTP connections are still open.
    peers = mail.peers.get(ref, Counter())
    shares = []
    for w in workers:
        ports = local_ports(tree(w.proc.pid))
        shares.append(sum(c for port, c in peers.items() if port in ports))
    if cpu:  # "web" of CpuMeter is the workers here; the web process apart
        cpu["worker_ms"] = cpu.pop("web_ms")
        web_ms = 1000 * (cpu_seconds(tree(web.proc.pid)) - web_before) / recipients
        cpu["web_ms"] = round(web_ms, 2)
        cpu["other_ms"] = round(cpu["other_ms"] - web_ms, 2)
    time.sleep(2)  # anything late (a duplicate) arrives
    times: list[float] = []
    got = Counter(mail.of(ref, times))
    sending = max(times) - min(times)  # first to last message: the delivery itself
    return {
        "workers": len(workers),
        "messages": sum(got.values()),
        "recipients": len({r for r, _ in got}),
        "duplicates": sum(c - 1 for c in got.values() if c > 1),
        "seconds": round(seconds, 2),  # from the 201: mobilisation included
        "sending_s": round(sending, 2),
        "per_second": round(recipients / sending, 1),
        "cpu": cpu,  # per message, from the 201 to the last message
        "per_worker": shares,  # stakeholder messages through each worker's SMTP connections
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clients", type=int, default=16)
    ap.add_argument("--requests", type=int, default=40, help="requests per client")
    ap.add_argument("--recipients", type=int, default=1000)
    ap.add_argument("--relay-ms", type=float, default=10.0)
    ap.add_argument(
        "--relay",
        choices=("native", "python", "aiosmtpd"),
        default="native",
        help="bench/_relay.c (compiled here) or bench/_relay.py in a process of its own, or the "
        "tests' aiosmtpd sink in this one",
    )
    ap.add_argument(
        "--worker-threads",
        type=int,
        default=WORKER_THREADS,
        help=f"threads of each `mihub worker` (default {WORKER_THREADS}: the hub's own default)",
    )
    ap.add_argument("--api-only", action="store_true", help="skip the delivery part")
    ap.add_argument("--delivery-only", action="store_true", help="skip the API part")
    ap.add_argument(
        "--rounds", type=int, default=3, help="rounds of 1 then 2 processes (API and delivery)"
    )
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
    app_name = f"mihub-bench-{tag}"  # finds the bench's PostgreSQL backends for CpuMeter
    url = f"{args.database_url}{sep}options=-csearch_path%3D{schema}&application_name={app_name}"
    data = Path(tempfile.mkdtemp(prefix="mihub-scaleout-"))
    policy = data / "policy.yaml"
    policy.write_text(bench_policy(args.recipients))
    if args.relay != "aiosmtpd":
        sink = RelayProcess(args.relay_ms / 1000, data, args.relay)
    else:
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
        # A new hub's first knowledge-base build (a worker's once-a-minute sweep makes it when
        # there is none: about a second of a worker's CPU) is done before anything is timed.
        run_mihub("publish", env=env, cwd=ROOT)
        api = delivery = None
        if not args.delivery_only:
            print("API part…", file=sys.stderr)
            api = api_part(env, token, args.clients, args.requests, admin, app_name, args.rounds)
        if not args.api_only:
            print("delivery part…", file=sys.stderr)
            delivery = delivery_part(
                env, token, sink, args.recipients, args.worker_threads, admin, app_name, args.rounds
            )
    finally:
        sink.stop()
        teams.stop()
        shutil.rmtree(data, ignore_errors=True)
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()
        client = redis.Redis.from_url(args.queue_url)
        keys = list(client.scan_iter(f"huey.*.{queue}"))
        if keys:
            client.delete(*keys)
        client.close()
    load_after = os.getloadavg()
    print(
        f"relay: {args.relay}; load average at start {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}, "
        f"at end {load_after[0]:.2f} {load_after[1]:.2f} {load_after[2]:.2f}"
    )
    if api is not None:
        print_api(api)
    if delivery is not None:
        print_delivery(delivery)


def print_api(api: dict) -> None:
    one, two = api["one"], api["two"]
    print(
        f"API create, 1 web process : {one['per_second']}/s, p99 {one['p99_ms']} ms, "
        f"{one['requests']} requests, {one['errors']} errors"
    )
    print(
        f"API create, 2 web processes: {two['per_second']}/s, p99 {two['p99_ms']} ms, "
        f"{two['requests']} requests, {two['errors']} errors"
    )
    print(
        f"  ratio 2/1: {two['per_second'] / one['per_second']:.2f}x, the median of "
        f"{', '.join(f'{r:.2f}x' for r in api['ratios'])} (goal >= 1.6x)"
    )
    for n, run in ((1, one), (2, two)):
        cpu = run["cpu"]
        print(
            f"  CPU per request, {n} web: web {cpu['web_ms']} ms, PostgreSQL "
            f"{cpu['postgres_ms']} ms, load client {cpu['client_ms']} ms, other work on the "
            f"machine {cpu['other_ms']} ms; {cpu['cores_busy']} of {os.cpu_count()} cores busy"
        )
    # The ceiling the CPU figures set, whatever else runs: one process runs Python on one
    # core at a time (at most 1000 / web ms per second); two share the cores with PostgreSQL
    # and the client (at most cores * 1000 / all ms). From the one-process run, the less
    # disturbed by contention.
    cpu, cores = one["cpu"], os.cpu_count()
    spent = cpu["web_ms"] + cpu["postgres_ms"] + cpu["client_ms"]
    print(
        f"  CPU ceiling: 1 process {1000 / cpu['web_ms']:.0f}/s, 2 processes "
        f"{1000 * cores / spent:.0f}/s ({cores} cores / {spent:.2f} ms): at best "
        f"{cores * cpu['web_ms'] / spent:.2f}x on this machine"
    )


def print_delivery(delivery: dict) -> None:
    d1, d2 = delivery[1], delivery[2]
    for d in (d1, d2):
        print(
            f"delivery, {d['workers']} worker(s) of {delivery['threads']} threads: "
            f"{d['recipients']} recipients, first to last "
            f"message {d['sending_s']} s = {d['per_second']}/s ({d['seconds']} s from the 201, "
            f"mobilisation included), {d['messages']} messages, DUPLICATES={d['duplicates']}"
        )
        print(f"  messages per worker: {d['per_worker']}")
        cpu = d["cpu"]
        if cpu:
            print(
                f"  CPU per message: workers {cpu['worker_ms']} ms, web {cpu['web_ms']} ms, "
                f"PostgreSQL {cpu['postgres_ms']} ms, bench {cpu['client_ms']} ms, "
                + (f"relay {cpu['relay_ms']} ms, " if cpu["relay_ms"] else "(the relay in it), ")
                + f"other work {cpu['other_ms']} ms; {cpu['cores_busy']} of {os.cpu_count()} "
                "cores busy"
            )
    print(
        f"  ratio 2/1: {d2['per_second'] / d1['per_second']:.2f}x, the median of "
        f"{', '.join(f'{r:.2f}x' for r in delivery['ratios'])} (goal >= 1.6x)"
    )
    cpu, cores = d1["cpu"], os.cpu_count()
    if cpu:  # what the cores allow whatever the workers do: all our CPU per message
        spent = sum(cpu[k] for k in ("worker_ms", "web_ms", "postgres_ms", "client_ms", "relay_ms"))
        print(
            f"  CPU ceiling on this machine (relay included): {1000 * cores / spent:.0f}/s "
            f"({cores} cores / {spent:.2f} ms a message) = "
            f"{1000 * cores / spent / d1['per_second']:.2f}x the one-worker figure"
        )
    if any(run["duplicates"] for both in delivery["rounds"] for run in both):
        sys.exit(1)


if __name__ == "__main__":
    main()
