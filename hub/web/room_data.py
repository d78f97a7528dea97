"""What the incident room shows: one merged timeline, the SLA deadlines and the chart."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from functools import partial

from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.app.models import InboundMessage, Incident, Review
from hub.app.redact import redact_text
from hub.app.timefmt import local_hhmmss
from hub.channels.base import shown_recipient
from hub.incidents import tasks
from hub.incidents.mobilisation import settings_of
from hub.incidents.search import similar_incidents
from hub.intake.alerts.view import alerts_panel
from hub.notifications.delivery_report import incident_deliveries
from hub.notifications.suppression import unreachable_by_email
from hub.policy.model import Policy
from hub.web.board import deadlines
from hub.web.chart import Deadline, timeline_svg
from hub.web.room_deliveries import RoomDeliveries, children_of, room_deliveries

FILTERS = {
    "all": "Everything",
    "events": "Events",
    "messages": "Messages in",
    "deliveries": "Deliveries out",
}


@dataclass
class Item:
    """One line of the room's timeline."""

    at: datetime
    source: str  # events | messages | deliveries
    kind: str
    actor: str | None
    text: str
    status: str | None = None
    detail: str | None = None
    children: list[Item] = field(default_factory=list)  # a group's deliveries (those shown)
    event: str | None = None  # a group's event (the deliveries page lists all of it)
    more: int = 0  # a group's deliveries not among those shown


def _decision(d) -> str:
    if isinstance(d, dict):
        reason = f" ({d['reason']})" if d.get("reason") else ""
        return f"{d.get('step', '')}: {d.get('decision', '')}{reason}"
    return str(d)


def delivery_items(deliveries: RoomDeliveries) -> list[Item]:
    """One item per outgoing notification (the latest `SHOWN`)."""
    return [_delivery(n, f"{n.template} by ") for n in deliveries.latest]


def _delivery(n, prefix: str = "") -> Item:
    """One outgoing notification: `<prefix>teams to <recipient>`, its status and error."""
    to = shown_recipient(n.recipient)
    return Item(
        n.sent_at or n.created_at,
        "deliveries",
        n.template,
        None,
        f"{prefix}{n.channel} to {to}",
        status=n.status,
        detail=redact_text(n.last_error) if n.last_error else n.last_error,
    )


def grouped_deliveries(deliveries: RoomDeliveries) -> list[Item]:
    """The notifications of one event as one item: its counts (of all of them) and, as its
    deliveries, those of the latest `SHOWN` that belong to it (`more`: the others)."""
    shown = children_of(deliveries)
    items = []
    for counted in deliveries.events:
        children = [_delivery(n) for n in shown.get(counted.event, ())]
        items.append(
            Item(
                counted.at,
                "deliveries",
                counted.template,
                None,
                f"{counted.template}: {counted.total:,} deliveries ({counted.summary})",
                status=counted.worst,
                children=children,
                event=counted.event,
                more=counted.total - len(children),
            )
        )
    return items


def merged_timeline(
    incident: Incident,
    inbound: list[InboundMessage],
    deliveries: RoomDeliveries,
    group: bool = True,
) -> list[Item]:
    """Events, inbound email/Teams messages and outgoing notifications, oldest first."""
    items = [Item(e.at, "events", e.kind, e.actor, e.text) for e in incident.timeline]
    for m in inbound:
        items.append(
            Item(
                m.received_at,
                "messages",
                f"{m.channel} in",
                m.sender,
                f"{m.channel.capitalize()} message from {m.sender or 'unknown'}",
                status=m.outcome or m.status,
                detail="; ".join(_decision(d) for d in (m.decisions or ())[-3:]) or None,
            )
        )
    items += grouped_deliveries(deliveries) if group else delivery_items(deliveries)
    return sorted(items, key=lambda i: i.at)


def sla_deadlines(incident: Incident, policy: Policy, review: Review | None) -> list[Deadline]:
    """Acknowledge, resolve, next update and review deadlines, with when each was met."""
    ack, resolve = deadlines(incident, policy)
    mim = next((r for r in incident.roles if r.active and r.role == "major_incident_manager"), None)
    out = []
    if ack:
        out.append(
            Deadline(
                "Acknowledge",
                ack,
                mim.acknowledged_at if mim else None,
                stopped_at=incident.resolved_at,
            )
        )
    if resolve:
        out.append(Deadline("Resolve", resolve, incident.resolved_at))
    due = [t.due_at for t in incident.timers if t.state == "pending" and t.kind == "update-due"]
    if due:
        out.append(Deadline("Next update", min(due)))
    if review is not None and review.due_at:
        out.append(Deadline("Review", review.due_at, review.submitted_at))
    return out


def chart(
    incident: Incident,
    policy: Policy,
    items: list[Item],
    marks: list[Deadline],
    now: datetime,
    deliveries_total: int | None = None,
):
    """The SVG chart for the room (`deliveries_total`: of which the items are the latest)."""
    events = [(i.at, i.kind, f"{i.kind}: {i.text}") for i in items if i.source == "events"]
    deliveries = [(i.at, i.status or "pending", i.text) for i in items if i.source == "deliveries"]
    return timeline_svg(
        events,
        deliveries,
        marks,
        start=incident.created_at,
        now=now,
        end=incident.resolved_at,
        tz=policy.timezone,
        deliveries_total=deliveries_total,
    )


def _by_role(rows: list) -> dict[str, list]:
    out: dict[str, list] = {}
    for task in rows:
        out.setdefault(task.role, []).append(task)
    return out


def load_room(
    session: Session, incident: Incident, policy: Policy, now: datetime, shown: str = "all"
) -> dict:
    """Everything the room template needs about one incident (inside the session)."""
    inbound = list(
        session.scalars(
            select(InboundMessage)
            .where(InboundMessage.incident_id == incident.id)
            .order_by(InboundMessage.id)
        )
    )
    review = session.scalars(select(Review).where(Review.incident_id == incident.id)).first()
    outbox = room_deliveries(session, incident.id)
    items = merged_timeline(incident, inbound, outbox, group=shown != "deliveries")
    marks = sla_deadlines(incident, policy, review)
    roles = [r for r in incident.roles if r.active]
    return {
        "tasks": _by_role(tasks.tasks_of(session, incident)),
        "similar": similar_incidents(session, incident),
        "incident": incident,
        "items": items,
        "deadlines": marks,
        "review": review,
        "chart": chart(
            incident,
            policy,
            merged_timeline(incident, inbound, outbox, group=False),
            marks,
            now,
            outbox.total,
        ),
        "outbox": outbox,
        "roles": roles,
        "unreachable": unreachable_by_email(session, policy, [r.person for r in roles]),
        "reporters": sorted({r.reporter for r in incident.reports if r.reporter}),
        "services": [
            (k, policy.services[k].name if k in policy.services else k)
            for k in incident.services or ()
        ],
        **alerts_panel(session, incident.id),
        "deliveries": incident_deliveries(session, settings_of(session), incident, now, policy),
        "shown_time": partial(local_hhmmss, tz=policy.timezone),
    }
