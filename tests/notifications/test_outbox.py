"""The outbox: idempotency, atomic claims, retries with backoff, stuck rows, failures."""

from __future__ import annotations

import logging
import threading
import time
from datetime import timedelta

import pytest
from sqlalchemy import select, update
from workflow_kit import (
    T0,
    declare,
    minutes,
    notes,
)

from hub.app.models import Notification
from hub.channels.base import PermanentError, Sent, TransientError
from hub.incidents.records import get_incident
from hub.notifications import notices, outbox
from hub.notifications import notify as n


class Recording:
    """A stub transport: records payloads, answers from a script (Sent by default)."""

    def __init__(self, *answers):
        self.answers, self.sent = list(answers), []

    def send(self, payload):
        self.sent.append(payload)
        answer = self.answers.pop(0) if self.answers else None
        if isinstance(answer, Exception):
            raise answer
        return Sent(f"msg-{len(self.sent)}", "202 Accepted")


@pytest.fixture
def transports():
    """Recording transports for every channel, forgotten afterwards."""
    from hub.notifications import delivery

    made = {c: Recording() for c in ("email", "teams", "bot")}
    for channel, transport in made.items():
        delivery.use_transport(channel, transport)
    yield made
    for channel in made:
        delivery.use_transport(channel, None)


def _notify(hub, incident_id, event="test-event", people=("anna",), now=T0):
    with hub.transaction() as session:
        incident = get_incident(session, incident_id)
        ctx = notices.incident_context(incident, hub.policy, hub.settings, now)
        rows = n.notify(
            session,
            hub.settings,
            hub.policy,
            incident,
            "page",
            event,
            notices.person_recipients(hub.policy, people, ("email", "teams")),
            ctx,
            now,
        )
        return [r.id for r in rows]


def _row(hub, row_id) -> Notification:
    with hub.db.session(write=False) as session:
        return session.get(Notification, row_id)


def test_same_event_twice_writes_one_row(wired, caplog):
    iid = declare(wired)
    first = _notify(wired, iid)
    assert len(first) == 2
    wired.enqueued.clear()
    with caplog.at_level(logging.INFO, logger="hub.notifications.notify"):
        assert _notify(wired, iid) == []
    assert "duplicate" in caplog.text
    assert wired.enqueued == []
    keys = [r.key for r in notes(wired, iid) if r.key.startswith("test-event|")]
    assert sorted(keys) == [
        "test-event|anna.schmidt@northwind.example|email",
        "test-event|anna|teams",
    ]


def test_rows_are_enqueued_after_commit(wired):
    iid = declare(wired)
    wired.enqueued.clear()
    ids = _notify(wired, iid, event="other")
    assert wired.enqueued == [("deliver", i) for i in ids]


def test_webhook_keys_hide_the_url(wired):
    iid = declare(wired)
    hooks = notes(wired, iid, channel="teams", template="incident-declared")
    assert len(hooks) == 4
    assert all("sig=" not in r.key and "|hook:" in r.key for r in hooks)
    assert all(r.payload["url"].startswith("https://hooks.example.test/") for r in hooks)


def test_template_error_fails_the_row_once_at_delivery(wired, transports, monkeypatch):
    from hub.channels.email import channel as email_channel
    from hub.notifications.delivery import deliver_now

    def broken(*args, **kwargs):
        raise ValueError("no such variable 'sla.label'")

    monkeypatch.setattr(email_channel, "render_email", broken)
    iid = declare(wired)  # the event itself is not stopped by a broken template
    with wired.db.session(write=False) as session:
        mail = session.scalars(
            select(Notification).where(
                Notification.incident_id == iid, Notification.channel == "email"
            )
        ).all()
    assert mail and all(r.status == "pending" for r in mail)
    assert deliver_now(wired, mail[0].id, T0) == "failed"
    failed = _row(wired, mail[0].id)
    assert failed.status == "failed" and failed.attempts == 1 and failed.next_attempt_at is None
    assert "template error" in failed.last_error and "sla.label" in failed.last_error
    assert transports["email"].sent == []  # nothing went out
    assert deliver_now(wired, mail[0].id, T0 + minutes(60)) == "skipped"  # never retried


def test_claim_race_one_winner(wired):
    iid = declare(wired)
    row_id = notes(wired, iid)[0].id
    barrier, wins = threading.Barrier(2), []

    def worker():
        barrier.wait()
        with wired.db.session() as session:
            wins.append(outbox.claim(session, row_id, T0))

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(wins) == [False, True]
    row = _row(wired, row_id)
    assert (row.status, row.attempts, row.claimed_until) == ("sending", 1, T0 + outbox.LEASE)


def test_expired_claim_returns_to_pending(wired):
    iid = declare(wired)
    row_id = notes(wired, iid)[0].id
    with wired.db.session() as session:
        assert outbox.claim(session, row_id, T0)
    with wired.db.session() as session:
        assert not outbox.claim(session, row_id, T0 + timedelta(seconds=10))  # still someone else's
        assert row_id not in outbox.due_rows(session, T0 + timedelta(seconds=10))
    later = T0 + outbox.LEASE + timedelta(seconds=1)
    with wired.db.session() as session:
        assert row_id in outbox.due_rows(session, later)
    row = _row(wired, row_id)
    assert (row.status, row.claimed_until, row.attempts) == ("pending", None, 1)
    with wired.db.session() as session:
        assert outbox.claim(session, row_id, later)


class Bound:
    """A fake random source that always picks the low or the high end."""

    def __init__(self, high: bool):
        self.high = high

    def uniform(self, a, b):
        return b if self.high else a


@pytest.mark.parametrize(
    ("attempts", "low", "high"),
    [
        (1, 7.5, 15),
        (2, 15, 30),
        (3, 30, 60),
        (5, 120, 240),
        (7, 480, 960),
        (8, 900, 1800),
        (20, 900, 1800),
    ],
)
def test_backoff_is_exponential_with_jitter_and_capped(attempts, low, high):
    assert outbox.retry_delay(attempts, None, Bound(False)) == low
    assert outbox.retry_delay(attempts, None, Bound(True)) == high


@pytest.mark.parametrize(
    ("attempts", "retry_after", "low", "high"),
    [
        (1, 120, 120, 132),  # Retry-After beyond the backoff: honoured, spread by ≤ 10 %
        (1, 2, 2, 2.2),  # shorter than the backoff: still the server's word (pages wait less)
        (6, 60, 60, 66),
        (1, 0, 1, 1.1),  # Retry-After: 0 cannot make a tight loop
    ],
)
def test_backoff_honours_retry_after(attempts, retry_after, low, high):
    assert outbox.retry_delay(attempts, retry_after, Bound(False)) == pytest.approx(low)
    assert outbox.retry_delay(attempts, retry_after, Bound(True)) == pytest.approx(high)


def test_transient_error_retries_later_and_schedules_a_wakeup(wired, transports):
    from hub.notifications.delivery import deliver_now

    iid = declare(wired)
    row = notes(wired, iid, channel="email")[0]
    transports["email"].answers = [TransientError("429 throttled", retry_after=300)]
    wired.enqueued_at.clear()
    assert deliver_now(wired, row.id, T0) == "retry"
    row = _row(wired, row.id)
    assert row.status == "pending" and row.last_error == "429 throttled"
    assert T0 + timedelta(seconds=300) <= row.next_attempt_at <= T0 + timedelta(seconds=330)
    assert wired.enqueued_at == [("deliver", row.id, row.next_attempt_at)]
    assert deliver_now(wired, row.id, T0 + minutes(1)) == "skipped"  # not due yet
    assert deliver_now(wired, row.id, row.next_attempt_at) == "sent"
    row = _row(wired, row.id)
    assert (row.status, row.attempts, row.provider_id) == ("sent", 2, "msg-2")
    assert deliver_now(wired, row.id, row.next_attempt_at or T0 + minutes(60)) == "skipped"


def test_gives_up_after_max_attempts(wired, transports):
    from hub.notifications.delivery import deliver_now

    iid = declare(wired)
    row = notes(wired, iid, channel="email")[0]
    transports["email"].answers = [TransientError("503")] * outbox.MAX_ATTEMPTS
    at = T0
    for _ in range(outbox.MAX_ATTEMPTS - 1):
        assert deliver_now(wired, row.id, at) == "retry"
        at = _row(wired, row.id).next_attempt_at
    assert deliver_now(wired, row.id, at) == "failed"
    row = _row(wired, row.id)
    assert row.status == "failed" and row.last_error.startswith("gave up after 10 attempts")


def test_permanent_error_is_visible_in_the_api(wired, transports, make_token):
    from hub import create_app
    from hub.notifications.delivery import deliver_now

    app = create_app({"TESTING": True}, hub=wired)
    client = app.test_client()
    with wired.db.session() as session:
        from hub.http.auth import create_token

        token = create_token(session, wired.policy, "anna", "test")
    auth = {"Authorization": f"Bearer {token}"}
    ref = client.post(
        "/api/v1/incidents",
        headers=auth,
        json={"title": "Payroll down", "services": ["payroll"], "impact": "outage"},
    ).get_json()["id"]
    transports["email"].answers = [PermanentError("550 5.1.1 mailbox unknown")]
    row = notes(wired, int(ref.split("-")[1]), channel="email")[0]
    assert deliver_now(wired, row.id) == "failed"
    doc = client.get(f"/api/v1/incidents/{ref}", headers=auth).get_json()
    failed = [x for x in doc["notifications"] if x["status"] == "failed"]
    assert failed == [
        {
            "channel": "email",
            "recipient": row.recipient,
            "template": "page",
            "status": "failed",
            "attempts": 1,
            "sent_at": None,
            "last_error": "550 5.1.1 mailbox unknown",
            "audience": None,  # a page: to a person, not an audience
            "batch": None,
        }
    ]


def test_throttled_endpoint_defers_instead_of_blocking(wired, transports, monkeypatch):
    from hub.notifications import delivery

    class Busy:
        rate = 4.0

        def delay_for(self, key):
            return 3.0

    class StillClock:  # the slots are counted on the monotonic clock: hold it still, so
        monotonic = staticmethod(lambda: 1000.0)  # a slow database between the two rows
        sleep = staticmethod(time.sleep)  # does not eat into the expected 1/rate gap

        def __getattr__(self, name):
            return getattr(time, name)

    monkeypatch.setattr(delivery, "throttle_for", lambda s, c, p: (Busy(), "k", False))
    monkeypatch.setattr(delivery, "_next_slot", {})
    monkeypatch.setattr(delivery, "time", StillClock())
    iid = declare(wired)
    row = notes(wired, iid, channel="teams")[0]
    wired.enqueued_at.clear()
    assert delivery.deliver_now(wired, row.id, T0) == "deferred"
    row = _row(wired, row.id)
    assert (row.status, row.attempts, row.next_attempt_at) == (
        "pending",
        0,
        T0 + timedelta(seconds=3),
    )
    assert wired.enqueued_at == [("deliver", row.id, row.next_attempt_at)]
    assert transports["teams"].sent == []
    other = notes(wired, iid, channel="teams")[1]  # deferred for the same endpoint: next slot
    assert delivery.deliver_now(wired, other.id, T0) == "deferred"
    later = _row(wired, other.id).next_attempt_at - T0
    assert later == timedelta(seconds=3.25)  # 1/rate after the first


def test_webhook_pages_mention_the_person_and_bot_chats_are_used(wired, transports):
    from hub.app.models import ConversationRef
    from hub.notifications.delivery import deliver_now

    with wired.db.session() as session:
        session.add(
            ConversationRef(
                key="elif",
                service_url="https://smba.example.test/emea/",
                conversation_id="a:1-elif-chat",
            )
        )
    iid = declare(wired)
    pages = {r.recipient: r for r in notes(wired, iid, template="page") if r.channel != "email"}
    assert pages["anna"].channel == "teams"
    assert pages["anna"].payload["url"].startswith("https://hooks.example.test/oncall")
    assert pages["anna"].payload["envelope"]["mention"] == {
        "name": "Anna Schmidt",
        "id": "anna.schmidt@northwind.example",
    }
    assert pages["elif"].channel == "bot"
    assert pages["elif"].payload["conversation_id"] == "a:1-elif-chat"
    assert pages["elif"].payload["activity"]["mention"] is None
    for row in pages.values():
        assert deliver_now(wired, row.id, T0) == "sent"
    assert len(transports["bot"].sent) == 1 and len(transports["teams"].sent) == 2


def test_tick_requeues_due_and_stuck_rows(wired):
    from hub.ticker import tick

    iid = declare(wired)
    rows = notes(wired, iid)
    with wired.db.session() as session:
        assert outbox.claim(session, rows[0].id, T0)  # a worker took it and died
    wired.enqueued.clear()
    counts = tick(wired, T0)
    assert counts["notifications"] == len(rows) - 1
    counts = tick(wired, T0 + outbox.LEASE + timedelta(seconds=1))
    assert counts["notifications"] == len(rows)
    assert ("deliver", rows[0].id) in wired.enqueued


@pytest.mark.parametrize(("mode", "teams_pages"), [("auto", 3), ("sink", 3), ("webhook", 0)])
def test_pages_without_webhook_go_to_the_sink_in_development(hub, monkeypatch, mode, teams_pages):
    from workflow_kit import use_stub_renderers

    from hub.app.context import Hub
    from hub.app.settings import load_settings

    use_stub_renderers(monkeypatch)
    settings = load_settings(overrides={**hub.settings.values, "HUB_TEAMS_TRANSPORT": mode})
    plain = Hub(settings, policy=hub.policy, db=hub.db)  # the example policy: no webhooks
    iid = declare(plain)
    pages = notes(plain, iid, template="page", channel="teams")
    assert len(pages) == teams_pages
    assert all(r.payload["url"] is None and r.payload["envelope"]["mention"] for r in pages)
    assert len(notes(plain, iid, template="page", channel="email")) == 3


def test_a_key_written_before_is_skipped_not_fatal(wired, caplog):
    iid = declare(wired)
    _notify(wired, iid, event="race", people=("anna",))  # e.g. another transaction, just now
    with caplog.at_level(logging.INFO, logger="hub.notifications.notify"):
        ids = _notify(wired, iid, event="race", people=("anna", "ben"))
    assert len(ids) == 2  # ben's two rows; anna's were there already (ON CONFLICT DO NOTHING)
    assert sum("skip race|" in m and "duplicate" in m for m in caplog.messages) == 2
    rows = [r for r in notes(wired, iid) if r.key.startswith("race|")]
    assert len(rows) == 4 and len({r.key for r in rows}) == 4


def test_an_expired_claim_is_not_taken_before_the_journals_are_replayed(wired):
    iid = declare(wired)
    row_id = notes(wired, iid)[0].id
    with wired.db.session() as session:
        assert outbox.claim(session, row_id, T0)
    later = T0 + outbox.LEASE + timedelta(seconds=1)
    with wired.db.session() as session:  # only the tick puts it back, after the replay
        assert not outbox.claim(session, row_id, later)


def test_tick_replays_a_dead_workers_journal_before_reclaiming(wired, tmp_path):
    import json
    import subprocess
    import sys

    from hub.notifications import sent_journal
    from hub.ticker import tick

    iid = declare(wired)
    rows = [r.id for r in notes(wired, iid)[:3]]
    with wired.db.session() as session:
        assert outbox.claim_many(session, rows, T0) == rows  # a worker took three rows…
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    folder = wired.settings.data_dir / "journal"
    folder.mkdir(parents=True, exist_ok=True)
    journal = folder / f"{sent_journal.HOST}--{dead}.log"
    lines = [
        json.dumps({"id": i, "provider_id": f"<m{i}>", "at": T0.isoformat()}) for i in rows[:2]
    ]
    journal.write_text("\n".join(lines) + "\n" + '{"id": 9')  # …sent two, was killed mid-line
    wired.enqueued.clear()
    tick(wired, T0 + outbox.LEASE + timedelta(seconds=1))
    assert not journal.exists()
    assert [(_row(wired, i).status, _row(wired, i).provider_id) for i in rows[:2]] == [
        ("sent", f"<m{rows[0]}>"),
        ("sent", f"<m{rows[1]}>"),
    ]
    assert _row(wired, rows[2]).status == "pending"  # not in the journal: it goes out again
    requeued = {i for name, i in wired.enqueued if name == "deliver"}
    assert rows[2] in requeued and not requeued & set(rows[:2])


def _mail_rows(hub, iid, count=3) -> list[int]:
    return [r.id for r in notes(hub, iid, channel="email")[:count]]


def test_a_failure_while_recording_one_outcome_does_not_strand_the_rest(
    wired, transports, monkeypatch
):
    from hub.notifications import delivery

    iid = declare(wired)
    rows = _mail_rows(wired, iid)
    transports["email"].answers = [TransientError("421 try later")]
    real, calls = delivery._finish, []

    def database_blip(*args):
        calls.append(args)
        raise RuntimeError("database went away")

    monkeypatch.setattr(delivery, "_finish", database_blip)
    outcomes = delivery.deliver_rows(wired, rows, T0)
    monkeypatch.setattr(delivery, "_finish", real)
    assert [outcomes[i] for i in rows] == ["error", "sent", "sent"]
    assert [_row(wired, i).status for i in rows] == ["sending", "sent", "sent"]  # 1st: the tick


def test_sent_rows_keep_what_went_out_even_when_the_tick_marked_them_first(wired):
    """One statement marks a row sent with its message; a row the tick already marked sent
    (from the worker's journal, while the worker could not commit) still gets its message."""
    iid = declare(wired)
    first, second, plain = _mail_rows(wired, iid)
    with wired.db.session() as session:
        session.execute(
            update(Notification)
            .where(Notification.id.in_([first, second, plain]))
            .values(status="sending")
        )
        # the tick, from the journal: sent, without the message
        assert outbox.mark_sent_many(session, [(second, "<b>", T0, None)]) == 1
    body = {"to": "x@example.com", "subject": "s", "text": "t"}
    with wired.db.session() as session:
        marked = outbox.mark_sent_many(
            session,
            [
                (first, "<a>", T0, body),
                (second, "<b>", T0, {**body, "text": "2"}),
                (plain, "<p>", T0, None),
            ],
        )
    assert marked == 2  # the second row was sent already
    rows = {i: _row(wired, i) for i in (first, second, plain)}
    assert {i: r.status for i, r in rows.items()} == dict.fromkeys(rows, "sent")
    assert rows[first].payload == body and rows[first].provider_id == "<a>"
    assert rows[second].payload == {**body, "text": "2"}
    assert "render" in rows[plain].payload  # nothing rendered given: the spec stays


def test_a_journal_that_cannot_be_written_marks_the_row_sent_at_once(
    wired, transports, monkeypatch
):
    from hub.notifications import delivery

    iid = declare(wired)
    row = _mail_rows(wired, iid, 1)[0]

    def full_disk(*args):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(delivery.journal_for(wired), "record", full_disk)
    monkeypatch.setattr(delivery, "MARK_EVERY", 1000)  # it must not wait for a batch
    assert delivery.deliver_now(wired, row, T0) == "sent"
    assert _row(wired, row).status == "sent"


def test_a_chunk_whose_leases_are_not_renewed_hands_its_rows_back(wired, transports, monkeypatch):
    from hub.notifications import delivery, leases

    iid = declare(wired)
    rows = _mail_rows(wired, iid)
    # the database stopped answering the heartbeat: our claims could run out mid-send
    monkeypatch.setattr(leases.LeaseKeeper, "fresh", lambda self: False)
    wired.enqueued.clear()
    assert set(delivery.deliver_rows(wired, rows, T0).values()) == {"skipped"}
    assert transports["email"].sent == []
    back = [_row(wired, i) for i in rows]
    assert [(r.status, r.attempts, r.claimed_until) for r in back] == [("pending", 0, None)] * 3
    assert {i for name, i in wired.enqueued if name == "deliver"} == set(rows)


def test_a_row_whose_workers_keep_dying_fails_instead_of_looping(wired):
    iid = declare(wired)
    row = _mail_rows(wired, iid, 1)[0]
    with wired.db.session() as session:
        session.execute(
            update(Notification)
            .where(Notification.id == row)
            .values(status="sending", attempts=outbox.MAX_ATTEMPTS, claimed_until=T0)
        )
    with wired.db.session() as session:
        assert row not in outbox.due_rows(session, T0 + minutes(1))
    failed = _row(wired, row)
    assert failed.status == "failed" and "workers that stopped" in failed.last_error


def test_journals_are_per_process_instance_and_live_ones_are_not_replayed(wired, tmp_path):
    from hub.notifications import sent_journal

    first = sent_journal.SentJournal(tmp_path)
    second = sent_journal.SentJournal(tmp_path)  # same pid (a restart that got the same pid)
    assert first.path != second.path
    first.record(1, "<a>", T0)
    with sent_journal.orphans(tmp_path) as found:
        assert found == []  # both owners hold their locks
    first.close()  # the owner is gone: nobody holds its lock any more
    with sent_journal.orphans(tmp_path) as found:
        assert found == [first.path]
        assert [e["id"] for e in sent_journal.read(found[0])] == [1]
    second.close()


def test_a_throttled_row_waits_at_the_back_of_its_chunk(wired, transports, monkeypatch):
    from hub.notifications import delivery

    class Busy:
        rate = 4.0

        def delay_for(self, key):
            return 3.0  # the channel webhook has no free slot for 3 s

    monkeypatch.setattr(
        delivery, "throttle_for", lambda s, c, p: (Busy(), "hook", False) if c == "teams" else None
    )
    monkeypatch.setattr(delivery, "_next_slot", {})
    iid = declare(wired)
    card = notes(wired, iid, channel="teams")[0].id
    mail = _mail_rows(wired, iid, 2)
    outcomes = delivery.deliver_rows(wired, [card, *mail], T0)
    assert outcomes == {card: "deferred", mail[0]: "sent", mail[1]: "sent"}
    assert len(transports["email"].sent) == 2 and transports["teams"].sent == []
    assert _row(wired, card).next_attempt_at == T0 + timedelta(seconds=3)


def test_a_big_batch_is_split_across_the_worker_threads(wired, transports, monkeypatch):
    from tasks import delivery

    task = delivery.deliver_batch
    chunks: list[list[int]] = []
    monkeypatch.setattr(delivery, "deliver_batch", chunks.append)  # what the task enqueues
    monkeypatch.setattr(delivery, "get_hub", lambda: wired)
    iid = declare(wired)
    ids = [r.id for r in notes(wired, iid)]
    size = delivery.CHUNK
    assert len(ids) < size
    everything = ids + list(range(10_000, 10_000 + 2 * size + 5))  # and rows that do not exist
    counts = task.call_local(everything)
    # the first chunk is delivered by this thread; the others are handed to the other threads
    assert chunks == [everything[i : i + size] for i in range(size, len(everything), size)]
    assert sum(map(len, chunks)) == len(everything) - size and all(len(c) <= size for c in chunks)
    assert counts == {"sent": len(ids), "skipped": size - len(ids)}
    assert len(transports["email"].sent) + len(transports["teams"].sent) == len(ids)


def test_the_keeper_renews_only_the_claims_it_holds(wired):
    from hub.notifications.leases import LeaseKeeper

    iid = declare(wired)
    held, other = _mail_rows(wired, iid, 2)
    with wired.db.session() as session:
        assert outbox.claim_many(session, [held, other], T0) == [held, other]
    keeper = LeaseKeeper(wired, lease=15)
    keeper.hold([held])
    assert keeper.renew() == 1
    renewed, untouched = _row(wired, held), _row(wired, other)
    assert renewed.claimed_until > T0 + outbox.LEASE  # from now, not from the claim
    assert untouched.claimed_until == T0 + outbox.LEASE
    assert keeper.fresh()
    keeper.drop([held])
    assert keeper.held() == [] and keeper.renew() == 0


def test_a_sent_rows_reply_token_is_not_kept():
    from hub.channels.email.ids import make_reply_token, reply_address, token_from_address
    from hub.notifications.delivery import stored_copy

    address = reply_address("incidents@northwind.example", make_reply_token("k" * 32, 7, "a@b.c"))
    sent = {"to": "a@b.c", "text": "Body", "headers": {"Reply-To": address, "X-A": "1"}}
    assert token_from_address(address)
    kept = stored_copy(sent)
    assert kept["headers"] == {"Reply-To": "incidents+…@northwind.example", "X-A": "1"}
    assert kept["text"] == "Body" and token_from_address(sent["headers"]["Reply-To"])
    assert stored_copy({"text": "no headers"}) == {"text": "no headers"}


def test_a_chunk_sent_at_a_relays_pace_is_marked_in_one_commit(wired, transports, monkeypatch):
    from hub.notifications import delivery

    iid = declare(wired)
    rows = _mail_rows(wired, iid, 6)
    assert len(rows) == 6
    send = transports["email"].send

    def relay_pace(payload):  # 6 x 0.08 s: the chunk outlasts a commit window of 0.25 s
        time.sleep(0.08)
        return send(payload)

    monkeypatch.setattr(transports["email"], "send", relay_pace)
    commits = []
    real = outbox.mark_sent_many
    monkeypatch.setattr(
        outbox,
        "mark_sent_many",
        lambda session, sent, *a: commits.append(len(sent)) or real(session, sent, *a),
    )
    assert set(delivery.deliver_rows(wired, rows, T0).values()) == {"sent"}
    assert commits == [6]  # one commit at the chunk's end, not one per 0.25 s
    assert {_row(wired, r).status for r in rows} == {"sent"}
