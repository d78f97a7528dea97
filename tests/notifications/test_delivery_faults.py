"""Issue 3 fault tests with real processes: a worker killed mid fan-out, the SMTP server down,
a Teams 429 storm. Each runs on the embedded default and on PostgreSQL + Redis (`backend`).

The duplicate count of the kill test is printed (run with `-s` to see it): the only window for
a duplicate is documented in hub/notifications/outbox.py (provider accepted, row not yet marked sent).
"""

from __future__ import annotations

import email
import os
import signal
import time
from collections import Counter
from email import policy as email_policy

import pytest
import requests
from sqlalchemy import create_engine, text

from hub.demo import DEMO_POLICY
from hub.testing.fakes.smtp_sink import SmtpSink
from hub.testing.fakes.teams import FakeTeams
from hub.testing.harness import Child, create_token, free_port, start_mihub, wait_for, wait_healthy
from tests.conftest import ROOT

pytestmark = [pytest.mark.e2e, pytest.mark.spread]

WORKER_THREADS = 4
FANOUT = 500
EXEC_LIST = "[exec@northwind.example]"


def make_policy(recipients: int = 1) -> str:
    """The demo policy, webhooks from the environment, `recipients` executives by email."""
    text_ = (
        DEMO_POLICY.read_text()
        .replace('"https://northwind.example/workflows/executives"', '"$env:TEST_EXEC_WEBHOOK"')
        .replace('"https://northwind.example/workflows/oncall"', '"$env:TEST_ONCALL_WEBHOOK"')
        # nothing else in the way while a fault is injected
        .replace("after: 15s", "after: 10m")
        .replace("first_update_within: 20s", "first_update_within: 10m")
        .replace("update_every: 30s", "update_every: 10m")
        .replace("ack_within: 40s", "ack_within: 10m")
        .replace("resolve_within: 3m", "resolve_within: 30m")
    )
    if recipients > 1:
        addresses = ", ".join(f"exec{i:04d}@northwind.example" for i in range(recipients))
        assert EXEC_LIST in text_
        text_ = text_.replace(EXEC_LIST, f"[{addresses}]")
    return text_


class Hub:
    """`mihub web` / `mihub worker` as child processes over one database and queue."""

    def __init__(self, tmp_path, backend, sink, teams, recipients=1):
        policy = tmp_path / "policy.yaml"
        policy.write_text(make_policy(recipients))
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.env = dict(
            os.environ,
            HUB_DATA_DIR=str(tmp_path / "var"),
            HUB_HTTP=f"127.0.0.1:{self.port}",
            HUB_SMTP_LISTEN=f"127.0.0.1:{free_port()}",
            HUB_POLICY=str(policy),
            HUB_DATABASE_URL=backend["database_url"],
            HUB_QUEUE_URL=backend["queue_url"],
            HUB_MAIL_TRANSPORT="smtp",
            HUB_SMTP_URL=sink.url,
            HUB_TEAMS_TRANSPORT="webhook",
            HUB_LOG_LEVEL="WARNING",
            HUB_RETRY_BASE="2",  # the sink-down test must not wait for 15 s backoffs
            TEST_EXEC_WEBHOOK=teams.webhook_url("executives"),
            TEST_ONCALL_WEBHOOK=teams.webhook_url("oncall"),
        )
        self.database_url = backend["database_url"]
        self.procs: list[Child] = []
        self.tokens: dict[str, str] = {}

    def start(self, part: str, *args: str) -> Child:
        proc = start_mihub(part, *args, env=self.env, cwd=ROOT, quiet=True)
        self.procs.append(proc)
        return proc

    def start_web(self) -> None:
        wait_healthy(self.base, self.start("web"), timeout=90)
        self.tokens = {p: create_token(p, env=self.env, cwd=ROOT) for p in ("anna", "chloe")}

    def declare(self, title: str = "Payroll is down") -> dict:
        body = {"title": title, "services": ["payroll"], "impact": "outage", "correlate": False}
        r = requests.post(
            f"{self.base}/api/v1/incidents",
            json=body,
            timeout=60,
            headers={"Authorization": f"Bearer {self.tokens['chloe']}"},
        )
        assert r.status_code == 201, r.text
        doc = r.json()
        assert doc["major"], doc
        return doc

    def incident(self, ref: str) -> dict:
        r = requests.get(
            f"{self.base}/api/v1/incidents/{ref}?notifications=all",  # every row, not the latest
            timeout=30,
            headers={"Authorization": f"Bearer {self.tokens['anna']}"},
        )
        assert r.status_code == 200, r.text
        return r.json()

    def statuses(self, ref: str) -> Counter:
        return Counter(n["status"] for n in self.incident(ref)["notifications"])

    def sql(self, statement: str, **params):
        engine = create_engine(self.database_url)
        try:
            with engine.begin() as conn:
                result = conn.execute(text(statement), params)
                return result.fetchall() if result.returns_rows else result.rowcount
        finally:
            engine.dispose()

    def stop(self) -> None:
        for proc in self.procs:
            proc.send_signal(signal.SIGINT)
        for proc in self.procs:
            proc.stop(timeout=30)


def received(sink) -> list[tuple[str, str, str]]:
    """(recipient, Message-ID, template) of every message the sink accepted."""
    out = []
    for m in list(sink.messages):
        msg = email.message_from_bytes(m.data, policy=email_policy.default)
        for rcpt in m.rcpt_tos:
            out.append((rcpt.lower(), msg["Message-ID"], msg["X-Mihub-Template"]))
    return out


@pytest.fixture
def peers():
    sink = SmtpSink().start()
    teams = FakeTeams().start()
    yield sink, teams
    sink.stop()
    teams.stop()


def test_worker_killed_mid_fanout_delivers_everything(tmp_path, backend, peers):
    sink, teams = peers
    hub = Hub(tmp_path, backend, sink, teams, recipients=FANOUT)
    try:
        hub.start_web()
        worker = hub.start("worker", "--workers", str(WORKER_THREADS))
        inc = hub.declare()  # the worker mobilises: the fan-out's rows, then their delivery
        ref = inc["id"]
        wait_for(
            lambda: sum(hub.statuses(ref).values()) >= FANOUT, timeout=30, what="the fan-out's rows"
        )
        total = sum(hub.statuses(ref).values())
        wait_for(
            lambda: len(sink.messages) >= 150,
            timeout=60,
            what="150 messages at the sink",
            interval=0.02,
        )
        worker.kill()
        at_kill = len(sink.messages)
        assert at_kill < FANOUT, "the fan-out finished before the kill; nothing was tested"
        # The dead worker's claims are left as they are: they run out within one lease
        # (HUB_DELIVERY_LEASE, 15 s; no heartbeat renews them now) and the new worker's pump
        # finds them.
        in_flight = hub.sql("SELECT id FROM notifications WHERE status = 'sending'")
        hub.start("worker", "--workers", str(WORKER_THREADS))  # its start runs reconcile
        replaced = time.monotonic()
        wait_for(
            lambda: len(sink.messages) > at_kill,
            timeout=30,
            interval=0.05,
            what="the first message after the worker was replaced",
        )
        recovery = time.monotonic() - replaced

        def all_sent():
            counts = hub.statuses(ref)
            return counts.get("sent", 0) == sum(counts.values())

        wait_for(all_sent, timeout=90, what="every notification to be sent", interval=0.5)
        assert hub.statuses(ref).get("sent") == total
        wait_for(
            lambda: len(sink.messages) >= FANOUT, timeout=10, what="the sink to record everything"
        )
    finally:
        hub.stop()
    got = received(sink)
    execs = {f"exec{i:04d}@northwind.example" for i in range(FANOUT)}
    notices = [(r, mid) for r, mid, tpl in got if r in execs]
    assert {r for r, _ in notices} == execs, "a recipient got nothing"
    pairs = Counter(got)
    duplicates = sum(n - 1 for n in pairs.values() if n > 1)
    print(
        f"\nkill -9 mid fan-out ({backend['name']}): {len(got)} messages received for "
        f"{total} rows, killed at {at_kill}, {len(in_flight)} row(s) in flight at the kill, "
        f"DUPLICATES={duplicates}; first message {recovery:.1f} s after the replacement started"
    )
    assert recovery <= 20, f"recovery took {recovery:.1f} s (goal: within 20 s)"
    # Goal 0. An accepted message is journalled at once (hub/notifications/sent_journal.py) and the restarted
    # worker replays the journal before anything is reclaimed, so what is left is the moment
    # between the sink recording a message and our worker reading its 250 and writing the
    # journal line: at most one message per open SMTP connection.
    assert duplicates <= WORKER_THREADS, f"{duplicates} duplicates (goal 0)"


def test_smtp_down_then_back_delivers_everything(tmp_path, backend, peers):
    sink, teams = peers
    hub = Hub(tmp_path, backend, sink, teams)
    try:
        hub.start_web()
        hub.start("worker")
        sink.stop()  # connection refused from now on
        inc = hub.declare()
        ref = inc["id"]

        def emails():
            return [n for n in hub.incident(ref)["notifications"] if n["channel"] == "email"]

        # every email row tried and failed transiently: pending again with its error
        wait_for(
            lambda: emails() and all(n["attempts"] >= 1 and n["last_error"] for n in emails()),
            timeout=30,
            what="the email rows to fail while the sink is down",
        )
        assert all(n["status"] == "pending" for n in emails()), emails()
        time.sleep(3)
        assert not sink.messages
        sink.start()  # same port
        # the first retry comes 7.5-15 s after the failure (hub/notifications/outbox.py BASE_DELAY=15 s)
        wait_for(
            lambda: all(n["status"] == "sent" for n in hub.incident(ref)["notifications"]),
            timeout=45,
            what="every notification to be sent after the sink returned",
            interval=0.5,
        )
    finally:
        hub.stop()
    got = {r for r, _mid, _tpl in received(sink)}
    for address in (
        "anna@northwind.example",
        "felix@northwind.example",
        "exec@northwind.example",
    ):
        assert address in got, f"{address} got nothing"
    assert len(received(sink)) == len(set(received(sink))), "a message was delivered twice"


def test_teams_429_storm_honours_retry_after(tmp_path, backend, peers):
    sink, teams = peers
    hub = Hub(tmp_path, backend, sink, teams)
    try:
        hub.start_web()
        hub.start("worker")
        wait_for(lambda: _worker_ready(hub), timeout=60, what="the worker to start")
        teams.fail_next("/webhook/oncall", 429, times=5, retry_after=2)
        t0 = time.time()
        inc = hub.declare()
        ref = inc["id"]

        def all_sent():  # the worker mobilises first: no rows yet is not "all sent"
            rows = hub.incident(ref)["notifications"]
            return bool(rows) and all(n["status"] == "sent" for n in rows)

        wait_for(
            all_sent,
            timeout=80,
            what="every notification to be sent through the 429 storm",
            interval=0.5,
        )
    finally:
        hub.stop()
    requests_ = teams.recorder.requests("/webhook/oncall")  # injected faults included
    judged = teams.deliveries("webhook", "oncall")  # what reached the fake's own logic
    accepted = [d for d in judged if d.status == 202]
    throttled_by_fake = sum(1 for d in judged if d.status == 429)
    injected = len(requests_) - len(judged)
    assert injected == 5, (len(requests_), Counter(d.status for d in judged))
    assert accepted, "nothing got through"
    first = min(r.at for r in requests_)
    first_ok = min(d.at for d in accepted)
    early = [r for r in requests_ if r.at < first + 2.0]
    print(
        f"\n429 storm ({backend['name']}): {len(requests_)} requests on the oncall webhook, "
        f"{len(early)} within 2 s of the first, first 202 after {first_ok - first:.2f} s, "
        f"{throttled_by_fake} 429(s) from the fake's own 4/s limit"
    )
    assert first_ok - first >= 2.0, "delivered before Retry-After ran out"
    assert first_ok - t0 >= 2.0
    assert len(early) <= 6, f"tight retry loop: {len(early)} requests within 2 s"


def _worker_ready(hub) -> bool:
    # the worker process is up once it has imported everything; a short grace period suffices
    time.sleep(3)
    return all(p.alive for p in hub.procs)


@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
def test_redis_refused_for_15s_loses_nothing_and_logs_little(tmp_path, backend, peers):
    """Redis goes away for 15 s while a major incident is declared: the worker logs a few
    lines, not a traceback per poll, and when Redis is back every page and notice goes out,
    once (the database owns the work; the pump re-enqueues what is due)."""
    import re

    from hub.testing.link import FaultyLink
    from tests.conftest import REDIS_URL

    sink, teams = peers
    link = FaultyLink(int(re.search(r":(\d+)/", REDIS_URL).group(1))).start()
    hub = Hub(tmp_path, backend, sink, teams)
    hub.env["HUB_QUEUE_URL"] = re.sub(
        r"//[^/]+/", f"//127.0.0.1:{link.port}/", hub.env["HUB_QUEUE_URL"]
    )
    log = tmp_path / "worker.log"
    try:
        hub.start_web()
        worker = start_mihub(
            "worker", "--workers", str(WORKER_THREADS), env=hub.env, cwd=ROOT, log=log
        )
        hub.procs.append(worker)
        time.sleep(3)  # the worker is up and polling the queue
        worker.check_alive()
        before = len(log.read_text().splitlines())
        link.refuse()
        ref = hub.declare()["id"]  # committed; its wake-ups cannot reach the queue
        time.sleep(15)
        during = len(log.read_text().splitlines()) - before
        link.heal()

        def all_sent():
            counts = hub.statuses(ref)
            return counts and counts.get("sent", 0) == sum(counts.values())

        wait_for(all_sent, timeout=90, interval=0.5, what="every notification to be sent")
        total = sum(hub.statuses(ref).values())
        wait_for(lambda: len(sink.messages) >= 1, timeout=10, what="mail at the sink")
    finally:
        hub.stop()
        link.stop()
    got = Counter(received(sink))
    print(f"\nRedis refused 15 s: {during} worker log lines; {total} notifications all sent")
    assert during < 100, log.read_text()[-5000:]
    assert got and all(n == 1 for n in got.values()), got
