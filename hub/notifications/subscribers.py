"""People who subscribed to an incident (Teams `subscribe INC-42`) and where they are told."""

from __future__ import annotations

from dataclasses import replace

from sqlalchemy import select
from sqlalchemy.orm import object_session

from hub.app.models import Incident, TimelineEntry
from hub.notifications.notices import Recipient, person_recipients
from hub.policy.model import Policy, channel_names

KINDS = ("subscribed", "unsubscribed")


def _subscriptions(incident: Incident) -> list[TimelineEntry]:
    """The incident's `subscribed` and `unsubscribed` timeline entries, oldest first; one narrow
    query unless already loaded."""
    session = object_session(incident)
    if "timeline" in incident.__dict__ or session is None or incident.id is None:
        return [e for e in incident.timeline if e.kind in KINDS]
    with session.no_autoflush:  # subscriptions are never written in the reading transaction
        return list(
            session.scalars(
                select(TimelineEntry)
                .where(TimelineEntry.incident_id == incident.id, TimelineEntry.kind.in_(KINDS))
                .order_by(TimelineEntry.id)
            )
        )


def subscribers(incident: Incident) -> list[dict]:
    """Who subscribed to the incident: `{"person", "conversation", "channel"}`, oldest first."""
    seen, out = set(), []
    for entry in _subscriptions(incident):
        item = {k: (entry.data or {}).get(k) for k in ("person", "conversation", "channel")}
        if entry.kind == "unsubscribed":  # `unsubscribe INC-42`: every route of that person
            out = [s for s in out if s["person"] != item["person"]]
            seen = {m for m in seen if m[0] != item["person"]}
            continue
        marker = (item["person"], item["conversation"])
        if marker not in seen:
            seen.add(marker)
            out.append(item)
    return out


def subscriber_recipients(policy: Policy, incident: Incident) -> list[Recipient]:
    """The subscribed people on every channel, each only by a route of their own (never on a
    shared destination such as the pages webhook: that gets the update anyway); each row says
    whom it follows, checked again at delivery (hub.notifications.unsubscribed)."""
    people = [s["person"] for s in subscribers(incident) if s["person"]]
    return [
        replace(r, via_shared=False, audience="subscribers", follows=(incident.id, r.person))
        for r in person_recipients(policy, dict.fromkeys(people), channel_names())
    ]
