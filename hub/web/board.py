"""The board: active incidents by severity, with roles, SLA countdowns and the latest update.

Built for a busy day: four plain queries (no ORM objects) whatever the number of incidents,
and every row's text made once in Python so that the template only places it.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from flask import Blueprint, Response, current_app, request
from markupsafe import Markup, escape
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from hub.app.db import utcnow
from hub.app.models import Incident, RoleAssignment, TimelineEntry, Timer
from hub.core.lifecycle import ACTIVE
from hub.policy.model import Policy
from hub.web.chart import Deadline
from hub.web.clock import Clock
from hub.web.common import (
    SEVERITY_CLASSES,
    SHORT_ROLES,
    current_person,
    render,
    role_label,
    the_hub,
)

bp = Blueprint("board", __name__)
UPDATE_KINDS = ("update", "update-auto")
RECENT = timedelta(hours=24)
CACHE_SECONDS = 15  # a rendered board is reused this long while nothing changes
CACHE_SIZE = 64  # boards kept (one per person and change)


# one role as a list item; its values are escaped before they are put in (plain str.format:
# this is the board's hottest loop)
ROLE_ITEM = {
    True: '<li class="acked"><abbr class="role-name" title="{label}">{short}</abbr> {name} '
    '<span class="tick">acknowledged</span></li>',
    False: '<li class="unacked"><abbr class="role-name" title="{label}">{short}</abbr> {name} '
    '<span class="cross">not acknowledged</span></li>',
}


@dataclass
class Row:
    """One incident as the board shows it, its text ready to place."""

    id: int
    ref: str
    title: str
    state: str
    severity: str
    sev_class: str
    services: str
    reported: Markup
    roles: Markup = Markup("")  # the <li> items, made here: the board's hottest loop
    mine: str = ""
    slas: list[tuple[str, Markup]] = field(default_factory=list)
    latest: tuple[str, str, Markup] | None = None


def deadlines(incident, policy: Policy) -> tuple[datetime | None, datetime | None]:
    """The acknowledge and resolve deadlines, counted from the declaration (else the report)."""
    severity = policy.severities.get(incident.severity)
    if severity is None:
        return None, None
    start = incident.declared_at or incident.created_at
    ack = start + severity.ack_within if incident.major and severity.ack_within else None
    resolve = start + severity.resolve_within if severity.resolve_within else None
    return ack, resolve


def _sev_class(policy: Policy, key: str) -> str:
    severity = policy.severities.get(key)
    return SEVERITY_CLASSES[min(severity.rank, 3)] if severity else SEVERITY_CLASSES[-1]


def load_board(session: Session, policy: Policy, person: str | None, clock: Clock) -> list[Row]:
    """Every active incident as a row."""
    active = Incident.state.in_(ACTIVE)
    db = session.connection()  # plain Core: no ORM bookkeeping for rows that are only shown
    incidents = db.execute(
        select(
            Incident.id,
            Incident.title,
            Incident.state,
            Incident.major,
            Incident.severity,
            Incident.services,
            Incident.created_at,
            Incident.declared_at,
        )
        .where(active)
        .order_by(Incident.id.desc())
    ).all()
    names = {key: p.name for key, p in policy.people.items()}
    roles: dict[int, list] = {}
    for r in db.execute(
        select(
            RoleAssignment.incident_id,
            RoleAssignment.role,
            RoleAssignment.person,
            RoleAssignment.acknowledged_at,
        )
        .join(Incident, Incident.id == RoleAssignment.incident_id)
        .where(active, RoleAssignment.active.is_(True))
        .order_by(RoleAssignment.id)
    ):
        roles.setdefault(r.incident_id, []).append(r)
    next_update = dict(
        db.execute(
            select(Timer.incident_id, func.min(Timer.due_at))
            .join(Incident, Incident.id == Timer.incident_id)
            .where(active, Timer.state == "pending", Timer.kind == "update-due")
            .group_by(Timer.incident_id)
        ).all()
    )
    newest = (
        select(func.max(TimelineEntry.id))
        .join(Incident, Incident.id == TimelineEntry.incident_id)
        .where(active, TimelineEntry.kind.in_(UPDATE_KINDS))
        .group_by(TimelineEntry.incident_id)
    )
    latest = {
        e.incident_id: e
        for e in db.execute(
            select(
                TimelineEntry.incident_id, TimelineEntry.text, TimelineEntry.actor, TimelineEntry.at
            ).where(TimelineEntry.id.in_(newest))
        )
    }
    return [
        _row(
            i,
            policy,
            names,
            roles.get(i.id, []),
            next_update.get(i.id),
            latest.get(i.id),
            person,
            clock,
        )
        for i in incidents
    ]


def _row(i, policy, names, roles, next_due, latest, person, clock: Clock) -> Row:
    services = [policy.services[s].name if s in policy.services else s for s in i.services or ()]
    row = Row(
        id=i.id,
        ref=f"INC-{i.id}",
        title=i.title,
        state=i.state.replace("_", " "),
        severity=i.severity,
        sev_class=_sev_class(policy, i.severity),
        services=", ".join(services),
        reported=clock.tag(i.created_at),
    )
    row.roles = Markup(
        "".join(
            ROLE_ITEM[r.acknowledged_at is not None].format(
                short=escape(SHORT_ROLES.get(r.role, r.role)),
                label=escape(role_label(r.role)),
                name=escape(names.get(r.person, r.person)),
            )
            for r in roles
        )
    )
    row.mine = ", ".join(role_label(r.role) for r in roles if r.person == person)
    ack_due, resolve_due = deadlines(i, policy)
    mim = next((r for r in roles if r.role == "major_incident_manager"), None)
    if ack_due and mim and mim.acknowledged_at:
        # the room's rule (chart.Deadline): met when acknowledged by the due time, else late
        on_time = Deadline("Acknowledge", ack_due, mim.acknowledged_at).state == "met"
        word = '<span class="ok">done</span>' if on_time else '<span class="late">late</span>'
        row.slas.append(
            (
                "Acknowledge",
                Markup(f'{word} <span class="muted small">{clock.tag(mim.acknowledged_at)}</span>'),
            )
        )
    elif ack_due:
        row.slas.append(("Acknowledge", clock.countdown(ack_due)))
    if resolve_due:
        row.slas.append(("Resolve", clock.countdown(resolve_due)))
    if next_due:
        row.slas.append(
            (
                "Next update",
                Markup(
                    f'{clock.countdown(next_due)} <span class="muted'
                    f' small">at {clock.local(next_due)}</span>'
                ),
            )
        )
    if latest is not None:
        text = latest.text if len(latest.text) <= 280 else latest.text[:279] + "…"
        row.latest = (
            text,
            names.get(latest.actor, latest.actor or "the hub"),
            clock.tag(latest.at),
        )
    return row


def by_severity(rows: list[Row], policy: Policy) -> list[tuple[str, list[Row]]]:
    """Rows grouped by severity, most severe first (unknown severities last)."""
    order = {key: n for n, key in enumerate(policy.severities)}
    groups: dict[str, list[Row]] = {}
    for row in sorted(rows, key=lambda r: (order.get(r.severity, 99), -r.id)):
        groups.setdefault(row.severity, []).append(row)
    return list(groups.items())


def recently_resolved(session: Session, now: datetime, limit: int = 5) -> list:
    """The last few incidents resolved within a day."""
    return list(
        session.execute(
            select(Incident.id, Incident.title, Incident.severity, Incident.resolved_at)
            .where(Incident.resolved_at >= now - RECENT)
            .order_by(Incident.resolved_at.desc())
            .limit(limit)
        )
    )


def board_context(person: str | None, now: datetime | None = None) -> dict:
    """What the board templates need."""
    hub = the_hub()
    now = now or utcnow()
    policy = hub.policy
    clock = Clock(policy.timezone, now)
    with hub.db.session(write=False) as session:
        rows = load_board(session, policy, person, clock)
        resolved = recently_resolved(session, now)
    return {
        "groups": by_severity(rows, policy),
        "total": len(rows),
        "resolved": resolved,
        "now": now,
        "clock": clock,
    }


def board_body(person: str | None, now: datetime | None = None) -> Markup:
    """The board's body, rendered once per change, person and quarter-minute.

    The timeline is append-only and every change to what the board shows (a report, an
    acknowledgement, an update, a state, a role, a page) appends to it, so its highest id
    says whether anything changed. Countdowns move on with the clock: the page script keeps
    them ticking between renders.
    """
    hub = the_hub()
    now = now or utcnow()
    with hub.db.session(write=False) as session:
        version = session.scalar(select(func.max(TimelineEntry.id)))
    cache = current_app.extensions.setdefault("board_cache", OrderedDict())
    key = (id(hub.policy), person, version, int(now.timestamp() // CACHE_SECONDS))
    body = cache.get(key)
    if body is None:
        body = Markup(render("_partials/board_body.html", **board_context(person, now)))
        cache[key] = body
        while len(cache) > CACHE_SIZE:
            cache.popitem(last=False)
    return body


def etag_of(body: str) -> str:
    """The entity tag of a rendered board body."""
    return hashlib.sha256(body.encode()).hexdigest()[:32]


@bp.get("/")
def board():
    """The board page."""
    body = board_body(current_person())
    return render("board.html", title="Board", body=body, etag=etag_of(body))


@bp.get("/board/live")
def board_live():
    """The board's body alone, for the page script (304 when nothing changed)."""
    body = board_body(current_person())
    etag = etag_of(body)
    if etag in request.if_none_match:
        return Response(status=304, headers={"ETag": f'"{etag}"'})
    return Response(body, mimetype="text/html", headers={"ETag": f'"{etag}"'})
