"""The worker's batches: every waiting notification applied once, in order, a bad one alone
marked failed; one thread per process applies, a wake-up meanwhile is not lost; a storm's
wake-ups handed to the queue go out as one."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime

from sqlalchemy import select

from hub.app.models import InboundMessage
from hub.intake.alerts import drain, ingest
from tasks import alerts as _alerts_task  # noqa: F401  (registers process_alerts as draining)
from tasks.handoff import Handoff
from tests.alerts_kit import am_alert, am_group, counts

T0 = datetime(2026, 12, 6, 10, 0, tzinfo=UTC)


def store(hub, body) -> int:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    with hub.db.writing() as connection:
        return ingest.store(connection, "alertmanager", "am-prod", raw, T0)


def statuses(hub) -> list[tuple[int, str, str | None]]:
    with hub.db.session(write=False) as session:
        rows = session.execute(
            select(InboundMessage.id, InboundMessage.status, InboundMessage.outcome).order_by(
                InboundMessage.id
            )
        )
        return [tuple(row) for row in rows]


def test_batches_apply_every_waiting_notification_once_in_order(hub):
    fire = am_alert("f1", "Payroll API down", service="payroll", severity="critical")
    ids = [store(hub, am_group("g1", [fire]))]
    ids.append(store(hub, am_group("g1", [fire])))  # a repeat: counts only
    ids.append(store(hub, b"{not json"))  # stored raw before anything read it
    ids.append(store(hub, am_group("g1", [{**fire, "status": "resolved"}])))
    assert drain.apply_batch(hub, T0, limit=2, seconds=60) == 2  # no more than its limit
    rests = []
    assert drain.apply_pending(hub, lambda: T0, rests.append) == 2
    if hub.db.is_sqlite:  # the web's turn for the one write lock between batches
        assert rests and all(0 <= r <= drain.REST_MAX for r in rests)
    assert statuses(hub) == [
        (ids[0], "processed", "created"),
        (ids[1], "processed", "repeat"),
        (ids[2], "failed", None),  # alone: the batch around it stands
        (ids[3], "processed", "updated"),  # applied after the firing ones: resolved last
    ]
    assert counts(hub) == {"stored": 4, "alerts": 1, "incidents": 1}
    assert drain.apply_pending(hub, lambda: T0, rests.append) == 0


def test_a_wake_up_while_another_thread_applies_is_not_lost(hub, monkeypatch):
    applying, go_on = threading.Event(), threading.Event()
    calls = []

    def apply_pending(the_hub, clock):
        calls.append(threading.current_thread().name)
        if len(calls) == 1:
            applying.set()
            go_on.wait(5)
        return 1

    monkeypatch.setattr(drain, "apply_pending", apply_pending)
    drainer = drain.Drainer()
    first = threading.Thread(target=drainer.wake, args=(hub,), name="first")
    first.start()
    assert applying.wait(5)
    assert drainer.wake(hub) == 0  # the first thread is applying: this one returns at once
    go_on.set()
    first.join(5)
    assert calls == ["first", "first"]  # …and the first looked again for what it was woken for


def test_wake_ups_of_a_draining_task_handed_over_together_go_out_once():
    sent, gate, entered = [], threading.Event(), threading.Event()

    def enqueue(batch):
        entered.set()
        gate.wait(5)  # a slow queue: more requests commit meanwhile
        sent.append(list(batch))

    handoff = Handoff(wait=5)
    handed = handoff.wrap(enqueue)
    handed([(ingest.TASK, 1)])  # returns without waiting for the queue
    assert entered.wait(5)
    for ident in range(2, 6):
        handed([(ingest.TASK, ident)])
    handed([("deliver", 7), (ingest.TASK, 6)])
    gate.set()
    handed([("deliver", 8)])  # not a draining task: waits until enqueued
    assert sent == [[(ingest.TASK, 1)], [(ingest.TASK, 2)], [("deliver", 7)], [("deliver", 8)]]
