"""Shift notices: a message to a person an hour before their on-call shift starts and at the
hand-off, listing the open major incidents they inherit.

Run by every tick (once a minute). No state of its own: each notice's outbox key names the
schedule, the person, the shift's start and the phase, and the outbox never writes a key twice,
so ticks that overlap, or run again after a crash, send nothing twice. A notice goes out while
major incidents are open (it is threaded on the newest of them); a quiet hand-off sends nothing:
the calendar feeds already show people their shifts.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.app.models import Incident
from hub.app.settings import Settings
from hub.core import lifecycle
from hub.core.schedules import shifts
from hub.notifications import notices
from hub.notifications import notify as n
from hub.policy.model import Policy, channel_names, person_name
from hub.schedules.overrides import active_overrides

AHEAD = timedelta(hours=1)  # the first notice, before the shift starts
LATE = timedelta(minutes=15)  # a hand-off notice still goes out this long after (missed ticks)
LOOK_BACK = timedelta(days=1)  # to tell a shift's real start from the window's edge
LOOK_AHEAD = timedelta(days=8)  # to see where a (weekly) shift ends


def send_shift_notices(session: Session, policy: Policy, settings: Settings, now: datetime) -> int:
    """Write the shift notices due at `now`; how many outbox rows were written."""
    if not policy.schedules:
        return 0
    open_major = session.scalars(
        select(Incident)
        .where(Incident.major.is_(True), Incident.state.in_(lifecycle.ACTIVE))
        .order_by(Incident.id.desc())
    ).all()
    if not open_major:
        return 0
    mine = active_overrides(session, now - LOOK_BACK)
    written = 0
    for name, schedule in policy.schedules.items():
        tz = ZoneInfo(schedule.timezone)
        stretches = shifts(schedule, now - LOOK_BACK, now + LOOK_AHEAD, mine)  # whole shifts
        for before, shift in zip(stretches, stretches[1:], strict=False):
            if shift.person is None or shift.person == before.person:
                continue
            if now < shift.start <= now + AHEAD:
                phase = "soon"
            elif now - LATE < shift.start <= now:
                phase = "now"
            else:
                continue
            written += _notify(session, policy, settings, name, shift, before, phase, open_major,
                               tz, now)  # fmt: skip
    return written


def _notify(session, policy, settings, name, shift, before, phase, open_major, tz, now) -> int:
    base = settings.base_url
    newest = open_major[0]
    ctx = notices.incident_context(newest, policy, settings, now)
    ctx["shift"] = {
        "schedule": name,
        "phase": phase,
        "starts_local": f"{shift.start.astimezone(tz):%a %d %b %H:%M %Z}",
        "ends_local": f"{shift.end.astimezone(tz):%a %d %b %H:%M %Z}",
        "handed_over_by": person_name(policy, before.person, None),
        "open": [
            {
                "id": i.ref,
                "title": i.title,
                "severity": i.severity,
                "state": i.state,
                "url": f"{base}/incidents/{i.ref}",
            }  # fmt: skip
            for i in open_major
        ],
    }
    key = f"shift:{name}:{shift.person}:{shift.start:%Y%m%dT%H%M%SZ}:{phase}"
    rows = n.notify(
        session, settings, policy, newest, "shift-notice", key,
        notices.person_recipients(policy, [shift.person], channel_names()), ctx, now,
    )  # fmt: skip
    return len(rows)
