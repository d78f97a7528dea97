"""Chaos on PostgreSQL + Redis: two `mihub web`, two `mihub worker`, 50 major incidents with
short policy clocks (escalations, update reminders and SLA warnings fire during the test), and
three faults in a row: a worker SIGKILLed mid fan-out and replaced, Redis "restarted" (refused
through a FaultyLink, this test's Huey keys deleted: Redis keeps nothing on disk here) and
PostgreSQL refused for 15 s (every open connection cut, new ones refused).

Counted at the sinks afterwards: every outbox row sent, each email row received exactly once
(its Message-ID comes from the outbox key), as many accepted webhook posts as sent Teams rows,
and no due timer left pending. Run with `-s` to see the figures.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections import Counter

import pytest
import redis
import requests

from hub.testing.fakes.smtp_sink import SmtpSink
from hub.testing.fakes.teams import FakeTeams
from hub.testing.harness import free_port, start_mihub, wait_for, wait_healthy
from hub.testing.link import FaultyLink
from tests.conftest import REDIS_URL, ROOT
from tests.notifications.test_delivery_faults import Hub, make_policy, received

pytestmark = pytest.mark.e2e

INCIDENTS = 50
EXECUTIVES = 4  # stakeholders by email on every incident: a fan-out per declaration
THREADS = 4
RECOVERY_GOAL = 20.0  # s from the replacement's start: first message, dead worker's rows back


def chaos_policy() -> str:
    """The delivery-fault policy with its clocks short again: they fire within the test."""
    text_ = make_policy(EXECUTIVES)
    return (
        text_.replace("after: 10m", "after: 8s")  # step 1 of the escalation (nobody acks)
        .replace("first_update_within: 10m", "first_update_within: 20s")
        .replace("update_every: 10m", "update_every: 60s")
        .replace("ack_within: 10m", "ack_within: 30s")  # warnings at 50 % and 80 %
    )


def _port(url: str) -> int:
    return int(re.search(r"127\.0\.0\.1:(\d+)", url).group(1))


def _via(url: str, port: int) -> str:
    return re.sub(r"127\.0\.0\.1:\d+", f"127.0.0.1:{port}", url, count=1)


class Cluster(Hub):
    """Two web processes and two workers reaching PostgreSQL and Redis through FaultyLinks."""

    def __init__(self, tmp_path, backend, sink, teams, pg_link, redis_link):
        super().__init__(tmp_path, backend, sink, teams)
        (tmp_path / "policy.yaml").write_text(chaos_policy())
        self.env["HUB_DATABASE_URL"] = _via(backend["database_url"], pg_link.port)
        self.env["HUB_QUEUE_URL"] = _via(backend["queue_url"], redis_link.port)
        self.env["HUB_LOG_LEVEL"] = "ERROR"
        # the 4/s webhook limit is the storm test's subject; here it would only stretch the run
        self.env["HUB_TEAMS_WEBHOOK_RATE"] = "50"
        self.env["HUB_WEB_WORKERS"] = "1"  # one process per `mihub web`: two webs, two processes
        self.bases = [self.base]
        self.workers = []

    def start_second_web(self) -> None:
        port = free_port()
        env = dict(
            self.env, HUB_HTTP=f"127.0.0.1:{port}", HUB_SMTP_LISTEN=f"127.0.0.1:{free_port()}"
        )
        self.base2 = f"http://127.0.0.1:{port}"
        proc = start_mihub("web", env=env, cwd=ROOT, quiet=True)
        self.procs.append(proc)
        wait_healthy(self.base2, proc, timeout=90)
        self.bases.append(self.base2)

    def start_worker(self):
        proc = self.start("worker", "--workers", str(THREADS))
        self.workers.append(proc)
        return proc

    def call(self, base: str, method: str, path: str, json=None, person="chloe", timeout=60):
        return requests.request(
            method,
            f"{base}/api/v1{path}",
            json=json,
            timeout=timeout,
            headers={"Authorization": f"Bearer {self.tokens[person]}"},
        )


@pytest.fixture
def peers():
    sink = SmtpSink().start()
    # the webhook's rate limit is the storm test's subject; here it would only slow things down
    teams = FakeTeams(rate=1000.0, burst=1000).start()
    yield sink, teams
    sink.stop()
    teams.stop()


def _body(delivery) -> str:
    return json.dumps(delivery.body, sort_keys=True)


def _parallel(jobs, threads: int = THREADS) -> list:
    """Run the callables on `threads` threads; their results in order, the first error raised."""
    results: list = [None] * len(jobs)
    errors: list = []
    it = iter(enumerate(jobs))
    lock = threading.Lock()

    def run():
        while True:
            with lock:
                item = next(it, None)
            if item is None:
                return
            i, job = item
            try:
                results[i] = job()
            except Exception as exc:  # noqa: BLE001 (re-raised below, in the test's thread)
                errors.append(exc)

    pool = [threading.Thread(target=run) for _ in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    if errors:
        raise errors[0]
    return results


@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
def test_chaos_two_webs_two_workers_nothing_lost_nothing_twice(tmp_path, backend, peers):
    sink, teams = peers
    pg_link = FaultyLink(_port(backend["database_url"])).start()
    redis_link = FaultyLink(_port(backend["queue_url"])).start()
    queue = re.search(r"name=([^&]+)", backend["queue_url"]).group(1).replace("-", "")
    hub = Cluster(tmp_path, backend, sink, teams, pg_link, redis_link)
    t_start = time.monotonic()
    refs: list[str] = []
    try:
        hub.start_web()
        hub.start_second_web()
        hub.start_worker()
        hub.start_worker()

        def declarer(i: int):
            def declare() -> str:
                body = {
                    "title": f"Payroll is down ({i})",
                    "services": ["payroll"],
                    "impact": "outage",
                    "correlate": False,
                }
                r = hub.call(hub.bases[i % 2], "POST", "/incidents", json=body)
                assert r.status_code == 201, r.text
                return r.json()["id"]

            return declare

        declared: list = []
        storm = threading.Thread(
            target=lambda: declared.append(_parallel([declarer(i) for i in range(INCIDENTS)]))
        )
        storm.start()

        # 1. a worker SIGKILLed in the middle of the fan-out, replaced at once
        wait_for(lambda: len(sink.messages) >= 60, timeout=90, interval=0.05, what="60 messages")
        hub.workers[0].kill()
        at_kill = len(sink.messages)
        claims = dict(
            hub.sql("SELECT id, claimed_until FROM notifications WHERE status = 'sending'")
        )
        hub.start_worker()
        replaced = time.monotonic()
        wait_for(lambda: len(sink.messages) > at_kill, timeout=30, interval=0.05, what="mail")
        first_after = time.monotonic() - replaced
        # The dead worker's claims are the rows whose lease nobody renews any more: the
        # survivor's keeper renews its own every 5 s (a third of the 15 s lease).
        time.sleep(max(0.0, 8 - (time.monotonic() - replaced)))
        orphans = [
            row_id
            for row_id, until in hub.sql(
                "SELECT id, claimed_until FROM notifications WHERE status = 'sending'"
            )
            if row_id in claims and until == claims[row_id]
        ]

        reclaimed = None  # when the last of them was taken back (sent, pending or re-claimed)

        def orphans_sent() -> bool:
            nonlocal reclaimed
            if not orphans:
                reclaimed = time.monotonic() - replaced
                return True
            rows = hub.sql(
                "SELECT status, claimed_until FROM notifications WHERE id = ANY(:ids)",
                ids=orphans,
            )
            if reclaimed is None and not any(
                status == "sending" and until in stale for status, until in rows
            ):
                reclaimed = time.monotonic() - replaced
            return all(status == "sent" for status, _ in rows)

        stale = {claims[row_id] for row_id in orphans}
        wait_for(orphans_sent, timeout=120, interval=0.2, what="the dead worker's rows")
        recovered = time.monotonic() - replaced
        storm.join(timeout=120)
        assert declared, "the declarations did not finish"
        refs = declared[0]
        assert len(set(refs)) == INCIDENTS

        # 2. Redis "restarted": gone for 5 s, and with it the queue's keys
        redis_link.refuse()
        client = redis.Redis.from_url(REDIS_URL)
        try:
            lost_keys = list(client.scan_iter(f"huey.*.{queue}"))
            if lost_keys:
                client.delete(*lost_keys)
        finally:
            client.close()
        time.sleep(5)
        redis_link.heal()

        # 3. PostgreSQL refused for 15 s: every connection cut, the API answers 503
        pg_link.refuse()
        cut = time.monotonic()
        r = hub.call(hub.bases[1], "GET", f"/incidents/{refs[0]}", person="anna", timeout=20)
        assert r.status_code == 503, r.text
        assert r.headers.get("Retry-After") and r.json()["error"]["code"], r.text
        time.sleep(max(0.0, 15 - (time.monotonic() - cut)))
        pg_link.heal()

        # stakeholder updates on every incident, through both web processes
        def updater(i: int, ref: str):
            def update():
                r = hub.call(
                    hub.bases[i % 2],
                    "POST",
                    f"/incidents/{ref}/updates",
                    json={"text": f"Payroll restored for site {i}"},
                )
                assert r.status_code < 300, r.text

            return update

        wait_for(
            lambda: hub.call(hub.base, "GET", f"/incidents/{refs[0]}", person="anna").ok,
            timeout=30,
            what="the API back after PostgreSQL returned",
        )
        _parallel([updater(i, ref) for i, ref in enumerate(refs)])

        # every timer that fell due has fired (nobody acknowledged: escalations, SLA warnings,
        # update reminders), none is left behind
        def overdue() -> int:
            return hub.sql(
                "SELECT count(*) FROM timers WHERE state = 'pending' "
                "AND due_at < (now() AT TIME ZONE 'utc') - interval '3 seconds'"
            )[0][0]

        wait_for(lambda: overdue() == 0, timeout=60, interval=0.5, what="no timer overdue")
        fired = Counter(
            dict(hub.sql("SELECT kind, count(*) FROM timers WHERE state = 'fired' GROUP BY kind"))
        )
        _parallel(
            [
                (
                    lambda ref=ref: hub.call(
                        hub.base, "POST", f"/incidents/{ref}/resolve", json={"summary": "Fixed"}
                    )
                )
                for ref in refs
            ]
        )

        def settled() -> bool:  # nothing left to do: every row sent or given up
            rows = hub.sql("SELECT status, count(*) FROM notifications GROUP BY status")
            return dict(rows).keys() <= {"sent", "failed"}

        try:
            wait_for(settled, timeout=120, interval=0.5, what="every notification sent")
        finally:
            unsent = hub.sql(
                "SELECT status, template, channel, attempts, last_error FROM notifications "
                "WHERE status <> 'sent' LIMIT 5"
            )
            assert not unsent, unsent
    finally:
        hub.stop()
        pg_link.stop()
        redis_link.stop()
    elapsed = time.monotonic() - t_start

    email_rows = hub.sql(
        "SELECT count(*) FROM notifications WHERE channel = 'email' AND status = 'sent'"
    )[0][0]
    teams_rows = [
        r[0]
        for r in hub.sql(
            "SELECT provider_id FROM notifications WHERE channel = 'teams' AND status = 'sent'"
        )
    ]
    templates = Counter(
        dict(hub.sql("SELECT template, count(*) FROM notifications GROUP BY template"))
    )
    got = received(sink)
    per_message = Counter(got)
    duplicates = sum(n - 1 for n in per_message.values() if n > 1)
    posts = [d for d in teams.deliveries("webhook") if d.status == 202]
    print(
        f"\nchaos: {INCIDENTS} incidents over 2 web processes, 2 workers (+1 replacement), "
        f"{elapsed:.0f} s in all\n"
        f"  worker SIGKILLed after {at_kill} messages, {len(claims)} row(s) in flight, "
        f"{len(orphans)} of them the dead worker's; after the replacement started: first "
        f"message {first_after:.1f} s, the dead worker's rows back in the queue {reclaimed:.1f} s "
        f"(goal {RECOVERY_GOAL:.0f} s), all of them delivered {recovered:.1f} s\n"
        f"  Redis refused 5 s ({len(lost_keys)} queue key(s) deleted), PostgreSQL refused 15 s\n"
        f"  timers fired: {dict(fired)}\n"
        f"  outbox rows by template: {dict(templates)}\n"
        f"  email: {len(got)} received for {email_rows} rows, DUPLICATES={duplicates}; "
        f"teams: {len(posts)} webhook posts accepted for {len(teams_rows)} rows"
    )
    # every row sent, each email exactly once, each Teams row exactly one accepted post
    # Goal 0, and usually 0. The one window left (hub/notifications/outbox.py): the SIGKILLed
    # worker's SMTP server had accepted a message the worker had not yet journalled — at most
    # one per open connection of that worker. More than that is a bug.
    assert duplicates <= THREADS, [m for m, n in per_message.items() if n > 1][:5]
    assert len(per_message) == email_rows
    # each Teams row has the run id of the one accepted post that carried it (a post may carry
    # several rows' pages combined); no accepted post carries no row
    runs = Counter(d.run_id for d in posts)
    assert set(teams_rows) == set(runs), {
        "rows without a post": len(set(teams_rows) - set(runs)),
        "posts for no row": [
            (round(d.at - posts[0].at, 1), _body(d)[:300])
            for d in posts
            if d.run_id not in set(teams_rows)
        ][:3],
    }
    assert all(n == 1 for n in runs.values())
    # the clocks fired during the test: SLA warnings and update reminders by their timers;
    # every incident escalated to step 1 (by its timer, or by its mobilisation when that ran
    # after the step was due: a loaded machine can take longer than the step's 8 s to mobilise
    # fifty incidents, and then the step is paged at once and no timer is made for it)
    for kind in ("sla-ack", "update-reminder"):
        assert fired[kind] >= INCIDENTS, (kind, dict(fired))
    escalated = hub.sql(
        "SELECT count(DISTINCT incident_id) FROM notifications WHERE template = 'escalation'"
    )[0][0]
    assert escalated == INCIDENTS, (escalated, dict(fired))
    assert first_after <= RECOVERY_GOAL, f"first message {first_after:.1f} s after the restart"
    # the dead worker's rows return within one lease; their delivery then waits its turn in
    # the storm's backlog (printed above, not a goal: it depends on the machine's load)
    assert reclaimed <= RECOVERY_GOAL, f"the dead worker's rows came back after {reclaimed:.1f} s"
