"""Timers in the database: schedule, cancel, claim. The database is the schedule.

The worker's timer pump (tasks/pump.py) polls for due timers twice a second and hands them
to Huey, so scheduling a timer writes one row and nothing else (no queue write per timer).

A timer is claimed and acted on in one transaction: `claim` flips it pending → fired with an
UPDATE guarded by its state, and the action (outbox rows, timeline) commits with the flip.
A worker that dies mid-action rolls both back, so the timer is still pending and the next
tick fires it; two workers racing on one timer serialise on the row (PostgreSQL row lock,
SQLite write lock) and the loser's UPDATE matches no row. Actions only write rows, never
call out, so firing is exactly-once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from hub.app.db import children
from hub.app.models import Incident, Timer

log = logging.getLogger("hub.incidents.timers")


def timer_key(kind: str, incident: Incident, *parts: object, revision: int = 0) -> str:
    """`escalate:INC-42:2`; a re-plan adds its revision: `escalate:INC-42:2:r1`."""
    key = ":".join([kind, incident.ref, *(str(p) for p in parts)])
    return f"{key}:r{revision}" if revision else key


def schedule(
    session: Session,
    incident: Incident,
    key: str,
    kind: str,
    due_at: datetime,
    data: dict | None = None,
    *,
    now: datetime,
) -> Timer:
    """Create the timer, or move a pending one with that key (no flush, no queue write).

    A key names its incident (`escalate:INC-42:2`), so an existing timer with that key is
    among the incident's own timers: no query per key.
    """
    timer = next((t for t in incident.timers if t.key == key), None)
    if timer is None:
        timer = Timer(
            key=key, kind=kind, due_at=due_at, data=data or {}, created_at=now, state="pending"
        )
        incident.timers.append(timer)
    elif timer.state == "pending":
        timer.due_at, timer.data = due_at, dict(data or timer.data)
    else:
        log.info("timer %s is already %s; not scheduling it again", key, timer.state)
    return timer


def pending(
    incident: Incident, kind: str | None = None, where: Callable[[Timer], bool] | None = None
) -> list[Timer]:
    """The incident's pending timers (of a kind, matching `where`)."""
    return [
        t
        for t in children(incident, "timers")
        if t.state == "pending" and (kind is None or t.kind == kind) and (where is None or where(t))
    ]


def cancel(timers: list[Timer], reason: str, now: datetime) -> int:
    """Cancel these timers, keeping the reason in their data; returns how many."""
    for timer in timers:
        timer.state = "cancelled"
        timer.data = {**(timer.data or {}), "cancelled": reason, "cancelled_at": now.isoformat()}
    return len(timers)


def claim(session: Session, timer_id: int, now: datetime) -> Timer | None:
    """Take a due pending timer for this transaction (pending → fired); None if not ours."""
    result = session.execute(
        update(Timer)
        .where(Timer.id == timer_id, Timer.state == "pending", Timer.due_at <= now)
        .values(state="fired", fired_at=now, claimed_until=None)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        return None
    return session.get(Timer, timer_id, populate_existing=True)


def fail(session: Session, timer_id: int, error: str, now: datetime) -> bool:
    """Park a timer whose action raised (state `failed`, the error in its data)."""
    timer = session.get(Timer, timer_id, with_for_update=True)
    if timer is None or timer.state != "pending":
        return False
    timer.state, timer.fired_at = "failed", now
    timer.data = {**(timer.data or {}), "error": error[:1000]}
    return True


def due_ids(session: Session, now: datetime, limit: int) -> list[int]:
    """Pending timers whose time has come, oldest first."""
    stmt = (
        select(Timer.id)
        .where(Timer.state == "pending", Timer.due_at <= now)
        .order_by(Timer.due_at)
        .limit(limit)
    )
    return list(session.scalars(stmt))
