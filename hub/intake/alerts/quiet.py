"""The quiet-time timer: a minor incident opened by alerts alone resolves itself once every
alert has stayed resolved for the policy's `alerts.quiet_time`. Never a major incident."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from hub.app.models import Alert, Incident, Timer
from hub.core import lifecycle
from hub.incidents import timers
from hub.incidents.operations import resolve
from hub.incidents.timer_actions import action
from hub.intake.alerts.ingest import QUIET
from hub.policy.model import Policy


def _skip(timer: Timer, reason: str, now: datetime) -> str:
    timers.cancel([timer], reason, now)
    return "cancelled"


@action(QUIET)
def resolve_when_quiet(
    session: Session, policy: Policy, incident: Incident, timer: Timer, now: datetime
) -> str:
    """Resolve the minor incident if no alert of it fired again since the timer was set."""
    if incident.state not in lifecycle.ACTIVE:
        return _skip(timer, f"incident is {incident.state}", now)
    if incident.major:
        return _skip(timer, "a major incident is resolved by its MIM", now)
    firing = session.scalar(
        select(func.count()).where(Alert.incident_id == incident.id, Alert.state == "firing")
    )
    if firing:
        return _skip(timer, f"{firing} alert(s) fired again", now)
    quiet = policy.alerts.quiet_time
    total = (timer.data or {}).get("total", 0)
    resolve(
        session,
        policy,
        incident,
        f"All {total} alerts resolved and quiet for {int(quiet.total_seconds() // 60)} min; "
        "resolved by the hub",
        actor=incident.reporter or "monitoring",
        now=now,
    )
    return "fired"
