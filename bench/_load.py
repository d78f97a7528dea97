"""A small closed-loop HTTP load generator: N clients with keep-alive, latencies per request."""

from __future__ import annotations

import http.client
import json
import os
import statistics
import threading
import time
from contextlib import suppress
from pathlib import Path
from urllib.parse import urlsplit

TICKS = os.sysconf("SC_CLK_TCK")


def tree(pid: int) -> list[int]:
    """The process and all its descendants."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        for task in Path(f"/proc/{p}/task").glob("*"):
            with suppress(OSError):
                todo += [int(c) for c in (task / "children").read_text().split()]
    return out


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU seconds the processes have used so far (ended ones count 0)."""
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
    latencies.sort()
    q = statistics.quantiles(latencies, n=100)
    return {
        "requests": len(latencies),
        "errors": len(errors),
        "seconds": round(elapsed, 2),
        "per_second": round(len(latencies) / elapsed, 1),
        "p50_ms": round(q[49] * 1000, 1),
        "p99_ms": round(q[98] * 1000, 1),
    }
