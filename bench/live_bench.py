"""Live rooms: Server-Sent Events clients vs. the 10 s polling fallback, on `mihub web`.

    .venv/bin/python bench/live_bench.py [--clients 200] [--incidents 20] [--seconds 60]

Starts `mihub web` (gunicorn, its default workers and threads) on the embedded default
(SQLite) in its own process tree, opens 20 incidents, then runs two phases with the same
load of one update per second through the API, round robin over the incidents:

1. `--clients` rooms, each an open event stream (`/incidents/INC-n/events`), spread evenly
   over the incidents: the delay from the API's 200 to the update's event at every room
   that shows the incident (p50/p99/max), the streams refused, the web processes' CPU per
   open connection and their memory with and without the streams;
2. the same clients polling the room page every 10 s (the fallback), staggered: requests,
   bytes and how stale a room is when its poll first shows an update.

Prints one JSON document; exits 1 when the p99 delay is above one second.
"""

from __future__ import annotations

import argparse
import http.client
import json
import signal
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._load import cpu_seconds, machine, percentiles, rss_mib, tree, web_env  # noqa: E402
from hub.testing.harness import create_token, free_port, start_mihub, wait_healthy  # noqa: E402
from hub.testing.sse import EventStream, console_cookie, open_web_session  # noqa: E402


class Updater:
    """One update a second through the API, round robin; remembers when each got its 200."""

    def __init__(self, base: str, token: str, refs: list[str]):
        self.parts, self.token, self.refs = urlsplit(base), token, refs
        # (ref, monotonic when sent, monotonic at the 200, n)
        self.answered: list[tuple[str, float, float, int]] = []

    def run(self, seconds: float) -> None:
        conn = http.client.HTTPConnection(self.parts.hostname, self.parts.port, timeout=30)
        start = time.monotonic()
        for n in range(int(seconds)):
            time.sleep(max(0.0, start + n - time.monotonic()))
            ref = self.refs[n % len(self.refs)]
            body = json.dumps({"text": f"Update {n}: still working on it."})
            sent = time.monotonic()
            conn.request(
                "POST",
                f"/api/v1/incidents/{ref}/updates",
                body=body,
                headers={
                    "Authorization": f"Bearer {self.token}",
                    "Content-Type": "application/json",
                },
            )
            answer = conn.getresponse()
            answer.read()
            if answer.status in (200, 201):
                self.answered.append((ref, sent, time.monotonic(), n))
        conn.close()


def sse_phase(base, cookie, refs, clients, seconds, updater, web_pid) -> dict:
    streams, refused, lock = [], [0], threading.Lock()
    arrivals: list[tuple[str, float]] = []  # (ref, monotonic) of each update event

    def room(i: int) -> None:
        ref = refs[i % len(refs)]
        for _attempt in range(30):
            s = EventStream(f"{base}/incidents/{ref}/events", cookie=cookie, timeout=60)
            if s.status == 200:
                break
            with lock:
                refused[0] += 1
            s.close()
            time.sleep(1.0)  # the page waits, then tries again
        else:
            return
        with lock:
            streams.append(s)
        try:
            while True:
                event = s.next()
                if event is None:
                    return
                if event.event == "change" and json.loads(event.data)["kind"] == "update":
                    with lock:
                        arrivals.append((ref, event.at))
        except (OSError, ValueError, AttributeError):  # closed at the end of the phase
            return

    pids = tree(web_pid)
    idle_rss = rss_mib(pids)
    threads = [threading.Thread(target=room, args=(i,), daemon=True) for i in range(clients)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 60
    while len(streams) < clients and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(1.0)
    pids = tree(web_pid)
    open_rss, cpu0, t0 = rss_mib(pids), cpu_seconds(pids), time.monotonic()
    updater.run(seconds)
    time.sleep(1.5)
    cpu = cpu_seconds(tree(web_pid)) - cpu0
    elapsed = time.monotonic() - t0
    received = sum(s.bytes for s in streams)
    for s in streams:
        s.close()
    delays, missing, extra = [], 0, 0
    per_ref = {}
    for ref, at in arrivals:
        per_ref.setdefault(ref, []).append(at)
    answered = updater.answered
    for i, (ref, sent, at200, _n) in enumerate(answered):
        # an update's events arrive after it was sent and before the incident's next one
        # was (an event may come before the 200 is read: a delay below zero)
        later = [a for a in answered[i + 1 :] if a[0] == ref]
        until = later[0][1] if later else float("inf")
        got = [a for a in per_ref.get(ref, []) if sent <= a < until]
        rooms = sum(1 for j in range(clients) if refs[j % len(refs)] == ref)
        delays += [a - at200 for a in got]
        missing += max(0, rooms - len(got))
        extra += max(0, len(got) - rooms)
    return {
        "streams_open": len(streams),
        "refused_503": refused[0],
        "updates": len(answered),
        "events_expected": len(answered) * clients // len(refs),
        "events_missing": missing,
        "events_unmatched": extra,
        "delay": percentiles(delays, (50, 99)),
        "web_cpu_s": round(cpu, 2),
        "web_cpu_percent_of_one_core": round(100 * cpu / elapsed, 1),
        "web_cpu_ms_per_connection_per_minute": round(1000 * cpu / len(streams) * 60 / elapsed, 2)
        if streams
        else None,
        "web_rss_mib_before": idle_rss,
        "web_rss_mib_with_streams": open_rss,
        "web_rss_kib_per_connection": round((open_rss - idle_rss) * 1024 / max(1, len(streams)), 1),
        "requests": len(streams) + refused[0],
        "bytes_received": received,
    }


def poll_phase(base, cookie, refs, clients, seconds, updater, web_pid) -> dict:
    parts = urlsplit(base)
    stop = threading.Event()
    seen: list[tuple[str, float]] = []  # (ref, monotonic when a poll answered)
    totals = {"requests": 0, "bytes": 0, "errors": 0}
    lock = threading.Lock()

    def room(i: int) -> None:
        ref = refs[i % len(refs)]
        time.sleep(10.0 * i / clients)  # pages opened at different moments
        while not stop.is_set():
            started = time.monotonic()
            # a new connection each time, as a browser after the server's 2 s keep-alive
            conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
            try:
                conn.request("GET", f"/incidents/{ref}", headers={"Cookie": cookie})
                answer = conn.getresponse()
                body = answer.read()
                status = answer.status
            except OSError as exc:
                body, status = b"", type(exc).__name__
            finally:
                conn.close()
            with lock:
                totals["requests"] += 1
                totals["bytes"] += len(body)
                if status == 200:
                    seen.append((ref, time.monotonic()))
                else:
                    totals["errors"] += 1
                    totals[f"status_{status}"] = totals.get(f"status_{status}", 0) + 1
            stop.wait(max(0.0, 10.0 - (time.monotonic() - started)))

    threads = [threading.Thread(target=room, args=(i,), daemon=True) for i in range(clients)]
    for t in threads:
        t.start()
    time.sleep(10.5)  # every room has polled once
    pids = tree(web_pid)
    cpu0, t0 = cpu_seconds(pids), time.monotonic()
    with lock:
        before = dict(totals)
    before.setdefault("requests", 0)
    updater.run(seconds)
    with lock:
        during = {k: totals[k] - before.get(k, 0) for k in totals}
    cpu = cpu_seconds(tree(web_pid)) - cpu0
    elapsed = time.monotonic() - t0
    time.sleep(10.5)  # the last updates are seen by every room
    stop.set()
    for t in threads:
        t.join(timeout=15)
    # every room of the incident: its own first poll after the update
    staleness = []
    per_ref_polls: dict[str, list[float]] = {}
    for r, at in seen:
        per_ref_polls.setdefault(r, []).append(at)
    rooms_per_ref = clients // len(refs)
    for ref, _sent, at200, _n in updater.answered:
        after = sorted(a for a in per_ref_polls.get(ref, []) if a > at200)[:rooms_per_ref]
        staleness += [a - at200 for a in after]
    return {
        "requests": during["requests"],
        "bytes_received": during["bytes"],
        "errors": during["errors"],
        "error_statuses": {k: v for k, v in during.items() if k.startswith("status_")},
        "staleness": percentiles(staleness, (50, 99)),
        "web_cpu_s": round(cpu, 2),
        "web_cpu_percent_of_one_core": round(100 * cpu / elapsed, 1),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clients", type=int, default=200)
    ap.add_argument("--incidents", type=int, default=20)
    ap.add_argument("--seconds", type=int, default=60)
    args = ap.parse_args()
    from hub import create_app
    from hub.app.context import Hub
    from hub.app.settings import load_settings

    data = Path(tempfile.mkdtemp(prefix="mihub-live-bench-"))
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = web_env(
        data,
        port,
        HUB_SECRET_KEY="live-bench",
        HUB_MAIL_TRANSPORT="sink",
        HUB_TEAMS_TRANSPORT="sink",
    )
    web = start_mihub("web", env=env, cwd=ROOT, log=data / "web.log")
    try:
        wait_healthy(base, web, timeout=120)
        token = create_token("anna", env=env, cwd=ROOT)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        refs = []
        for n in range(args.incidents):
            conn.request(
                "POST",
                "/api/v1/incidents",
                body=json.dumps(
                    {
                        "title": f"Outage {n} of an unlisted system",
                        "impact": "outage",
                        "affected_users": 500 + n,
                        "reporter": f"reporter{n}@northwind.example",
                    }
                ),
                headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
            )
            answer = conn.getresponse()
            created = json.loads(answer.read())
            if created["id"] not in refs:
                refs.append(created["id"])
        conn.close()
        settings = load_settings(env=env)
        hub = Hub(settings)
        cookie = console_cookie(create_app({}, hub=hub), open_web_session(hub, "anna"))
        hub.db.dispose()
        sse = sse_phase(
            base, cookie, refs, args.clients, args.seconds, Updater(base, token, refs), web.proc.pid
        )
        poll = poll_phase(
            base, cookie, refs, args.clients, args.seconds, Updater(base, token, refs), web.proc.pid
        )
    finally:
        web.stop(signal.SIGTERM, timeout=60)
    result = {
        "clients": args.clients,
        "incidents": len(refs),
        "seconds": args.seconds,
        "database": "sqlite",
        **machine(),
        "sse": sse,
        "polling_10s": poll,
        "polling_vs_sse": {
            "requests": round(poll["requests"] / max(1, sse["requests"]), 1),
            "bytes": round(poll["bytes_received"] / max(1, sse["bytes_received"]), 1),
        },
        "ok": (sse["delay"]["p99_ms"] or 1e9) <= 1000 and sse["events_missing"] == 0,
    }
    print(json.dumps(result, indent=2))
    sys.exit(0 if result["ok"] else 1)


if __name__ == "__main__":
    main()
