"""The benchmarks' kit: closed-loop HTTP load, percentiles, timing calls, the machine's load,
a fresh in-process hub, and `mihub web`'s server with a one-row insert route (the ceiling).

The ceiling: `/bench/insert` inserts one row into the hub's database and commits, on the same
server as the route measured, so a benchmark reports its route's rate as a ratio to the
cheapest durable write, which a busy shared machine slows as much as the route itself.
"""

from __future__ import annotations

import http.client
import json
import os
import threading
import time
from contextlib import suppress
from pathlib import Path
from urllib.parse import urlsplit

from hub.cli.processes import worker as _worker_command

# `mihub worker`'s own default thread count: a worker is measured as it is deployed (with
# fewer threads than that, one worker is bound by its threads' latency, not by its CPU, and
# the ratio of two to one says more about the thread count than about a second process).
WORKER_THREADS = next(p.default for p in _worker_command.params if p.name == "workers")

ROOT = Path(__file__).resolve().parent.parent
CEILING = "/bench/insert"


def percentile(values, q: float) -> float | None:
    """The `q`-th percentile (0–100) of `values`, nearest rank; None when there are none."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]


def percentiles(seconds, points=(50, 95, 99)) -> dict:
    """`n`, `pNN_ms` and `max_ms` of durations in seconds, rounded to 0.1 ms."""
    ordered = sorted(seconds)
    found = {"n": len(ordered)}
    for q in (*points, 100):
        value = percentile(ordered, q)
        found["max_ms" if q == 100 else f"p{q}_ms"] = (
            None if value is None else round(value * 1000, 1)
        )
    return found


def machine() -> dict:
    """The CPUs and the load average (1, 5, 15 minutes): every figure is printed with them."""
    return {"cpus": os.cpu_count(), "load_average": [round(x, 1) for x in os.getloadavg()]}


TICKS = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


def tree(pid: int) -> list[int]:
    """The process and all its descendants (Linux /proc)."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        for task in Path(f"/proc/{p}/task").glob("*"):
            with suppress(OSError):
                todo += [int(c) for c in (task / "children").read_text().split()]
    return out


def cpu_seconds(pids: list[int]) -> float:
    """CPU time (user + system) the processes have used so far: a cost that a busy machine
    inflates far less than wall-clock time."""
    total = 0
    for p in pids:
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / TICKS


def machine_busy_seconds() -> float:
    """CPU seconds all cores of this machine have spent busy (not idle, not waiting on I/O)."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (sum(fields[:8]) - fields[3] - fields[4]) / TICKS


def rss_mib(pids: list[int]) -> float:
    """The processes' resident memory, MiB."""
    total = 0
    for p in pids:
        try:
            total += int(Path(f"/proc/{p}/statm").read_text().split()[1]) * PAGE
        except OSError:
            continue
    return round(total / 2**20, 1)


def timed(into: tuple[list, list], func, *args):
    """Run func(*args), appending its wall time and this thread's CPU time; its result."""
    t0, c0 = time.perf_counter(), time.thread_time()
    result = func(*args)
    into[0].append(time.perf_counter() - t0)
    into[1].append(time.thread_time() - c0)
    return result


def time_requests(get, count: int, before=None, warm_up: int = 10) -> dict:
    """Call `get()` `count` times after `warm_up` calls; wall-clock percentiles, and under
    `cpu` those of the CPU time of this thread (which a busy shared machine does not inflate
    much; in-process calls only)."""
    for _ in range(warm_up):  # templates compiled, connections pooled
        get()
    wall, cpu = [], []
    for _ in range(count):
        if before:
            before()
        timed((wall, cpu), get)
    return {**percentiles(wall), "cpu": percentiles(cpu)}


def run_clients(client, args, gate: threading.Barrier) -> float:
    """Run `client(arg)` in a thread per arg; seconds from `gate` opening until all are done.

    Each client waits on `gate` (made for one more party than there are clients) once it is
    ready, so that setting up (connecting) is not timed.
    """
    threads = [threading.Thread(target=client, args=(arg,)) for arg in args]
    for t in threads:
        t.start()
    gate.wait()
    started = time.perf_counter()
    for t in threads:
        t.join()
    return time.perf_counter() - started


def run_load(
    base: str,
    path: str,
    body_fn,
    *,
    clients: int,
    requests_per_client: int,
    headers: dict | None = None,
    expect=(200, 201),
) -> dict:
    """POST `body_fn(i)` to `path` from `clients` threads; returns throughput and percentiles."""
    parts = urlsplit(base)
    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    start_gate = threading.Barrier(clients + 1)

    def client(cid: int) -> None:
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
        mine, bad = [], []
        start_gate.wait()
        for n in range(requests_per_client):
            payload = json.dumps(body_fn(cid * requests_per_client + n)).encode()
            t0 = time.perf_counter()
            try:
                conn.request(
                    "POST",
                    path,
                    body=payload,
                    headers={"Content-Type": "application/json", **(headers or {})},
                )
                resp = conn.getresponse()
                resp.read()
                if resp.status not in expect:
                    bad.append(str(resp.status))
            except (OSError, http.client.HTTPException) as exc:
                bad.append(type(exc).__name__)
                conn.close()
                conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
            mine.append(time.perf_counter() - t0)
        conn.close()
        with lock:
            latencies.extend(mine)
            errors.extend(bad)

    elapsed = run_clients(client, range(clients), start_gate)
    found = percentiles(latencies)
    return {
        "requests": found.pop("n"),
        "errors": len(errors),
        "seconds": round(elapsed, 2),
        "per_second": round(len(latencies) / elapsed, 1),
        **found,
    }


def web_env(data: Path, port: int, policy: Path | None = None, **settings: str) -> dict:
    """The environment of a `mihub` process on the embedded default in `data`, listening on
    `port`, with `policy` (the example by default) and further `HUB_*` settings."""
    env = dict(
        os.environ,
        HUB_DATA_DIR=str(data),
        HUB_HTTP=f"127.0.0.1:{port}",
        HUB_POLICY=str(policy or ROOT / "policy.yaml"),
        HUB_LOG_LEVEL="WARNING",
        **settings,
    )
    env.pop("HUB_DATABASE_URL", None)
    env.pop("HUB_QUEUE_URL", None)
    return env


def serve_with_ceiling() -> None:
    """In a child process started with `web_env`: `mihub web`'s server (gunicorn, the app
    built in each worker process after the fork) plus the route `CEILING`."""
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

    def make_app():
        worker_hub = web_worker_hub(hub)
        app = create_app(hub=worker_hub)

        @app.post(CEILING)
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


def in_process_hub(data: Path, database_url: str | None = None):
    """A hub on a fresh migrated database in `data` (SQLite unless `database_url`), with the
    example policy and an in-memory queue, for benchmarks that call the app in-process."""
    os.environ.setdefault("HUB_QUEUE_URL", "memory://")
    from hub.app.context import Hub
    from hub.app.migrate import upgrade
    from hub.app.settings import load_settings

    url = database_url or f"sqlite:///{data / 'hub.db'}"
    upgrade(url)
    settings = load_settings(
        overrides={
            "HUB_DATA_DIR": str(data),
            "HUB_DATABASE_URL": url,
            "HUB_POLICY": str(ROOT / "policy.yaml"),
        }
    )
    return Hub(settings)
