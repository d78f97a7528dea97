"""The delivery task: claim an outbox row, throttle per endpoint, send, record the answer.

The database owns every row (see hub/outbox.py); a Huey task is only a wake-up. Transports
and rate limiters are made once per process and shared by the worker threads. The limits
are per process: with several worker processes, give each its share of the provider's limit.
"""

from __future__ import annotations

import logging
import threading
from datetime import datetime, timedelta

from hub import outbox
from hub.channels.base import PermanentError, TransientError
from hub.context import Hub, queue_job_at
from hub.db import utcnow
from hub.models import Notification
from hub.settings import Settings
from tasks import registry
from tasks.queue import huey
from tasks.runtime import get_hub

log = logging.getLogger("hub.worker")

MAX_INLINE_WAIT = 1.0  # seconds a worker may wait for a throttle; beyond, the row is deferred
# Optional settings (HUB_* names; these defaults apply when they are unset).
DEFAULTS = {
    "HUB_TEAMS_WEBHOOK_RATE": 4.0,  # requests/s per Workflows webhook
    "HUB_TEAMS_BOT_RATE": 4.0,  # requests/s per conversation
    "HUB_GRAPH_SEND_PER_MINUTE": 30.0,  # Exchange: messages/minute per mailbox
    # Seconds a worker owns a row it is sending; keep it well above every transport timeout.
    "HUB_DELIVERY_LEASE": outbox.LEASE.total_seconds(),
}

# channel -> (limiter name shared with the transport, payload field that is the endpoint, rate)
TEAMS_LIMITS = {
    "teams": ("teams-webhook", "url", "HUB_TEAMS_WEBHOOK_RATE"),
    "bot": ("teams-bot", "conversation_id", "HUB_TEAMS_BOT_RATE"),
}

_transports: dict[str, object] = {}
_lock = threading.Lock()


def use_transport(channel: str, transport) -> None:
    """Send this channel's rows through `transport` (tests, demo); None forgets it."""
    with _lock:
        if transport is None:
            _transports.pop(channel, None)
        else:
            _transports[channel] = transport


def transport_for(settings: Settings, channel: str):
    """The process-wide transport of a channel (email, teams, bot)."""
    with _lock:
        if channel not in _transports:
            if channel == "email":
                from hub.mail.transports import make_mail_transport

                _transports[channel] = make_mail_transport(settings)
            else:
                from hub.teams.transports import make_teams_transport

                _transports[channel] = make_teams_transport(settings, channel)
        return _transports[channel]


def _number(settings: Settings, name: str) -> float:
    value = settings.values.get(name)
    return float(value) if value else DEFAULTS[name]


def throttle_for(settings: Settings, channel: str, payload: dict):
    """(limiter, key, acquire_here) for the row's endpoint, or None when it is not limited.

    The Teams transports take their slot from the same process-wide limiter themselves, so
    for them the worker only looks ahead (and defers a long wait); Graph mail is acquired here.
    """
    from hub.teams.throttle import shared_limiter

    if channel in TEAMS_LIMITS:
        name, field, setting = TEAMS_LIMITS[channel]
        key, rate = payload.get(field), _number(settings, setting)
    elif channel == "email" and (settings["HUB_MAIL_TRANSPORT"] or "") == "graph":
        name, key = "graph-mailbox", settings["HUB_GRAPH_MAILBOX"]
        rate = _number(settings, "HUB_GRAPH_SEND_PER_MINUTE") / 60.0
    else:
        return None
    if not key:
        return None
    return shared_limiter(name, rate), key, name == "graph-mailbox"


def _finish(hub: Hub, row_id: int, mark, *args) -> datetime | None:
    with hub.transaction() as session:
        row = session.get(Notification, row_id, with_for_update=True)
        at = mark(row, *args)
        if isinstance(at, datetime):
            queue_job_at(session, "deliver", row_id, at)
        return at


def deliver_now(hub: Hub, row_id: int, now: datetime | None = None) -> str:
    """Deliver one row: "sent", "retry", "failed", "deferred" or "skipped" (not ours)."""
    clock = (lambda: now) if now is not None else utcnow
    lease = timedelta(seconds=_number(hub.settings, "HUB_DELIVERY_LEASE"))
    with hub.db.session() as session:
        if not outbox.claim(session, row_id, clock(), lease):
            return "skipped"
        row = session.get(Notification, row_id)
        channel, payload = row.channel, row.payload
    throttle = throttle_for(hub.settings, channel, payload)
    if throttle is not None:
        limiter, key, acquire_here = throttle
        wait = limiter.delay_for(key)
        if wait > MAX_INLINE_WAIT or (acquire_here and not limiter.acquire(key, MAX_INLINE_WAIT)):
            # Waiting long would hold a worker thread: give the row back until then.
            at = clock() + timedelta(seconds=max(limiter.delay_for(key), 0.05))
            _finish(hub, row_id, _defer, at)
            return "deferred"
    try:
        sent = transport_for(hub.settings, channel).send(payload)
    except TransientError as exc:
        if throttle is not None and throttle[2] and exc.retry_after:
            throttle[0].block(throttle[1], exc.retry_after)
        at = _finish(hub, row_id, outbox.mark_retry, str(exc), exc.retry_after, clock())
        return "retry" if at else "failed"
    except PermanentError as exc:
        _finish(hub, row_id, outbox.mark_failed, str(exc), clock())
        return "failed"
    except Exception as exc:  # a bug or an unexpected error: retry with backoff, then give up
        log.exception("notification %s: unexpected error while sending", row_id)
        at = _finish(hub, row_id, outbox.mark_retry, f"{type(exc).__name__}: {exc}", None, clock())
        return "retry" if at else "failed"
    _finish(hub, row_id, outbox.mark_sent, sent, clock())
    return "sent"


def _defer(row: Notification, at: datetime) -> datetime:
    outbox.release(row, at)
    return at


@registry.register("deliver")
@huey.task(name="deliver")
def deliver(row_id: int) -> str:
    """Wake-up for one outbox row."""
    return deliver_now(get_hub(), row_id)
