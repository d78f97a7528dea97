"""iCalendar feeds of on-call shifts at signed, revocable URLs (built with `icalendar`).

A feed URL carries an HMAC of its subject and generation; revoking bumps the generation in
the database, so every URL handed out before stops working. Events are TRANSPARENT (a shift
does not make anyone look busy) and carry their time zone, so calendars follow DST.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable
from datetime import datetime
from zoneinfo import ZoneInfo

from icalendar import Calendar, Event
from sqlalchemy.orm import Session

from hub.app.errors import NotFound
from hub.app.models import CalendarFeed
from hub.core.schedules import Shift
from hub.policy.model import Policy, person_name


def generation(session: Session, subject: str) -> int:
    """The feed's current generation (1 until revoked)."""
    row = session.get(CalendarFeed, subject)
    return row.generation if row else 1


def revoke(session: Session, subject: str, *, now: datetime) -> int:
    """Invalidate every URL of the feed so far; the new generation."""
    row = session.get(CalendarFeed, subject)
    if row is None:
        row = CalendarFeed(subject=subject, generation=1)
        session.add(row)
    row.generation += 1
    row.updated_at = now
    return row.generation


def sign(secret: str, subject: str, gen: int) -> str:
    """The token of a feed URL."""
    mac = hmac.new(secret.encode(), f"ics:{subject}:{gen}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac[:18]).decode()


def feed_url(session: Session, secret: str, base_url: str, subject: str) -> str:
    """The signed URL of a feed: schedule:NAME or person:KEY."""
    kind, _, name = subject.partition(":")
    path = f"/schedules/{name}.ics" if kind == "schedule" else f"/people/{name}/oncall.ics"
    return (
        f"{base_url.rstrip('/')}{path}?token={sign(secret, subject, generation(session, subject))}"
    )


def check_token(session: Session, secret: str, subject: str, token: str | None) -> None:
    """NotFound unless `token` signs the feed's current generation (no hint which is wrong)."""
    good = sign(secret, subject, generation(session, subject))
    if not token or not hmac.compare_digest(good, token):
        raise NotFound("no such calendar feed (the link may have been revoked)")


def build_calendar(
    policy: Policy, name: str, shifts: Iterable[tuple[str, Shift]], *, now: datetime
) -> bytes:
    """An iCalendar document: one event per (schedule name, shift), gaps left out."""
    cal = Calendar()
    cal.add("prodid", "-//Major Incident Hub//on-call//EN")
    cal.add("version", "2.0")
    cal.add("x-wr-calname", name)
    for schedule_name, shift in shifts:
        if shift.person is None:
            continue
        tz = ZoneInfo(policy.schedules[schedule_name].timezone)
        who = person_name(policy, shift.person)
        event = Event()
        event.add("uid", f"{schedule_name}-{shift.person}-{shift.start:%Y%m%dT%H%M%SZ}@mihub")
        event.add("dtstamp", now)
        event.add("dtstart", shift.start.astimezone(tz))
        event.add("dtend", shift.end.astimezone(tz))
        event.add("summary", f"On call: {who} ({schedule_name})")
        event.add("description", "Taken over (override)" if shift.override else "Rotation")
        event.add("transp", "TRANSPARENT")
        cal.add_component(event)
    cal.add_missing_timezones()
    return cal.to_ical()


def person_shifts(
    policy: Policy, person: str, timelines: dict[str, list[Shift]]
) -> list[tuple[str, Shift]]:
    """A person's shifts across every schedule, in time order."""
    if person not in policy.people:
        raise NotFound(f"unknown person {person!r}")
    mine = [(name, s) for name, shifts in timelines.items() for s in shifts if s.person == person]
    return sorted(mine, key=lambda item: item[1].start)
