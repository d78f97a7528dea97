"""Stored mail processed several messages per transaction: a failing one rolls back only its own."""

from __future__ import annotations

from sqlalchemy import event, func, select

from hub.app.models import InboundMessage, Incident
from hub.intake.email import pipeline
from hub.intake.email.batching import with_waiting
from hub.intake.email.store import store_raw
from tasks import registry
from tests.email_corpus import mail, raw
from tests.email_kit import later


def _store(hub, messages: list[bytes]) -> list[int]:
    with hub.transaction() as session:
        return [store_raw(session, m, via="test", now=later(0)).id for m in messages]


def _count_commits(monkeypatch) -> list[int]:
    """How many messages each of the pipeline's transactions took, as they commit."""
    commits: list[int] = []
    real = pipeline._process_chunk

    def counting(hub, ids):
        taken, done = real(hub, ids)
        commits.append(taken)
        return taken, done

    monkeypatch.setattr(pipeline, "_process_chunk", counting)
    return commits


def test_a_failing_message_rolls_back_only_its_own_effects(mhub, monkeypatch):
    from hub.intake.email import effect

    report = raw(mail("ERP down", "SAP is down for everyone.", sender="elif.yilmaz"))
    poison = raw(mail("Printer on fire", "The printer on floor 3 is on fire.", sender="ben.okafor"))
    other = raw(mail("VPN broken", "The VPN drops every minute.", sender="ben.okafor"))
    real = effect.new_report

    def failing(session, policy, sender, subject, body, inbound_id, now):
        done = real(session, policy, sender, subject, body, inbound_id, now)
        if "fire" in subject:  # after its incident was written: that must be rolled back
            raise RuntimeError("boom")
        return done

    monkeypatch.setattr(effect, "new_report", failing)
    ids = _store(mhub, [report, report, poison, other])
    mhub.enqueued.clear()
    results = pipeline.process_many(mhub, ids)
    assert [(r.status, r.outcome) for r in results] == [
        ("processed", "created"),
        ("processed", "duplicate"),
        ("failed", None),
        ("processed", "created"),
    ]
    with mhub.db.session(write=False) as session:
        titles = set(session.scalars(select(Incident.title)))
        poisoned = session.get(InboundMessage, ids[2])
        assert poisoned.raw == poison and "RuntimeError: boom" in poisoned.decisions[-1]["reason"]
    assert titles == {"ERP down", "VPN broken"}
    # the failed message's wake-ups went with its savepoint; the others' were enqueued
    assert ("process_inbound", ids[2]) not in mhub.enqueued

    # run again (a repeated wake-up): nothing is processed twice
    again = pipeline.process_many(mhub, ids)
    assert [(r.status, r.outcome) for r in again] == [(r.status, r.outcome) for r in results]
    with mhub.db.session(write=False) as session:
        assert session.scalar(select(func.count(Incident.id))) == 2


def test_a_transaction_takes_no_more_after_its_time(mhub, monkeypatch):
    """Past BATCH_SECONDS a transaction commits what it has and the rest go in the next."""
    monkeypatch.setattr(pipeline, "BATCH_SECONDS", 0.0)
    commits = _count_commits(monkeypatch)
    ids = _store(mhub, [raw(mail(f"Laptop {i} broken", "Black screen.")) for i in range(3)])
    results = pipeline.process_many(mhub, ids)
    assert commits == [1, 1, 1]
    assert [r.id for r in results] == ids and {r.outcome for r in results} <= {
        "created",
        "threaded",
    }


def test_stored_mail_wakes_the_worker_in_batches(monkeypatch):
    calls = []
    monkeypatch.setitem(registry.TASKS, "process_inbound", lambda i: calls.append(("one", i)))
    monkeypatch.setitem(
        registry.TASKS, "process_inbound_batch", lambda ids: calls.append(("many", list(ids)))
    )
    registry.enqueue_jobs([("process_inbound", 7)])
    assert calls == [("one", 7)]
    calls.clear()
    registry.enqueue_jobs([("process_inbound", i) for i in range(1, 121)])
    assert [len(ids) for _kind, ids in calls] == [50, 50, 20]
    assert [i for _kind, ids in calls for i in ids] == list(range(1, 121))


def test_a_batch_where_nothing_fails_takes_no_savepoint_and_writes_each_row_once(mhub):
    """Keys looked up together, duplicates within the batch and of earlier mail found, and
    each stored row written once, with its outcome and key."""
    report = raw(mail("ERP down", "SAP is down for everyone.", sender="elif.yilmaz"))
    no_id = raw(mail("VPN broken", "The VPN drops every minute.", sender="ben.okafor", mid=False))
    ids = _store(mhub, [report, no_id, report, no_id])
    sent: list[tuple[str, int]] = []

    def record(conn, cursor, statement, parameters, context, executemany):
        sent.append((statement, len(parameters) if executemany else 1))

    event.listen(mhub.db.engine, "before_cursor_execute", record)
    try:
        results = pipeline.process_many(mhub, ids)
    finally:
        event.remove(mhub.db.engine, "before_cursor_execute", record)
    assert [r.outcome for r in results] == ["created", "created", "duplicate", "duplicate"]
    assert not [s for s, _n in sent if "SAVEPOINT" in s.upper()]
    written = sum(n for s, n in sent if s.lstrip().upper().startswith("UPDATE INBOUND_MESSAGES"))
    assert written == len(ids)
    with mhub.db.session(write=False) as session:
        rows = [session.get(InboundMessage, i) for i in ids]
        assert rows[0].dedupe_key.startswith("mid:") and rows[1].dedupe_key.startswith("sha256:")
        assert [r.sender for r in rows[:2]] == [
            "elif.yilmaz@northwind.example",
            "ben.okafor@northwind.example",
        ]
        assert f"as message #{ids[0]}" in rows[2].decisions[-1]["reason"]
        assert f"as message #{ids[1]}" in rows[3].decisions[-1]["reason"]

    # the same mail again, in a later transaction: a duplicate of the first
    again = _store(mhub, [no_id])
    [result] = pipeline.process_many(mhub, again)
    with mhub.db.session(write=False) as session:
        reason = session.get(InboundMessage, again[0]).decisions[-1]["reason"]
    assert result.outcome == "duplicate" and f"as message #{ids[1]}" in reason


def test_a_wake_up_takes_the_other_mail_waiting_but_not_mail_sent_back(mhub):
    """A worker behind the listener processes full batches: a wake-up takes the oldest mail
    never processed with its own; mail released or reprocessed is left to its own run."""
    ids = _store(mhub, [raw(mail(f"Laptop {i} broken", "Black screen.")) for i in range(5)])
    with mhub.transaction() as session:  # processed once, then sent back (as release does)
        session.get(InboundMessage, ids[1]).processed_at = later(1)
    assert with_waiting(mhub, [ids[3]], 50) == [ids[0], ids[2], ids[3], ids[4]]
    assert with_waiting(mhub, [ids[4]], 2) == [ids[0], ids[4]]
    assert with_waiting(mhub, [ids[1]], 50) == ids  # its own wake-up takes it

    done = pipeline.process_many(mhub, with_waiting(mhub, [ids[3]], 50))
    assert [r.id for r in done] == [ids[0], ids[2], ids[3], ids[4]]
    assert with_waiting(mhub, [ids[3]], 50) == []  # the others' wake-ups find them done
    assert with_waiting(mhub, [ids[1]], 50) == [ids[1]]


def test_the_per_sender_rate_counts_the_reports_of_its_own_transaction(
    backend, example_policy, monkeypatch
):
    """The hourly limit a sender's reports are held to counts those committed before and those
    the same transaction made before them; another sender is not held back."""
    from dataclasses import replace

    from hub.app.db import utcnow
    from tests.email_kit import make_hub

    policy = replace(
        example_policy, intake=replace(example_policy.intake, rate_per_sender_per_hour=3)
    )
    hub = make_hub(backend, policy)

    def store(messages):
        with hub.transaction() as session:
            return [store_raw(session, m, via="test", now=utcnow()).id for m in messages]

    def report(i, sender):
        return raw(mail(f"Printer {i} jammed", "Paper jam on floor 2.", sender=sender))

    [before] = pipeline.process_many(hub, store([report(0, "julia.costa")]))
    assert before.outcome == "created"
    senders = ["julia.costa", "ben.okafor", "julia.costa", "julia.costa", "julia.costa"]
    ids = store([report(i, s) for i, s in enumerate(senders, start=1)])
    commits = _count_commits(monkeypatch)
    results = pipeline.process_many(hub, ids)
    assert commits == [5]  # one transaction
    assert [r.outcome for r in results] == [
        "created",
        "created",
        "created",
        "quarantined",
        "quarantined",
    ]
    with hub.db.session(write=False) as session:
        held = session.get(InboundMessage, ids[3])
        assert "rate limit: 3 reports from julia.costa@" in held.decisions[-1]["reason"]
    hub.db.dispose()
