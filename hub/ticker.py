"""tick(hub, now): find everything due or stuck in the database and hand it to the queue.

Huey is at-most-once, so this is what makes a lost wake-up harmless: the reconcile task runs
it once a minute and at worker start. It only reads indexed columns (`status, next_attempt_at`
and `state, due_at`) and enqueues ids, so it stays cheap with a large history.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import exists, func, select

from hub.app import audit
from hub.app.context import Hub, queue_job
from hub.app.models import Incident, Timer
from hub.core import lifecycle
from hub.incidents import timers, undeliverable
from hub.incidents.staffing import schedule_mobilisation
from hub.incidents.timeline import add_timeline
from hub.intake.alerts.ingest import stuck as stuck_alerts
from hub.intake.email.quarantine import reprocess_pending
from hub.notifications import outbox, sent_journal
from hub.schedules.shift_notices import send_shift_notices

log = logging.getLogger("hub.notifications.outbox")

BATCH = 1000  # per tick and kind; more waits for the next tick (or the tasks' own wake-ups)


def replay_journals(hub: Hub) -> int:
    """Mark sent what the journals of stopped workers on this machine say went out."""
    marked = 0
    with sent_journal.orphans(hub.settings.data_dir / "journal") as paths:
        for path in paths:
            entries = sent_journal.read(path)
            if entries:
                with hub.transaction() as session:
                    marked += outbox.mark_sent_many(
                        session, [(e["id"], e["provider_id"], e["at"], None) for e in entries]
                    )
                log.warning(
                    "sent journal %s: a stopped worker had sent %d message(s); marked sent",
                    path.name,
                    len(entries),
                )
            path.unlink(missing_ok=True)  # only once its rows are committed
    return marked


_last_purge: list[datetime] = []


def _audit_purge_due(now: datetime) -> bool:
    if _last_purge and now - _last_purge[0] < timedelta(hours=1):
        return False
    _last_purge[:] = [now]
    return True


def tick(hub: Hub, now: datetime, limit: int = BATCH) -> dict[str, int]:
    """Re-enqueue due timers and due or stuck deliveries; returns counts by kind.

    Journals of stopped workers are replayed first, and the lines of live workers' journals
    marked sent, so a row a provider accepted is marked sent before its expired claim could
    put it back to pending.
    """
    replay_journals(hub)
    accepted = sent_journal.unconfirmed(hub.settings.data_dir / "journal")
    with hub.transaction() as session:
        # a live worker's accepted messages too: its claims may have run out while it could
        # not reach the database, and they must not go back to pending and out again
        outbox.mark_sent_many(
            session, [(e["id"], e["provider_id"], e["at"], None) for e in accepted]
        )
        if _audit_purge_due(now):  # the retention (HUB_AUDIT_RETENTION), once an hour
            audit.purge(session, hub.settings.duration("HUB_AUDIT_RETENTION"), now)
        notification_ids = outbox.due_rows(session, now, limit)
        timer_ids = timers.due_ids(session, now, limit)
        for ident in timer_ids:  # timers first: they may page people
            queue_job(session, "fire_timer", ident)
        for ident in notification_ids:
            queue_job(session, "deliver", ident)
        alert_ids = stuck_alerts(session, now, limit)  # stored alerts whose processing was lost
        for ident in alert_ids:
            queue_job(session, "process_alerts", ident)
    inbound = reprocess_pending(hub, now)  # stored mail whose processing wake-up was lost
    return {
        "timers": len(timer_ids),
        "notifications": len(notification_ids),
        "inbound": inbound + len(alert_ids),
        "mobilisations": remobilise(hub, now),
        "shift_notices": shift_notices(hub, now),
        "pages_undelivered": undeliverable.sweep(hub, now),  # a lost `page_failed` wake-up
    }


def shift_notices(hub: Hub, now: datetime) -> int:
    """Notices to people whose on-call shift starts within the hour or just started."""
    if not hub.policy.schedules:
        return 0
    with hub.transaction() as session:
        return send_shift_notices(session, hub.policy, hub.settings, now)


MOBILISE_TRIES = 3


def remobilise(hub: Hub, now: datetime) -> int:
    """Declared major incidents whose mobilisation failed: try again, say so, count them.

    A `mobilise` timer whose action raised is parked as failed (hub/incidents/firing.py); without
    this, its incident would stay declared with nobody paged. Retried up to MOBILISE_TRIES
    times, with an entry on the timeline and an error in the log each time.
    """
    mob = Timer.__table__.alias("mob")
    started = exists().where(
        mob.c.incident_id == Incident.id,
        mob.c.kind == "mobilise",
        mob.c.state.in_(("pending", "fired")),
    )
    failed = (
        select(func.count())
        .select_from(mob)
        .where(mob.c.incident_id == Incident.id, mob.c.kind == "mobilise", mob.c.state == "failed")
        .scalar_subquery()
    )
    again = 0
    with hub.transaction() as session:
        stuck = session.scalars(
            select(Incident).where(
                Incident.major.is_(True),
                Incident.state.in_(lifecycle.ACTIVE),
                ~started,
                failed > 0,
                failed < MOBILISE_TRIES,
            )
        ).all()
        for incident in stuck:
            log.error("%s: its mobilisation failed; trying again", incident.ref)
            add_timeline(
                session,
                incident,
                "mobilisation",
                "Mobilisation failed (roles, pages, notice); trying again",
                actor=None,
                now=now,
            )
            schedule_mobilisation(session, incident, now=incident.declared_at or now)
            again += 1
    return again
