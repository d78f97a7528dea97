"""Limits shared by worker processes (Redis or a file per endpoint), lanes in delivery order,
and the due rows in rank-then-age order."""

from __future__ import annotations

import multiprocessing
import threading
import time
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import select, update
from workflow_kit import T0, declare, notes

from hub.app.models import Notification
from hub.channels import registry
from hub.channels.teams import cards
from hub.notifications import delivery, lanes, outbox, priority, shared_throttle
from hub.notifications.shared_throttle import FileStore, RedisStore, SharedRateLimiter
from hub.notifications.throttle import RateLimiter
from tests.conftest import REDIS_URL, _reachable
from tests.notifications.test_outbox import transports  # noqa: F401 (a fixture)


def _take(directory: str, n: int, out) -> None:  # a separate process taking slots
    limiter = SharedRateLimiter(FileStore(directory), "hook", 10.0, fallback=RateLimiter(10.0))
    for _ in range(n):
        limiter.acquire("https://example.test/hook")
        out.put(time.time())


def test_two_processes_share_one_file_limit(tmp_path):
    out = multiprocessing.get_context("fork").Queue()
    procs = [
        multiprocessing.get_context("fork").Process(target=_take, args=(str(tmp_path), 6, out))
        for _ in range(2)
    ]
    for p in procs:
        p.start()
    times = sorted(out.get(timeout=20) for _ in range(12))
    for p in procs:
        p.join(10)
    # 12 requests at 10/s with a burst of 1: never two within one interval (minus jitter)
    # (each process alone would have finished in 0.5 s)
    assert times[-1] - times[0] >= 1.0, times


@pytest.fixture
def redis_store():
    problem = _reachable(REDIS_URL, 6379)
    if problem:
        pytest.skip(f"Redis not reachable at {problem}")
    store = RedisStore(REDIS_URL, f"mihub.rate.test{uuid.uuid4().hex[:8]}")
    yield store
    keys = list(store.client.scan_iter(f"{store.prefix}.*"))
    if keys:
        store.client.delete(*keys)


def test_redis_limit_is_shared_and_honours_a_block(redis_store):
    a = SharedRateLimiter(redis_store, "hook", 4.0, fallback=RateLimiter(4.0))
    b = SharedRateLimiter(redis_store, "hook", 4.0, fallback=RateLimiter(4.0))
    assert a.try_acquire("k") == 0.0
    wait = b.try_acquire("k")  # the other "process" sees the slot taken
    assert 0.2 <= wait <= 0.25
    assert b.delay_for("other") == 0.0  # endpoints are independent
    b.block("k", 2.0)
    assert 1.9 <= a.delay_for("k") <= 2.0
    a.paging("k")
    assert b.paging_elsewhere("k") is False  # same process: both limiters are ours


def test_paging_elsewhere_is_seen_by_another_owner(tmp_path, monkeypatch):
    store = FileStore(tmp_path)
    limiter = SharedRateLimiter(store, "hook", 4.0, fallback=RateLimiter(4.0))
    limiter.paging("k", seconds=0.5)
    assert limiter.paging_elsewhere("k") is False
    monkeypatch.setattr(shared_throttle, "OWNER", "another-worker")
    assert limiter.paging_elsewhere("k") is True
    time.sleep(0.6)
    assert limiter.paging_elsewhere("k") is False  # the mark runs out


def test_a_lane_sends_pages_first_then_by_age():
    sent, gate = [], threading.Event()

    def send(label):
        gate.wait(5)  # hold the lane until everything is queued
        sent.append(label)

    endpoint = f"test:{uuid.uuid4().hex}"
    order = [(2, 10, "update-10"), (0, 30, "page-30"), (2, 5, "update-5"), (1, 20, "sla-20")]
    order += [(0, 25, "page-25")]
    lanes.submit(endpoint, 100.0, 0, 0, lambda: send("first"), lambda s: None)
    for rank, row_id, label in order:
        lanes.submit(endpoint, 100.0, rank, row_id, lambda x=label: send(x), lambda s: None)
    gate.set()
    deadline = time.monotonic() + 5
    while len(sent) < 6 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert sent == ["first", "page-25", "page-30", "sla-20", "update-5", "update-10"]


def test_a_full_lane_gives_back_its_last_row(monkeypatch):
    monkeypatch.setattr(lanes, "MAX_WAITING", 2)
    gate, back = threading.Event(), []
    endpoint = f"test:{uuid.uuid4().hex}"
    lanes.submit(endpoint, 4.0, 0, 1, lambda: gate.wait(5), back.append)  # being sent
    time.sleep(0.1)
    for row_id, rank in ((2, 2), (3, 2), (4, 0)):  # the page pushes out the newest update
        lanes.submit(endpoint, 4.0, rank, row_id, lambda: None, lambda s, r=row_id: back.append(r))
    deadline = time.monotonic() + 2
    while not back and time.monotonic() < deadline:
        time.sleep(0.01)
    gate.set()
    assert back == [3]


def test_due_rows_come_by_rank_then_age_whatever_their_next_attempt(wired):
    declare(wired)
    with wired.db.session() as session:
        ids = list(session.scalars(select(Notification.id).order_by(Notification.id)))
        assert len(ids) >= 3
        update_id, sla_id, page_id = ids[:3]
        for row_id, template, offset in (
            (update_id, "stakeholder-update", -30),  # the oldest attempt time: still last
            (sla_id, "sla-warning", -20),
            (page_id, "page", -1),  # deferred and due only now: still first
        ):
            session.execute(
                update(Notification)
                .where(Notification.id == row_id)
                .values(template=template, next_attempt_at=T0 + timedelta(seconds=offset))
            )
    with wired.db.session() as session:
        due = outbox.due_rows(session, T0)
    assert due.index(page_id) < due.index(sla_id) < due.index(update_id)


def test_ranks():
    assert priority.rank("page") == priority.rank("escalation") == priority.PAGE
    assert priority.rank("sla-breach") == priority.SLA
    assert priority.rank("stakeholder-update") == priority.UPDATE
    assert priority.rank(None) == priority.UPDATE


def test_a_blocked_webhook_holds_no_email_page(
    wired,
    transports,  # noqa: F811
    monkeypatch,
):
    """With lanes (the worker), the chunk's email rows are sent at once while the webhook's
    cards wait in its lane; when the webhook answers again every card row is sent (one by one
    here: the stub renderer's messages are not cards to combine)."""
    limiter = RateLimiter(4.0)
    monkeypatch.setattr(
        delivery,
        "throttle_for",
        lambda s, c, m: (limiter, m["url"], True) if c == "teams" else None,
    )
    delivery.use_lanes()
    try:
        iid = declare(wired)
        cards = [r.id for r in notes(wired, iid, channel="teams") if r.template == "page"]
        mails = [r.id for r in notes(wired, iid, channel="email") if r.template == "page"]
        assert len(cards) >= 2 and mails
        limiter.block(notes(wired, iid, channel="teams")[0].payload["url"], 1.0)
        t0 = time.monotonic()
        outcomes = delivery.deliver_rows(wired, cards + mails)
        assert time.monotonic() - t0 < 0.9  # nobody waited for the blocked webhook
        assert {outcomes[i] for i in mails} == {"sent"}
        assert {outcomes[i] for i in cards} == {"queued"}
        assert transports["teams"].sent == []
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with wired.db.session() as session:
                statuses = {
                    s
                    for s in session.scalars(
                        select(Notification.status).where(Notification.id.in_(cards))
                    )
                }
            if statuses == {"sent"}:
                break
            time.sleep(0.1)
        assert statuses == {"sent"}
    finally:
        delivery.use_lanes(False)
    assert len(transports["teams"].sent) == len(cards)


def _page_card(name: str) -> dict:
    tag = f"<at>{name}</at>"
    card = {
        "type": "AdaptiveCard",
        "version": "1.4",
        "msteams": {
            "entities": [
                {"type": "mention", "text": tag, "mentioned": {"id": f"{name}@x", "name": name}}
            ]
        },
        "body": [{"type": "TextBlock", "text": f"{tag}, you are paged", "wrap": True}],
        "actions": [{"type": "Action.OpenUrl", "title": "Acknowledge", "url": f"https://h/{name}"}],
    }
    return {"url": "https://hook.example/oncall", "envelope": cards.envelope(card)}


def test_pages_combine_into_one_card_that_mentions_each_person():
    channel = registry.get("teams")
    one = channel.combine("teams", [_page_card("Anna"), _page_card("Felix")])
    card = cards.validate_envelope(one["envelope"])
    assert one["url"] == "https://hook.example/oncall"
    assert [e["mentioned"]["id"] for e in card["msteams"]["entities"]] == ["Anna@x", "Felix@x"]
    acks = [
        a["url"]
        for c in card["body"]
        for i in c["items"]
        if i["type"] == "ActionSet"
        for a in i["actions"]
    ]
    assert acks == ["https://h/Anna", "https://h/Felix"]  # each page keeps its own button
    other = dict(_page_card("Ben"), url="https://hook.example/other")
    assert channel.combine("teams", [_page_card("Anna"), other]) is None  # two endpoints
    assert channel.combine("teams", [_page_card("Anna"), {"url": "x", "envelope": {}}]) is None
