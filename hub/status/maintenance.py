"""Maintenance windows: scheduled and cancelled by Communications Owners and admins, audited."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.app import audit
from hub.app.errors import Forbidden, Invalid, NotFound
from hub.app.models import Maintenance
from hub.app.timefmt import iso
from hub.core.catalogue import unknown_services_message
from hub.core.classify import resolve_services
from hub.core.permissions import STATUS_REFUSAL, manages_status

LONGEST = timedelta(days=31)


def schedule_maintenance(
    session: Session,
    policy,
    *,
    services: list[str],
    start: datetime,
    end: datetime,
    text: str,
    public_text: str | None,
    actor: str,
    now: datetime,
) -> Maintenance:
    """A maintenance window on catalogue services (403 for people who may not set one)."""
    if not manages_status(policy, actor):
        raise Forbidden(STATUS_REFUSAL)
    keys, unknown = resolve_services(tuple(services or ()), policy)
    if unknown:
        raise Invalid(unknown_services_message(unknown, policy), code="unknown_service")
    if not keys:
        raise Invalid("name at least one service")
    if end <= start:
        raise Invalid("the window must end after it starts")
    if end - start > LONGEST:
        raise Invalid("a maintenance window lasts at most 31 days")
    if end <= now:
        raise Invalid("the window is already over")
    text = (text or "").strip()
    if not text:
        raise Invalid("say what the maintenance is (text)")
    window = Maintenance(
        services=list(keys),
        start_at=start,
        end_at=end,
        text=text,
        public_text=(public_text or "").strip() or None,
        state="scheduled",
        created_by=actor,
        created_at=now,
        updated_at=now,
    )
    session.add(window)
    session.flush()
    audit.record(
        session,
        "maintenance-scheduled",
        f"maintenance {window.id}",
        actor=actor,
        now=now,
        after=maintenance_doc(window),
    )
    return window


def cancel_maintenance(session: Session, policy, window_id: int, *, actor: str, now: datetime):
    """Cancel a window (it leaves the page; the row stays, `cancelled`)."""
    if not manages_status(policy, actor):
        raise Forbidden(STATUS_REFUSAL)
    window = session.get(Maintenance, window_id)
    if window is None:
        raise NotFound(f"no maintenance window {window_id}")
    if window.state == "cancelled":  # DELETE is idempotent: cancelled already
        return window
    before = maintenance_doc(window)
    window.state, window.cancelled_by, window.updated_at = "cancelled", actor, now
    audit.record(
        session,
        "maintenance-cancelled",
        f"maintenance {window.id}",
        actor=actor,
        now=now,
        before=before,
        after=maintenance_doc(window),
    )
    return window


def upcoming(session: Session, now: datetime) -> list[Maintenance]:
    """Scheduled windows not yet over, soonest first."""
    return list(
        session.scalars(
            select(Maintenance)
            .where(Maintenance.state == "scheduled", Maintenance.end_at > now)
            .order_by(Maintenance.start_at, Maintenance.id)
        )
    )


def maintenance_doc(w: Maintenance) -> dict:
    """A window as the API gives it."""
    return {
        "id": w.id,
        "services": list(w.services or ()),
        "start": iso(w.start_at),
        "end": iso(w.end_at),
        "text": w.text,
        "public_text": w.public_text,
        "state": w.state,
        "created_by": w.created_by,
        "cancelled_by": w.cancelled_by,
    }
