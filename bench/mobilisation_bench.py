"""Mobilisation figures on the embedded default: page latency, fan-out, timer lateness.

    .venv/bin/python bench/mobilisation_bench.py                       # small: < 3 min
    .venv/bin/python bench/mobilisation_bench.py --incidents 200 --idle 60 \\
        --recipients 1000 --webhooks 10 --timers 500                     # the issue's sizes

Every part starts its own `mihub run` (web, worker, SMTP intake) on a fresh data directory,
with an in-process aiosmtpd sink (hub.testing.fakes.smtp_sink) and fake Teams webhooks
(hub.testing.fakes.teams, 4 requests/s per webhook, 429 beyond).

1. latency: declare a SEV1 incident through the API, time from the 201 answer to the first
   page (X-Mihub-Template: page) recorded by the SMTP sink; N incidents one after another,
   then one more after the worker sat idle for --idle seconds.
2. fan-out: a SEV1 declaration, then a stakeholder update posted to it (the issue's case),
   each going to --recipients email addresses and --webhooks Teams webhooks; for the update,
   time from its answer to the last message at each sink (the declaration's notice is
   reported too: its rows are written by the worker after the 201). Then, in the same run, a plain loop sends the very same messages: smtplib over one
   connection, requests.post one card after the other; the ratio plain / hub. Run twice by
   default: with a sink that answers 250 at once, and with one that waits
   --smtp-accept-ms (10) before its 250, as a relay that fsyncs its queue file does.
3. timers: --timers Timer rows on one incident, due over --spread seconds, half of them
   cancelled (as an acknowledgement does) before they are due; the running worker fires the
   rest. Lateness = fired_at - due_at; missed = still pending afterwards; wrongly fired =
   cancelled ones that fired. The rows have a kind without an action (the worker marks them
   fired): this measures the timer machinery (the worker's timer pump, Huey, claim), not an
   action.
"""

from __future__ import annotations

import argparse
import email
import os
import smtplib
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from email import policy as email_policy
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.teams_intake_bench import fresh_schema  # noqa: E402
from hub.demo import DEMO_POLICY  # noqa: E402
from hub.testing.fakes.smtp_sink import SmtpSink  # noqa: E402
from hub.testing.fakes.teams import FakeTeams  # noqa: E402
from hub.testing.harness import (  # noqa: E402
    ProcessExited,
    WaitTimeout,
    create_token,
    free_port,
    start_mihub,
    wait_healthy,
)

EXEC_LIST = "[exec@northwind.example]"
EXEC_TEAMS = '[{webhook: "https://northwind.example/workflows/executives"}]'


SCALE_OUT: dict[str, str] = {}  # --database-url / --queue-url: the scale-out configuration


def flush_redis(url: str) -> None:
    """Start from an empty Redis database (the queue of an earlier run must not leak in)."""
    import redis

    redis.Redis.from_url(url.split("?", 1)[0]).flushdb()


def pct(values: list[float], q: int) -> float:
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


def policy_text(teams: FakeTeams, recipients: int = 1, webhooks: int = 1) -> str:
    """The demo policy with slow clocks (nothing but what is measured goes out)."""
    text = (
        DEMO_POLICY.read_text()
        .replace('"https://northwind.example/workflows/oncall"', f'"{teams.webhook_url("oncall")}"')
        .replace("after: 15s", "after: 1h")
        .replace("first_update_within: 20s", "first_update_within: 1h")
        .replace("update_every: 30s", "update_every: 1h")
        .replace("ack_within: 40s", "ack_within: 1h")
        .replace("resolve_within: 3m", "resolve_within: 2h")
        .replace("review_within: 10m", "review_within: 3h")
    )
    if recipients > 1:
        addresses = ", ".join(f"exec{i:04d}@northwind.example" for i in range(recipients))
        text = text.replace(EXEC_LIST, f"[{addresses}]")
    hooks = ", ".join(
        f'{{webhook: "{teams.webhook_url(f"exec{i:02d}")}"}}' for i in range(webhooks)
    )
    assert EXEC_TEAMS in text
    return text.replace(EXEC_TEAMS, f"[{hooks}]")


class RunningHub:
    """`mihub run` on a fresh data directory; the environment is kept for `mihub token`."""

    def __init__(self, workdir: Path, sink: SmtpSink, policy: str, extra: dict | None = None):
        workdir.mkdir(parents=True, exist_ok=True)
        (workdir / "policy.yaml").write_text(policy)
        port = free_port()
        self.base = f"http://127.0.0.1:{port}"
        self.env = dict(
            os.environ,
            HUB_DATA_DIR=str(workdir / "var"),
            HUB_HTTP=f"127.0.0.1:{port}",
            HUB_SMTP_LISTEN=f"127.0.0.1:{free_port()}",
            HUB_POLICY=str(workdir / "policy.yaml"),
            HUB_MAIL_TRANSPORT="smtp",
            HUB_SMTP_URL=sink.url,
            HUB_TEAMS_TRANSPORT="webhook",
            HUB_LOG_LEVEL="WARNING",
        )
        self.env.update(extra or {})  # e.g. Graph mail (bench/delivery_bench.py)
        for name in ("HUB_DATABASE_URL", "HUB_QUEUE_URL"):
            self.env.pop(name, None)  # the embedded default, unless --database-url/--queue-url
        if SCALE_OUT.get("database_url"):
            fresh_schema(SCALE_OUT["database_url"])
            self.env["HUB_DATABASE_URL"] = SCALE_OUT["database_url"]
        if SCALE_OUT.get("queue_url"):
            self.env["HUB_QUEUE_URL"] = SCALE_OUT["queue_url"]
            flush_redis(SCALE_OUT["queue_url"])
        self.proc = start_mihub("run", env=self.env, cwd=ROOT, log=workdir / "hub.log")
        try:
            wait_healthy(self.base, self.proc, timeout=120, interval=0.3)
        except (ProcessExited, WaitTimeout) as exc:
            raise SystemExit(f"mihub run did not start: {exc}") from exc
        self.token = create_token("chloe", env=self.env, cwd=ROOT)
        self.http = requests.Session()
        self.http.headers["Authorization"] = f"Bearer {self.token}"

    def declare(self, title: str) -> tuple[str, float, float]:
        """(reference, time.time() before the request, time.time() at the 201)."""
        body = {"title": title, "services": ["payroll"], "impact": "outage", "correlate": False}
        t0 = time.time()
        r = self.http.post(f"{self.base}/api/v1/incidents", json=body, timeout=120)
        t1 = time.time()
        if r.status_code != 201:
            raise SystemExit(f"declare failed: {r.status_code} {r.text[:300]}")
        return r.json()["id"], t0, t1

    def post_update(self, ref: str, text: str) -> tuple[float, float]:
        """(time.time() before the request, time.time() at its answer)."""
        t0 = time.time()
        r = self.http.post(
            f"{self.base}/api/v1/incidents/{ref}/updates", json={"text": text}, timeout=120
        )
        t1 = time.time()
        if r.status_code != 200:
            raise SystemExit(f"update failed: {r.status_code} {r.text[:300]}")
        return t0, t1

    def stop(self) -> None:
        self.proc.stop(timeout=60)


def _headers(received) -> email.message.Message:
    return email.message_from_bytes(received.data, policy=email_policy.default)


def bench_latency(args, workdir: Path) -> dict:
    sink, teams = SmtpSink().start(), FakeTeams().start()
    hub = RunningHub(workdir / "latency", sink, policy_text(teams))
    seen = 0

    def first_page(ref: str, timeout: float = 30.0) -> float:
        nonlocal seen
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            messages = list(sink.messages)
            for m in messages[seen:]:
                msg = _headers(m)
                if msg["X-Mihub-Template"] == "page" and msg["X-Mihub-Incident"] == ref:
                    return m.at
            time.sleep(0.002)
        raise SystemExit(f"no page for {ref} within {timeout} s")

    try:
        hub.declare("warm-up")  # the first request imports and compiles; not counted
        time.sleep(2)
        seen = len(sink.messages)
        latencies = []
        for i in range(args.incidents):
            ref, _t0, t201 = hub.declare(f"Payroll is down {i}")
            latencies.append(first_page(ref) - t201)
            seen = len(sink.messages)
        time.sleep(args.idle)
        ref, _t0, t201 = hub.declare("after idle")
        idle = first_page(ref) - t201
    finally:
        hub.stop()
        sink.stop()
        teams.stop()
    return {
        "incidents": len(latencies),
        "p50_ms": round(pct(latencies, 50) * 1000),
        "p99_ms": round(pct(latencies, 99) * 1000),
        "max_ms": round(max(latencies) * 1000),
        "idle_s": args.idle,
        "after_idle_ms": round(idle * 1000),
    }


def bench_fanout(args, workdir: Path, accept_ms: float = 0.0) -> dict:
    sink, teams = SmtpSink(accept_delay=accept_ms / 1000).start(), FakeTeams().start()
    hub = RunningHub(
        workdir / f"fanout-{accept_ms:g}ms",
        sink,
        policy_text(teams, args.recipients, args.webhooks),
    )
    execs = {f"exec{i:04d}@northwind.example" for i in range(args.recipients)}
    hooks = [f"exec{i:02d}" for i in range(args.webhooks)]

    def arrived():
        deadline = time.monotonic() + 600
        while True:
            mail = [m for m in list(sink.messages) if m.rcpt_tos[0].lower() in execs]
            cards = [d for h in hooks for d in teams.deliveries("webhook", h) if d.status == 202]
            if len(mail) >= len(execs) and len(cards) >= len(hooks):
                return mail, cards
            if time.monotonic() > deadline:
                raise SystemExit(f"fan-out incomplete: {len(mail)} mails, {len(cards)} cards")
            time.sleep(0.05)

    try:
        # the declaration's notice first (its 1,000 rows are written by the worker's
        # mobilisation after the 201), then the case: a posted stakeholder update
        ref, d0, d201 = hub.declare("Payroll is down")
        declared_mail, _ = arrived()
        declared = {
            "from_201_s": round(max(m.at for m in declared_mail) - d201, 2),
            "from_request_s": round(max(m.at for m in declared_mail) - d0, 2),
        }
        time.sleep(1.0)  # the declaration's page reminders etc. are not part of the update
        sink.clear()
        teams.clear()
        t0, t201 = hub.post_update(ref, "Failing over to the standby payroll database.")
        mail, cards = arrived()
    finally:
        hub.stop()
    mail_end = max(m.at for m in mail)
    mail_start = min(m.at for m in mail)
    cards_end = max(d.at for d in cards)
    hub_429 = sum(1 for h in hooks for d in teams.deliveries("webhook", h) if d.status == 429)
    per_hook_max = max(
        _max_per_second([d.at for d in teams.deliveries("webhook", h)]) for h in hooks
    )
    bodies = [m.data for m in mail]
    envelopes = [(m.mail_from, m.rcpt_tos) for m in mail]
    card_posts = [
        (h, d.body) for h in hooks for d in teams.deliveries("webhook", h) if d.status == 202
    ]

    # the plain loop over the same sinks, same messages, in the same run
    sink.clear()
    teams.clear()
    p0 = time.time()
    smtp = smtplib.SMTP(sink.host, sink.port, timeout=30)
    for (mail_from, rcpts), data in zip(envelopes, bodies, strict=True):
        smtp.sendmail(mail_from, rcpts, data)
    smtp.quit()
    plain_mail = time.time() - p0
    p1 = time.time()
    with requests.Session() as http:
        plain_429 = 0
        for h, body in card_posts:
            if http.post(teams.webhook_url(h), json=body, timeout=30).status_code == 429:
                plain_429 += 1
    plain_cards = time.time() - p1
    sink.stop()
    teams.stop()
    hub_mail = mail_end - t201
    return {
        "smtp_accept_ms": accept_ms,
        "recipients": len(mail),
        "webhooks": len(hooks),
        "declaration_notice": declared,
        "update_request_s": round(t201 - t0, 2),
        "hub_mail_s": round(hub_mail, 2),
        "hub_mail_from_request_s": round(mail_end - t0, 2),
        "hub_mail_per_s": round(len(mail) / hub_mail, 1),
        "hub_mail_from_first_s": round(mail_end - mail_start, 2),
        "hub_cards_s": round(cards_end - t201, 2),
        "hub_cards_per_s": round(len(cards) / max(cards_end - t201, 1e-3), 1),
        "hub_429s": hub_429,
        "max_posts_in_1s_per_webhook": per_hook_max,
        "plain_mail_s": round(plain_mail, 2),
        "plain_mail_per_s": round(len(mail) / plain_mail, 1),
        "plain_cards_s": round(plain_cards, 2),
        "plain_429s": plain_429,
        "mail_ratio_hub_vs_plain": round(plain_mail / hub_mail, 2),
        "mail_ratio_from_first_message": round(plain_mail / (mail_end - mail_start), 2),
    }


def _max_per_second(times: list[float]) -> int:
    times = sorted(times)
    best, j = 0, 0
    for i, t in enumerate(times):
        while times[j] <= t - 1.0:
            j += 1
        best = max(best, i - j + 1)
    return best


def bench_timers(args, workdir: Path) -> dict:
    sink, teams = SmtpSink().start(), FakeTeams().start()
    hub = RunningHub(workdir / "timers", sink, policy_text(teams))
    try:
        ref, _t0, _t1 = hub.declare("timer host")
        # this process schedules like the workflow does: same database, same queue
        os.environ.update({k: v for k, v in hub.env.items() if k.startswith("HUB_")})
        from hub.app.db import utcnow
        from hub.app.models import Incident, Timer
        from hub.incidents import timers as store
        from tasks import main as _tasks  # noqa: F401  (registers the tasks)
        from tasks.runtime import get_hub

        local = get_hub()
        start = utcnow() + timedelta(seconds=args.lead)
        with local.transaction() as session:
            incident = session.get(Incident, int(ref.rsplit("-", 1)[1]))
            assert incident is not None and incident.ref == ref
            made = []
            for i in range(args.timers):
                due = start + timedelta(seconds=args.spread * i / args.timers)
                made.append(
                    store.schedule(
                        session, incident, f"bench:{ref}:{i}", "bench", due, now=utcnow()
                    )
                )
            session.flush()  # schedule() writes rows at commit; their ids now
            ids = [t.id for t in made]
        acked = set(ids[::2])
        with local.transaction() as session:
            timers = [session.get(Timer, i) for i in acked]
            assert all(utcnow() < t.due_at for t in timers), "the acknowledgement came too late"
            store.cancel(timers, "acknowledged", utcnow())
        time.sleep(max(0.0, (start - utcnow()).total_seconds()) + args.spread + 5)
        with local.db.session() as session:
            rows = session.query(Timer).filter(Timer.id.in_(ids)).all()
            late = [
                (t.fired_at - t.due_at).total_seconds()
                for t in rows
                if t.id not in acked and t.state == "fired"
            ]
            missed = sum(1 for t in rows if t.id not in acked and t.state != "fired")
            wrong = sum(1 for t in rows if t.id in acked and (t.state != "cancelled" or t.fired_at))
        local.db.dispose()
    finally:
        hub.stop()
        sink.stop()
        teams.stop()
    return {
        "timers": len(ids),
        "cancelled_before_due": len(acked),
        "fired": len(late),
        "missed": missed,
        "fired_after_cancel": wrong,
        "p50_ms": round(pct(late, 50) * 1000) if late else None,
        "p99_ms": round(pct(late, 99) * 1000) if late else None,
        "max_ms": round(max(late) * 1000) if late else None,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--incidents", type=int, default=50, help="latency sample (full: 200)")
    parser.add_argument("--idle", type=float, default=15, help="idle seconds (full: 60)")
    parser.add_argument("--recipients", type=int, default=1000, help="email fan-out size")
    parser.add_argument("--webhooks", type=int, default=10, help="Teams webhooks in the fan-out")
    parser.add_argument(
        "--smtp-accept-ms",
        type=float,
        action="append",
        help="the sink's delay before its 250 to DATA, like a relay that fsyncs its queue "
        "(repeatable; default: 0 and 10, each a separate fan-out)",
    )
    parser.add_argument("--timers", type=int, default=500, help="timers (half cancelled)")
    parser.add_argument(
        "--database-url",
        help="run on PostgreSQL (e.g. postgresql+psycopg://postgres@127.0.0.1/test"
        "?options=-csearch_path%%3Dmobil_bench; the schema is emptied first)",
    )
    parser.add_argument(
        "--queue-url", help="run on Redis (e.g. redis://127.0.0.1:6379/13; flushed)"
    )
    parser.add_argument("--spread", type=float, default=20, help="seconds the timers span")
    parser.add_argument("--lead", type=float, default=20, help="seconds before the first is due")
    parser.add_argument(
        "--only", choices=["latency", "fanout", "timers"], action="append", help="run only these"
    )
    args = parser.parse_args(argv)
    SCALE_OUT.update(database_url=args.database_url or "", queue_url=args.queue_url or "")
    parts = args.only or ["latency", "fanout", "timers"]
    runs = {
        "latency": [bench_latency],
        "fanout": [
            lambda a, w, ms=ms: bench_fanout(a, w, ms) for ms in (args.smtp_accept_ms or [0, 10])
        ],
        "timers": [bench_timers],
    }
    with tempfile.TemporaryDirectory(prefix="mihub-mobil-bench-") as tmp:
        for part in parts:
            for run in runs[part]:
                t = time.time()
                result = run(args, Path(tmp))
                print(f"{part}: {result}  ({time.time() - t:.0f} s)", flush=True)


if __name__ == "__main__":
    main()
