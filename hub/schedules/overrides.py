"""Overrides and swaps of on-call shifts, stored in the database (the policy holds the rotations).

The person taking a shift may create it themselves, an admin may create any; anyone else in
the schedule may offer a swap, which is `proposed` until the person taking the shift accepts.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.app.errors import Conflict, Forbidden, Invalid, NotFound
from hub.app.models import ScheduleOverride
from hub.core.schedules import Override, schedule_people
from hub.policy.model import Policy, Schedule

MAX_LENGTH = timedelta(days=31)


def active_overrides(session: Session, after: datetime) -> list[Override]:
    """Every active override that ends after `after`, oldest first (the newest wins)."""
    rows = session.scalars(
        select(ScheduleOverride)
        .where(ScheduleOverride.state == "active", ScheduleOverride.end_at > after)
        .order_by(ScheduleOverride.id)
    )
    return [to_core(row) for row in rows]


def to_core(row: ScheduleOverride) -> Override:
    """The pure core's view of a row."""
    return Override(row.schedule, row.person, row.start_at, row.end_at, id=row.id)


def schedule_or_404(policy: Policy, name: str) -> Schedule:
    """The policy's schedule by name (NotFound lists the names)."""
    schedule = policy.schedules.get(name)
    if schedule is None:
        known = ", ".join(policy.schedules) or "none"
        raise NotFound(f"no schedule {name!r}; schedules are: {known}")
    return schedule


def create_override(
    session: Session,
    policy: Policy,
    name: str,
    actor: str,
    person: str,
    start: datetime,
    end: datetime,
    *,
    now: datetime,
) -> ScheduleOverride:
    """`person` takes the shift from `start` to `end`; a swap offered by another is proposed."""
    schedule = schedule_or_404(policy, name)
    if person not in policy.people:
        raise Invalid(f"unknown person {person!r}")
    if end <= start:
        raise Invalid("end must be after start")
    if end - start > MAX_LENGTH:
        raise Invalid("an override lasts at most 31 days")
    if end <= now:
        raise Invalid("the override is over already")
    admin = actor in policy.people and policy.people[actor].admin
    if actor == person or admin:
        state = "active"
    elif actor in schedule_people(schedule):
        state = "proposed"  # a swap: the person taking the shift accepts it
    else:
        raise Forbidden(
            "only the person taking the shift, someone in the schedule (a swap) or an admin "
            "may override it"
        )
    row = ScheduleOverride(
        schedule=name, person=person, start_at=start, end_at=end, state=state,
        created_by=actor, created_at=now,
    )  # fmt: skip
    session.add(row)
    session.flush()
    return row


def _row(session: Session, name: str, override_id: int) -> ScheduleOverride:
    row = session.get(ScheduleOverride, override_id)
    if row is None or row.schedule != name or row.state == "removed":
        raise NotFound(f"no override {override_id} in schedule {name!r}")
    return row


def accept_swap(
    session: Session, name: str, override_id: int, actor: str, *, now: datetime
) -> ScheduleOverride:
    """The person taking a proposed shift accepts it: it becomes active."""
    row = _row(session, name, override_id)
    if row.state != "proposed":
        raise Conflict(f"override {override_id} is {row.state}, not proposed")
    if actor != row.person:
        raise Forbidden("only the person taking the shift may accept the swap")
    row.state = "active"
    return row


def remove_override(
    session: Session, policy: Policy, name: str, override_id: int, actor: str, *, now: datetime
) -> ScheduleOverride:
    """Remove an override (its person, its creator or an admin); the row stays, marked removed."""
    row = _row(session, name, override_id)
    admin = actor in policy.people and policy.people[actor].admin
    if actor not in (row.person, row.created_by) and not admin:
        raise Forbidden("only the person, whoever created it or an admin may remove an override")
    row.state, row.removed_at = "removed", now
    return row


def list_overrides(session: Session, name: str, after: datetime) -> list[ScheduleOverride]:
    """The schedule's proposed and active overrides that end after `after`."""
    return list(
        session.scalars(
            select(ScheduleOverride)
            .where(
                ScheduleOverride.schedule == name,
                ScheduleOverride.state.in_(("active", "proposed")),
                ScheduleOverride.end_at > after,
            )
            .order_by(ScheduleOverride.start_at, ScheduleOverride.id)
        )
    )


def override_json(row: ScheduleOverride) -> dict:
    """An override as the API shows it."""
    return {
        "id": row.id,
        "schedule": row.schedule,
        "person": row.person,
        "start": row.start_at.isoformat(),
        "end": row.end_at.isoformat(),
        "state": row.state,
        "created_by": row.created_by,
    }
