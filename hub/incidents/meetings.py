"""The Teams bridge and the review meeting as Graph calendar events, owned by the database.

The bridge is made while the incident is mobilised (in the worker, in the mobilise timer's
transaction), before the first pages are written, so its join URL is in every page, card and
email and in the room. Its row carries a transactionId derived from the incident: if the worker
dies after Graph made the event but before the commit, the mobilise timer runs again and the
same transactionId gets the same event back, not a second one. A role changing hands updates
the attendees through a timer (`bridge-attendees`), so the request that made the change does
not wait on Graph. Without Graph (HUB_GRAPH_ORGANIZER unset) the policy's static link stays.
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from markupsafe import escape
from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.app.context import queue_job
from hub.app.models import Incident, IncidentMeeting, Review
from hub.channels.base import PermanentError, TransientError
from hub.channels.calendar import calendar_for
from hub.core.working_hours import first_working_slot
from hub.incidents import timers
from hub.incidents.mobilisation import planned_severity, settings_of
from hub.incidents.timeline import add_timeline
from hub.policy.model import Policy

log = logging.getLogger("hub.meetings")
BRIDGE_LENGTH = timedelta(hours=4)  # the invite's length; the meeting link works beyond it
RETRIES = 5
RETRY_AFTER = timedelta(minutes=1)


def transaction_id(secret: str, incident: Incident, kind: str) -> str:
    """The same id for the same incident and kind, every attempt (Graph's retry guard)."""
    salt = hashlib.sha256(secret.encode()).hexdigest()[:16]
    seed = f"mihub:{salt}:{incident.id}:{incident.created_at.isoformat()}:{kind}"
    return str(uuid.uuid5(uuid.NAMESPACE_URL, seed))


def meeting(session: Session, incident: Incident, kind: str) -> IncidentMeeting | None:
    """The incident's meeting row of this kind, if any."""
    return session.scalar(
        select(IncidentMeeting).where(
            IncidentMeeting.incident_id == incident.id, IncidentMeeting.kind == kind
        )
    )


def invitees(policy: Policy, keys: list[str]) -> list[tuple[str, str]]:
    """(name, email) of the people with an address, each once, in order."""
    out, seen = [], set()
    for key in keys:
        person = policy.people.get(key)
        if person and person.email and key not in seen:
            seen.add(key)
            out.append((person.name, person.email))
    return out


def role_holders(incident: Incident) -> list[str]:
    """The active role holders' keys, in role order."""
    return [r.person for r in incident.roles if r.active]


def ensure_bridge(
    session: Session, policy: Policy, incident: Incident, now: datetime
) -> str | None:
    """Make the incident's Teams bridge once; its join URL (None without Graph or on failure)."""
    settings = settings_of(session)
    calendar = calendar_for(settings)
    if calendar is None:
        return None
    row = meeting(session, incident, "bridge")
    if row is None:
        row = IncidentMeeting(
            incident_id=incident.id, kind="bridge", state="pending", attendees=[], attempts=0,
            transaction_id=transaction_id(settings.secret_key, incident, "bridge"),
        )  # fmt: skip
        session.add(row)
    if row.state == "created":
        return row.join_url
    keys = role_holders(incident)
    row.attempts += 1
    row.updated_at = now
    body = (
        f"<p>Bridge of major incident <b>{escape(incident.ref)}</b>: {escape(incident.title)}</p>"
        f"<p>{escape(settings.base_url)}/incidents/{escape(incident.ref)}</p>"
    )
    try:
        event = calendar.create(
            f"[{incident.ref}] {incident.title}"[:250], body, now, now + BRIDGE_LENGTH,
            invitees(policy, keys), row.transaction_id,
        )  # fmt: skip
    except (TransientError, PermanentError) as exc:
        _failed(session, incident, row, exc, now)
        return None
    row.event_id = event.get("id")
    row.join_url = (event.get("onlineMeeting") or {}).get("joinUrl")
    row.attendees, row.state, row.error = keys, "created", None
    incident.plan = {**(incident.plan or {}), "bridge_url": row.join_url}
    add_timeline(session, incident, "bridge", f"Teams bridge created: {row.join_url}", now=now,
                 touch=False, data={"event": row.event_id, "join_url": row.join_url})  # fmt: skip
    return row.join_url


def _failed(session, incident, row, exc, now) -> None:
    row.error = str(exc)[:1000]
    transient = isinstance(exc, TransientError)
    row.state = "pending" if transient and row.attempts < RETRIES else "failed"
    log.warning("%s: Teams bridge not created (attempt %s): %s", incident.ref, row.attempts, exc)
    add_timeline(session, incident, "bridge", f"Teams bridge not created yet: {row.error}",
                 now=now, touch=False)  # fmt: skip
    if row.state == "pending":
        key = timers.timer_key("bridge", incident, row.attempts)
        timer = timers.schedule(session, incident, key, "bridge", now + RETRY_AFTER, now=now)
        session.flush()
        queue_job(session, "fire_timer", timer.id)


def schedule_attendee_update(
    session: Session, incident: Incident, tag: object, due: datetime, *, now: datetime | None = None
) -> None:
    """After a role changed hands: bring the bridge's attendees up to date, in the worker."""
    if calendar_for(settings_of(session)) is None:
        return
    key = timers.timer_key("bridge-attendees", incident, tag)
    timer = timers.schedule(session, incident, key, "bridge-attendees", due, now=now or due)
    session.flush()
    queue_job(session, "fire_timer", timer.id)


def sync_attendees(session: Session, policy: Policy, incident: Incident, now: datetime) -> str:
    """Invite the current role holders to the bridge (PATCH attendees); what happened."""
    calendar = calendar_for(settings_of(session))
    row = meeting(session, incident, "bridge")
    if calendar is None or row is None or row.state != "created":
        return "skipped: no bridge"
    keys = list(dict.fromkeys([*row.attendees, *role_holders(incident)]))
    if keys == list(row.attendees):
        return "skipped: attendees up to date"
    try:
        calendar.set_attendees(row.event_id, invitees(policy, keys))
    except TransientError as exc:
        row.attempts += 1
        if row.attempts < RETRIES * 4:
            schedule_attendee_update(session, incident, f"retry{row.attempts}", now + RETRY_AFTER)
        log.warning("%s: bridge attendees not updated yet: %s", incident.ref, exc)
        return "fired"
    except PermanentError as exc:
        add_timeline(session, incident, "bridge", f"Bridge attendees not updated: {exc}",
                     now=now, touch=False)  # fmt: skip
        return "fired"
    added = [k for k in keys if k not in row.attendees]
    row.attendees, row.updated_at = keys, now
    names = ", ".join(policy.people[k].name if k in policy.people else k for k in added)
    add_timeline(
        session, incident, "bridge", f"Invited to the bridge: {names}", now=now, touch=False
    )
    return "fired"


REVIEW_LENGTH = timedelta(hours=1)
REVIEW_NOT_BEFORE = timedelta(hours=2)  # people catch their breath after the resolution
DEFAULT_REVIEW_WINDOW = timedelta(hours=72)


def schedule_review_meeting(session: Session, incident: Incident, now: datetime) -> None:
    """At resolution: book the review meeting in the worker (a `review-meeting` timer)."""
    if calendar_for(settings_of(session)) is None or not incident.major:
        return
    key = timers.timer_key(
        "review-meeting", incident, incident.resolved_at.isoformat() if incident.resolved_at else ""
    )
    timer = timers.schedule(session, incident, key, "review-meeting", now, now=now)
    session.flush()
    queue_job(session, "fire_timer", timer.id)


def review_timezone(policy: Policy) -> str:
    """Working hours are those of the MIM's schedule, else the policy's time zone."""
    for entry in policy.roles.get("major_incident_manager", ()):
        name = entry.removeprefix("schedule:").partition("#")[0]
        if entry.startswith("schedule:") and name in policy.schedules:
            return policy.schedules[name].timezone
    return policy.timezone


def book_review(session: Session, policy: Policy, incident: Incident, now: datetime) -> str:
    """Book the post-incident review meeting once: the first working-hour slot in the window."""
    settings = settings_of(session)
    calendar = calendar_for(settings)
    if calendar is None or meeting(session, incident, "review") is not None:
        return "skipped"
    resolved = incident.resolved_at or now
    window = planned_severity(policy, incident).review_within or DEFAULT_REVIEW_WINDOW
    tz = review_timezone(policy)
    start = first_working_slot(max(resolved, now) + REVIEW_NOT_BEFORE, resolved + window, tz,
                               REVIEW_LENGTH)  # fmt: skip
    if start is None:
        add_timeline(session, incident, "review", "No working-hour slot for the review meeting "
                     "inside the review window; book it by hand", now=now, touch=False)  # fmt: skip
        return "fired"
    keys = list(dict.fromkeys([*role_holders(incident), *policy.roles.get("problem_manager", ())]))
    keys = [k for k in keys if k in policy.people]
    tid = transaction_id(settings.secret_key, incident, "review")
    body = f"<p>Post-incident review of {escape(incident.ref)}: {escape(incident.title)}</p>"
    event = calendar.create(f"Review: [{incident.ref}] {incident.title}"[:250], body, start,
                            start + REVIEW_LENGTH, invitees(policy, keys), tid)  # fmt: skip
    row = IncidentMeeting(
        incident_id=incident.id, kind="review", state="created", attendees=keys, attempts=1,
        transaction_id=tid, start_at=start, end_at=start + REVIEW_LENGTH, event_id=event.get("id"),
        join_url=(event.get("onlineMeeting") or {}).get("joinUrl"), updated_at=now,
    )  # fmt: skip
    session.add(row)
    when = start.astimezone(ZoneInfo(tz))
    add_timeline(session, incident, "review-meeting", f"Review meeting booked: {when:%a %d %b %H:%M %Z}, "
                 f"{len(keys)} invited", now=now, touch=False,
                 data={"start": start.isoformat(), "join_url": row.join_url})  # fmt: skip
    _on_review(session, incident, f"Review meeting booked for {when:%a %d %b %H:%M %Z}: "
               f"{row.join_url or 'in the organiser calendar'}", now)  # fmt: skip
    return "fired"


def _on_review(session: Session, incident: Incident, text: str, now: datetime) -> None:
    """Add an entry to the review document's own timeline (a snapshot people edit); a review
    opened later takes it from the incident's timeline (kind `review-meeting`)."""
    review = session.scalar(select(Review).where(Review.incident_id == incident.id))
    if review is not None:
        entry = {"at": now.isoformat(timespec="seconds"), "kind": "review-meeting", "text": text,
                 "actor": None}  # fmt: skip
        review.timeline = sorted([*(review.timeline or ()), entry], key=lambda e: e["at"])
