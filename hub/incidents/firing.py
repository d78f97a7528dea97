"""Firing a due timer: claim it and perform its action, in one transaction (the worker's
`fire_timer` task and the tests call `fire_timer_now`)."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.exc import DBAPIError

from hub.app.context import Hub, queue_job_at
from hub.app.models import Incident, Timer
from hub.incidents import timer_actions
from hub.incidents import timers as store

log = logging.getLogger("hub.worker")

EARLY = timedelta(seconds=30)  # clock skew between machines we wait out with an ETA wake-up


def fire_timer_now(hub: Hub, timer_id: int, now: datetime) -> str:
    """Fire the timer if it is pending and due: "fired", "cancelled", "skipped" or "failed"."""
    try:
        return _fire(hub, timer_id, now)
    except DBAPIError:
        raise  # the database failed us: the timer is still pending and the next tick retries
    except Exception as exc:  # a bug or a policy that no longer fits: do not retry forever
        log.exception("timer %s: its action failed; parking it as failed", timer_id)
        with hub.transaction() as session:
            store.fail(session, timer_id, f"{type(exc).__name__}: {exc}", now)
        return "failed"


def _fire(hub: Hub, timer_id: int, now: datetime) -> str:
    with hub.transaction() as session:
        # The incident's row first, then the timer's: a person acting on the incident locks
        # in that order too (`act`: the incident, then a pending mobilise timer), so
        # PostgreSQL never sees the two wait on each other.
        incident_id = session.scalar(select(Timer.incident_id).where(Timer.id == timer_id))
        if incident_id is not None:
            session.execute(select(Incident.id).where(Incident.id == incident_id).with_for_update())
        timer = store.claim(session, timer_id, now)
        if timer is None:  # not due yet, fired or cancelled
            _rearm_if_early(session, timer_id, now)
            return "skipped"
        outcome = timer_actions.fire(session, hub.policy, timer, now)
        log.info(
            "timer %s %s (%.3f s after due)",
            timer.key,
            outcome,
            (now - timer.due_at).total_seconds(),
        )
        return outcome


def _rearm_if_early(session, timer_id: int, now: datetime) -> None:
    """Handed over by a worker whose clock runs ahead of ours: come back at the due time
    rather than wait for the pump to hand it over again (30 s later)."""
    timer = session.get(Timer, timer_id)
    if timer is not None and timer.state == "pending" and now < timer.due_at <= now + EARLY:
        queue_job_at(session, "fire_timer", timer_id, timer.due_at)
