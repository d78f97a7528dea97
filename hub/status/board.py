"""What the status page shows, composed from plain rows: pure, given `now` and the policy.

A service is in `outage` while an open major incident names it with impact `outage`,
`degraded` while one names it otherwise, `maintenance` during a scheduled window, else
`operational` (the worst wins). The public variant keeps only services marked `public` in
the policy, updates that carry a public text (and the hub's own "no change" updates), and
maintenance windows with a public text; incident titles, severities and internal text stay
on the internal variant.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

STATES = ("operational", "maintenance", "degraded", "outage")  # by rank, worst last
LABELS = {
    "operational": "Operational",
    "maintenance": "Maintenance",
    "degraded": "Degraded",
    "outage": "Outage",
}
HISTORY_DAYS = 30
OPEN_STATES = ("open", "declared", "mobilised")
GONE_STATES = ("merged", "cancelled")  # never shown: not an incident after all


@dataclass(frozen=True)
class UpdateRow:
    """One update on an incident's timeline, as stored."""

    id: int
    at: datetime
    kind: str  # update | update-auto | resolved
    text: str
    public_text: str | None = None


@dataclass(frozen=True)
class IncidentRow:
    """A major incident as the page needs it."""

    id: int
    title: str
    severity: str
    state: str
    services: tuple[str, ...]
    impact: str | None
    started_at: datetime
    resolved_at: datetime | None
    next_update_at: datetime | None
    updates: tuple[UpdateRow, ...] = ()


@dataclass(frozen=True)
class MaintenanceRow:
    """A maintenance window as stored."""

    id: int
    services: tuple[str, ...]
    start_at: datetime
    end_at: datetime
    text: str
    public_text: str | None


@dataclass(frozen=True)
class Update:
    id: int
    at: datetime
    text: str
    public_text: str | None  # shown beside the text on the internal variant
    auto: bool


@dataclass(frozen=True)
class IncidentView:
    id: int
    ref: str | None  # None on the public variant
    title: str
    severity: str | None
    state: str  # the page's word: outage | degraded
    open: bool
    services: tuple[str, ...]
    service_names: tuple[str, ...]
    started_at: datetime
    resolved_at: datetime | None
    next_update_at: datetime | None
    updates: tuple[Update, ...]  # newest first


@dataclass(frozen=True)
class MaintenanceView:
    id: int
    services: tuple[str, ...]
    service_names: tuple[str, ...]
    start_at: datetime
    end_at: datetime
    text: str
    public_text: str | None
    active: bool


@dataclass(frozen=True)
class Day:
    day: str  # ISO date in the policy's zone
    state: str


@dataclass(frozen=True)
class ServiceView:
    key: str
    name: str
    state: str
    days: tuple[Day, ...]  # the last HISTORY_DAYS days, oldest first

    @property
    def label(self) -> str:
        return LABELS[self.state]


@dataclass(frozen=True)
class StatusPage:
    public: bool
    generated_at: datetime
    timezone: str
    services: tuple[ServiceView, ...]
    incidents: tuple[IncidentView, ...]  # open, newest first
    maintenance: tuple[MaintenanceView, ...]  # active and upcoming, soonest first
    history: tuple[IncidentView | MaintenanceView, ...] = field(default=())  # newest first

    @property
    def overall(self) -> str:
        """The worst state of any service shown."""
        return max((s.state for s in self.services), key=STATES.index, default="operational")

    def service(self, key: str) -> ServiceView | None:
        return next((s for s in self.services if s.key == key), None)


def worst(states) -> str:
    return max(states, key=STATES.index, default="operational")


def incident_state(impact: str | None) -> str:
    """What an open major incident makes of the services it names."""
    return "outage" if impact == "outage" else "degraded"


def compose(
    policy,
    incidents: list[IncidentRow],
    windows: list[MaintenanceRow],
    now: datetime,
    *,
    public: bool,
) -> StatusPage:
    """The status page (public or internal variant) from the rows the database holds."""
    catalogue = {k: s for k, s in policy.services.items() if s.public or not public}
    names = {k: s.name for k, s in catalogue.items()}
    since = now - timedelta(days=HISTORY_DAYS)
    shown = [
        i
        for i in incidents
        if i.state not in GONE_STATES
        and (i.resolved_at is None or i.resolved_at >= since)
        and (not public or any(s in catalogue for s in i.services))
    ]
    shown_windows = [
        w
        for w in windows
        if w.end_at >= since
        and (not public or (w.public_text and any(s in catalogue for s in w.services)))
    ]
    views = [_incident(i, names, public) for i in shown]
    mviews = [_window(w, names, public, now) for w in shown_windows]
    days = _days(now, policy.timezone)
    services = []
    for key, name in names.items():
        mine = [i for i in shown if key in i.services]
        my_windows = [w for w in shown_windows if key in w.services]
        services.append(
            ServiceView(
                key=key,
                name=name,
                state=_state_now(key, mine, my_windows, now),
                days=tuple(
                    Day(d.isoformat(), _state_on(key, mine, my_windows, a, b)) for d, a, b in days
                ),
            )
        )
    return StatusPage(
        public=public,
        generated_at=now,
        timezone=policy.timezone,
        services=tuple(services),
        incidents=tuple(
            sorted((v for v in views if v.open), key=lambda v: v.started_at, reverse=True)
        ),
        maintenance=tuple(sorted((m for m in mviews if m.end_at > now), key=lambda m: m.start_at)),
        history=tuple(
            sorted(
                [v for v in views if not v.open] + [m for m in mviews if m.end_at <= now],
                key=lambda v: v.resolved_at if isinstance(v, IncidentView) else v.end_at,
                reverse=True,
            )
        ),
    )


def _incident(i: IncidentRow, names: dict[str, str], public: bool) -> IncidentView:
    state = incident_state(i.impact)
    services = tuple(s for s in i.services if s in names)
    updates = []
    for u in sorted(i.updates, key=lambda u: (u.at, u.id), reverse=True):
        auto = u.kind != "update"
        if public:
            text = u.text if auto else u.public_text
            if not text:
                continue
            updates.append(Update(u.id, u.at, text, None, auto))
        else:
            updates.append(Update(u.id, u.at, u.text, u.public_text, auto))
    service_names = tuple(names[s] for s in services)
    title = f"{LABELS[state]}: {', '.join(service_names)}" if public else i.title
    return IncidentView(
        id=i.id,
        ref=None if public else f"INC-{i.id}",
        title=title,
        severity=None if public else i.severity,
        state=state,
        open=i.state in OPEN_STATES,
        services=services,
        service_names=service_names,
        started_at=i.started_at,
        resolved_at=None if i.state in OPEN_STATES else (i.resolved_at or i.started_at),
        next_update_at=i.next_update_at if i.state in OPEN_STATES else None,
        updates=tuple(updates),
    )


def _window(w: MaintenanceRow, names: dict[str, str], public: bool, now: datetime):
    services = tuple(s for s in w.services if s in names)
    return MaintenanceView(
        id=w.id,
        services=services,
        service_names=tuple(names[s] for s in services),
        start_at=w.start_at,
        end_at=w.end_at,
        text=(w.public_text or "") if public else w.text,
        public_text=None if public else w.public_text,
        active=w.start_at <= now < w.end_at,
    )


def _state_now(key, incidents, windows, now) -> str:
    states = [
        incident_state(i.impact) for i in incidents if i.state in OPEN_STATES and key in i.services
    ]
    states += ["maintenance" for w in windows if key in w.services and w.start_at <= now < w.end_at]
    return worst(states)


def _state_on(key, incidents, windows, start: datetime, end: datetime) -> str:
    """The worst state the service was in at any time of one day."""
    states = [
        incident_state(i.impact)
        for i in incidents
        if key in i.services
        and i.started_at < end
        and (i.state in OPEN_STATES or (i.resolved_at or i.started_at) >= start)
    ]
    states += [
        "maintenance"
        for w in windows
        if key in w.services and w.start_at < end and w.end_at > start
    ]
    return worst(states)


def _days(now: datetime, tz: str):
    """(date, start, end) of the last HISTORY_DAYS local days, oldest first, today last."""
    zone = ZoneInfo(tz)
    today = now.astimezone(zone).date()
    out = []
    for back in range(HISTORY_DAYS - 1, -1, -1):
        d = today - timedelta(days=back)
        start = datetime(d.year, d.month, d.day, tzinfo=zone)
        nxt = d + timedelta(days=1)
        out.append((d, start, datetime(nxt.year, nxt.month, nxt.day, tzinfo=zone)))
    return out
