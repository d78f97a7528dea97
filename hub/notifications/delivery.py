"""Delivering outbox rows: claim, render, throttle per endpoint, send, record the answers.

The database owns every row (see hub/notifications/outbox.py); a queued task is only a
wake-up (tasks/delivery.py). One event's rows arrive as one batch, which the task splits so
that every worker thread takes part (each with its own pooled SMTP connection). A chunk is
claimed in one statement; each accepted message goes to the sent journal at once and to the
database in small batches. Each row's channel (hub.channels.registry) renders it, makes the
transport that sends it and says how fast its endpoint may be sent to; transports and rate
limiters are made once per process and shared by the worker threads; a worker process
counts the limits with every other worker (hub/notifications/shared_throttle.py) and sends
the rows of a limited endpoint through that endpoint's lane (hub/notifications/lanes.py), in
delivery order (hub/notifications/priority.py). Without lanes (a caller that delivers in its
own thread), a row whose endpoint is busy is deferred to a later slot.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections import deque
from datetime import datetime, timedelta
from functools import partial

from hub.app.context import Hub, queue_job, queue_job_at
from hub.app.db import utcnow
from hub.app.models import Notification
from hub.app.settings import Settings
from hub.channels import registry
from hub.channels.base import PermanentError, TransientError
from hub.notifications import batches, lanes, leases, outbox, priority, unsubscribed
from hub.notifications.notify import RenderError, is_deferred, materialize
from hub.notifications.sent_journal import SentJournal

log = logging.getLogger("hub.worker")

MAX_INLINE_WAIT = 0.3  # seconds a worker may wait for a throttle; beyond, the row is deferred
# (short: a busy channel webhook must not hold the threads that pages and other rows need)

_transports: dict[str, object] = {}
_lock = threading.Lock()
_LANES: list[bool] = []  # [True] once `use_lanes()` was called (the worker process)


def use_lanes(on: bool = True) -> None:
    """Send rows of rate-limited endpoints through lanes (worker processes) or not."""
    _LANES[:] = [True] if on else []


def use_transport(kind: str, transport) -> None:
    """Send rows of this outbox kind through `transport` (tests, demo); None forgets it."""
    with _lock:
        if transport is None:
            _transports.pop(kind, None)
        else:
            _transports[kind] = transport


def transport_for(settings: Settings, kind: str):
    """The process-wide transport of an outbox kind (email, teams, bot), made by its channel."""
    with _lock:
        if kind not in _transports:
            _transports[kind] = registry.for_kind(kind).make_transport(settings, kind)
        return _transports[kind]


def throttle_for(settings: Settings, kind: str, message: dict):
    """(limiter, endpoint key, acquire_here) for the row's endpoint, or None when it is not
    limited (see `Channel.limit`)."""
    return registry.for_kind(kind).limit(settings, kind, message)


MARK_EVERY = 25  # accepted messages per database commit (the journal has them at once)
# Seconds: commit sooner when messages are slow to go out. A chunk (20 rows, tasks/delivery.py)
# is also committed when it ends, so at a relay's usual pace (10-30 ms a message a thread) a
# chunk's rows go in one commit: each commit costs the shared database about as much as
# marking 5-10 rows (PostgreSQL backend CPU 0.12-0.15 -> 0.07-0.10 ms a row from 8 rows a
# commit to 20), and a worker of 8 threads made ~100 of them a second at 0.25 s.
MARK_AFTER = 1.0

_journals: dict[str, SentJournal] = {}


def journal_for(hub: Hub) -> SentJournal:
    """This process's sent journal in the data directory."""
    path = hub.settings.data_dir / "journal"
    with _lock:
        if str(path) not in _journals:
            _journals[str(path)] = SentJournal(path)
        return _journals[str(path)]


def _finish(hub: Hub, row_id: int, mark, *args) -> datetime | None:
    with hub.transaction() as session:
        row = session.get(Notification, row_id, with_for_update=True)
        at = mark(row, *args)
        if isinstance(at, datetime):
            queue_job_at(session, "deliver", row_id, at)
        elif row.status == "failed" and priority.rank(row.template) == priority.PAGE:
            queue_job(session, "page_failed", row_id)  # was its person reached at all?
        return at


class _Marks:
    """Accepted messages waiting for their batch commit (the journal has them already)."""

    def __init__(self, hub: Hub):
        self.hub, self.rows, self.since = hub, [], 0.0
        self.journal = journal_for(hub)

    def add(
        self, row_id: int, sent, at: datetime, rendered: dict | None, batch: bool = False
    ) -> None:
        """`batch`: the row carries a batch's message (its members are marked with it)."""
        try:
            self.journal.record(row_id, sent.provider_id, at)
            journalled = True
        except OSError:  # a full or broken disk: the database is the only record left
            log.exception("sent journal: could not record row %s; marking it sent now", row_id)
            journalled = False
        if not self.rows:
            self.since = time.monotonic()
        self.rows.append((row_id, sent.provider_id, at, rendered, journalled, batch))
        if (
            not journalled
            or len(self.rows) >= MARK_EVERY
            or time.monotonic() - self.since >= MARK_AFTER
        ):
            self.flush()

    def flush(self) -> None:
        if not self.rows:
            return
        rows, self.rows = self.rows, []
        with _lock:
            rows, _unmarked[:] = _unmarked + rows, []
        try:
            with self.hub.transaction() as session:
                outbox.mark_sent_many(session, [r[:4] for r in rows], [r[0] for r in rows if r[5]])
        except Exception:  # the database is away: keep them (and the journal) for later
            log.exception("could not mark %d sent message(s); keeping them to retry", len(rows))
            with _lock:
                _unmarked.extend(rows)
            return
        self.journal.committed(sum(1 for r in rows if r[4]))


# Accepted messages whose batch commit failed: retried with the next batch or tick (their
# journal lines stay until then, so a restart would replay them too).
_unmarked: list = []


def mark_unmarked(hub: Hub) -> None:
    """Retry the batch commits that failed (the reconcile tick calls this)."""
    _Marks(hub).flush()


def deliver_now(hub: Hub, row_id: int, now: datetime | None = None) -> str:
    """Deliver one row: "sent", "retry", "failed", "deferred", "unsubscribed" (its subscriber
    left: not sent) or "skipped" (not ours)."""
    return deliver_rows(hub, [row_id], now)[row_id]


def deliver_rows(hub: Hub, row_ids: list[int], now: datetime | None = None) -> dict[int, str]:
    """Deliver these rows in order; the outcome of each (see `deliver_now`)."""
    clock = (lambda: now) if now is not None else utcnow
    lease = timedelta(seconds=float(hub.settings["HUB_DELIVERY_LEASE"]))
    keeper = leases.keeper_for(hub, lease.total_seconds())
    outcomes = dict.fromkeys(row_ids, "skipped")
    with hub.db.session() as session:  # claimed and read in one statement
        claimed = outbox.claim_rows(
            session,
            row_ids,
            clock(),
            lease,
            Notification.channel,
            Notification.payload,
            Notification.template,
            Notification.key,
        )
    won = [i for i in row_ids if i in claimed]
    keeper.hold(won)  # renewed while we work: a send may outlast the lease, never our life
    found = {i: (c, p, t, batches.is_batch_key(k)) for i, (c, p, t, k) in claimed.items()}
    # A subscriber who left since the row was queued gets nothing (a write only then).
    pairs = {i: p for i, f in found.items() if (p := unsubscribed.subscription_of(f[1]))}
    if pairs:
        with hub.db.session(write=False) as session:
            gone = unsubscribed.ended(session, pairs)
        if gone:
            with hub.transaction() as session:
                unsubscribed.mark_skipped(session, gone)
            outcomes.update(dict.fromkeys(gone, "unsubscribed"))
            keeper.drop(gone)
            won = [i for i in won if i not in set(gone)]
    marks = _Marks(hub)
    won = sorted(won, key=lambda i: (priority.rank(found[i][2]), i))  # pages first, then age
    todo, postponed, messages, laned = deque(won), set(), {}, set()
    try:
        while todo:
            # No send starts while our claims are not being renewed (the database is away):
            # they could run out and another worker send the same rows.
            if not keeper.fresh():
                log.warning("leases not renewed: handing %d row(s) back for later", len(todo))
                break
            row_id = todo.popleft()
            channel, payload, template, batch = found[row_id]
            if row_id not in messages:
                try:
                    messages[row_id] = materialize(payload, hub.settings)
                except RenderError as exc:
                    _finish(hub, row_id, outbox.mark_failed, str(exc), clock())
                    outcomes[row_id] = "failed"
                    continue
            message = messages[row_id]
            throttle = throttle_for(hub.settings, channel, message)
            if throttle is not None and _LANES:  # its endpoint's lane sends it in its turn
                send = partial(
                    _lane_send, hub, keeper, row_id, channel, payload, message, throttle, batch
                )
                back = partial(_lane_give_back, hub, keeper, row_id)
                endpoint = f"{channel}:{throttle[1]}"
                rank, together = priority.rank(template), None
                if rank == priority.PAGE:
                    send = partial(_paging_then, throttle, send)
                    batch = partial(_lane_send_together, hub, keeper, channel, throttle)
                    together = (batch, (row_id, payload, message))
                defer = getattr(throttle[0], "paging_elsewhere", None)
                defer = partial(defer, throttle[1]) if defer else lanes.never
                lanes.submit(endpoint, throttle[0].rate, rank, row_id, send, back, defer, together)
                laned.add(row_id)
                outcomes[row_id] = "queued"
                continue
            if (
                throttle is not None
                and todo
                and row_id not in postponed
                and throttle[0].delay_for(throttle[1]) > 0
            ):  # a throttled endpoint must not hold up the rest (an email page behind cards)
                postponed.add(row_id)
                todo.append(row_id)
                continue
            try:
                outcomes[row_id] = _deliver_one(
                    hub, row_id, channel, payload, message, throttle, clock, marks, batch=batch
                )
            except Exception:  # e.g. the database failed us while recording an outcome
                log.exception("notification %s: could not record its outcome", row_id)
                outcomes[row_id] = "error"  # still claimed: the tick retries it after the lease
    finally:
        marks.flush()
        untried = [i for i in todo if outcomes[i] == "skipped"]
        if untried:
            _hand_back(hub, untried)
        keeper.drop([i for i in won if i not in laned])  # a lane drops its rows when done
    return outcomes


def _lane_send(
    hub: Hub, keeper, row_id, channel, payload, message, throttle, batch: bool = False
) -> None:
    """A lane's turn for this row: wait for the endpoint's shared slot, send, record."""
    try:
        if not keeper.fresh():
            _hand_back(hub, [row_id])
            return
        marks = _Marks(hub)
        _deliver_one(
            hub, row_id, channel, payload, message, throttle, utcnow, marks, True, batch=batch
        )
        marks.flush()
    finally:
        keeper.drop([row_id])


def _lane_send_together(hub: Hub, keeper, channel: str, throttle, items: list) -> None:
    """Pages waiting together for one endpoint: one message if the channel combines them
    (each row marked sent with it), else one by one."""
    ids = [row_id for row_id, _, _ in items]
    try:
        if not keeper.fresh():
            _hand_back(hub, ids)
            return
        mark = getattr(throttle[0], "paging", None)
        if mark:
            mark(throttle[1])
        try:
            combined = registry.for_kind(channel).combine(channel, [m for _, _, m in items])
        except Exception:  # a channel's bug must not strand the rows: one by one
            log.exception("could not combine %d message(s); sending them one by one", len(items))
            combined = None
        marks = _Marks(hub)
        if combined is None:
            for row_id, payload, message in items:
                _deliver_one(hub, row_id, channel, payload, message, throttle, utcnow, marks, True)
        else:
            _send_together(hub, channel, throttle, items, combined, marks)
        marks.flush()
    finally:
        keeper.drop(ids)


def _send_together(hub: Hub, channel, throttle, items, combined, marks) -> None:
    retry = partial(outbox.mark_retry, base_delay=float(hub.settings["HUB_RETRY_BASE"]))
    if throttle[2]:
        throttle[0].acquire(throttle[1])
    try:
        sent = _send(hub, channel, combined, lane=True)
    except TransientError as exc:
        for row_id, _, _ in items:
            _finish(hub, row_id, retry, str(exc), exc.retry_after, utcnow())
        return
    except Exception as exc:  # the combined message was refused: each row on its own
        log.warning("a combined message was refused (%s); sending its rows one by one", exc)
        for row_id, payload, message in items:
            _deliver_one(hub, row_id, channel, payload, message, throttle, utcnow, marks, True)
        return
    for row_id, payload, message in items:
        marks.add(row_id, sent, utcnow(), stored_copy(message) if is_deferred(payload) else None)


LANE_WAIT_MAX = 30.0  # seconds a lane waits for its throttled endpoint before the row retries
LANE_TRIES = 5


def _send(hub: Hub, channel: str, message: dict, lane: bool = False):
    """Send through the channel's transport. In a lane, a throttled endpoint (a 429 with
    Retry-After, or the shared limit) is waited for there, the rows keeping their place,
    instead of the row going back to the database behind newer ones."""
    transport = transport_for(hub.settings, channel)
    keeper = leases.keeper_for(hub, float(hub.settings["HUB_DELIVERY_LEASE"]))
    for tries in range(1, LANE_TRIES + 1):
        try:
            return transport.send(message)
        except TransientError as exc:
            wait = exc.retry_after
            if not lane or wait is None or wait > LANE_WAIT_MAX or tries == LANE_TRIES:
                raise
            time.sleep(max(wait, 0.05))
            if not keeper.fresh():  # our claims may have run out meanwhile
                raise
    raise AssertionError("unreachable")


def _paging_then(throttle, send) -> None:
    """Tell the other workers that pages go to this endpoint now, then send one."""
    mark = getattr(throttle[0], "paging", None)
    if mark:
        mark(throttle[1])
    send()


def _lane_give_back(hub: Hub, keeper, row_id: int, seconds: float) -> None:
    """A lane too long for this row: back to pending until about when its turn would come."""
    try:
        _finish(hub, row_id, _defer, utcnow() + timedelta(seconds=seconds))
    finally:
        keeper.drop([row_id])


def _hand_back(hub: Hub, row_ids: list[int]) -> None:
    """Claimed rows this chunk never tried go back to pending, without an attempt."""
    try:
        with hub.transaction() as session:
            outbox.unclaim_many(session, row_ids)
            for row_id in row_ids:
                queue_job(session, "deliver", row_id)
    except Exception:  # their claims expire and the tick finds them
        log.exception("could not hand back %d claimed row(s)", len(row_ids))


def _deliver_one(
    hub: Hub,
    row_id: int,
    channel: str,
    payload: dict,
    message: dict,
    throttle,
    clock,
    marks,
    lane: bool = False,
    *,
    batch: bool = False,
) -> str:
    if throttle is not None and lane:  # a lane's own thread: waiting holds nothing else up
        if throttle[2]:
            throttle[0].acquire(throttle[1])
    elif throttle is not None:
        limiter, key, acquire_here = throttle
        wait = limiter.delay_for(key)
        if wait > MAX_INLINE_WAIT or (acquire_here and not limiter.acquire(key, MAX_INLINE_WAIT)):
            # Waiting long would hold a worker thread: give the row back until a slot of its
            # own (rows deferred together get successive slots, not one shared instant).
            at = clock() + timedelta(seconds=_deferral_delay(limiter, key))
            _finish(hub, row_id, _defer, at)
            return "deferred"
    retry = partial(outbox.mark_retry, base_delay=float(hub.settings["HUB_RETRY_BASE"]))
    try:
        sent = _send(hub, channel, message, lane)
    except TransientError as exc:
        if throttle is not None and throttle[2] and exc.retry_after:
            throttle[0].block(throttle[1], exc.retry_after)
        at = _finish(hub, row_id, retry, str(exc), exc.retry_after, clock())
        return "retry" if at else "failed"
    except PermanentError as exc:
        _finish(hub, row_id, outbox.mark_failed, str(exc), clock())
        return "failed"
    except Exception as exc:  # a bug or an unexpected error: retry with backoff, then give up
        log.exception("notification %s: unexpected error while sending", row_id)
        at = _finish(hub, row_id, retry, f"{type(exc).__name__}: {exc}", None, clock())
        return "retry" if at else "failed"
    if sent.refused:  # a batch's message went to all but these: they fail alone
        with hub.transaction() as session:
            batches.members_refused(session, row_id, sent.refused)
    marks.add(row_id, sent, clock(), stored_copy(message) if is_deferred(payload) else None, batch)
    return "sent"


_PLUS_TOKEN = re.compile(r"\+[^@\s<>]+@")


def stored_copy(message: dict) -> dict:
    """What the row keeps of a sent message: the reply token of its Reply-To address (it lets
    a reply speak as the recipient) is not kept in clear."""
    headers = message.get("headers")
    if not isinstance(headers, dict) or "Reply-To" not in headers:
        return message
    reply_to = _PLUS_TOKEN.sub("+…@", str(headers["Reply-To"]))
    return {**message, "headers": {**headers, "Reply-To": reply_to}}


_next_slot: dict[str, float] = {}  # endpoint -> monotonic time of its next deferral slot


def _deferral_delay(limiter, key: str) -> float:
    """Seconds until this deferred row's turn at `key`: after the limiter's next free slot and
    after every row deferred for `key` before it, one interval apart."""
    with _lock:
        now = time.monotonic()
        slot = max(now + max(limiter.delay_for(key), 0.05), _next_slot.get(key, 0.0))
        _next_slot[key] = slot + 1.0 / limiter.rate
        if len(_next_slot) > 10_000:  # endpoints come and go; forget the stale ones
            for stale in [k for k, t in _next_slot.items() if t < now]:
                del _next_slot[stale]
        return slot - now


def _defer(row: Notification, at: datetime) -> datetime:
    outbox.release(row, at)
    return at
