"""Incidents as the JSON documents of the API contract."""

from __future__ import annotations

from datetime import datetime

from hub.app.models import Incident
from hub.app.redact import redact_text
from hub.app.timefmt import iso
from hub.channels.base import shown_recipient
from hub.incidents.records import remaining


def incident_summary(incident: Incident) -> dict:
    """The short form used in lists and create answers."""
    return {
        "id": incident.ref,
        "title": incident.title,
        "state": incident.state,
        "major": incident.major,
        "severity": incident.severity,
        "rule": incident.rule,
        "reasons": list(incident.reasons or ()),
        "services": list(incident.services or ()),
        "impact": incident.impact,
        "affected_users": incident.affected_users,
        "security": incident.security,
        "source": incident.source,
        "reporter": incident.reporter,
        "created_at": iso(incident.created_at),
        "updated_at": iso(incident.updated_at),
        "resolved_at": iso(incident.resolved_at),
        "merged_into": f"INC-{incident.merged_into_id}" if incident.merged_into_id else None,
    }


def incident_detail(
    incident: Incident,
    now: datetime,
    unreachable: dict[str, str] | None = None,
    notifications: list | None = None,
) -> dict:
    """Everything: timeline, roles, timers, notifications. `unreachable`: person -> why the
    hub cannot mail them (shown on their roles as `email_unreachable`); `notifications`: the
    rows to list (objects or column tuples), else all the incident's."""
    unreachable = unreachable or {}
    if notifications is None:
        notifications = incident.notifications
    doc = incident_summary(incident)
    doc.update(
        {
            "description": incident.description,
            "summary": incident.summary,
            "declared_at": iso(incident.declared_at),
            "mobilised_at": iso(incident.mobilised_at),
            "closed_at": iso(incident.closed_at),
            "meeting_url": (incident.plan or {}).get("bridge_url"),  # the hub's Teams bridge
            "reporters": sorted({r.reporter for r in incident.reports if r.reporter}),
            "reports": [
                {
                    "id": r.id,
                    "reporter": r.reporter,
                    "source": r.source,
                    "title": r.title,
                    "services": list(r.services or ()),
                    "at": iso(r.at),
                }
                for r in incident.reports
            ],
            "roles": [
                {
                    "role": r.role,
                    "person": r.person,
                    "assigned_at": iso(r.assigned_at),
                    "acknowledged_at": iso(r.acknowledged_at),
                    "email_unreachable": unreachable.get(r.person),
                }
                for r in incident.roles
                if r.active
            ],
            "timeline": [
                {"at": iso(e.at), "kind": e.kind, "actor": e.actor, "text": e.text}
                for e in incident.timeline
            ],
            "timers": [
                {"kind": t.kind, "due_at": iso(t.due_at), "remaining_s": remaining(t.due_at, now)}
                for t in incident.timers
                if t.state == "pending"
            ],
            "notifications": [
                {
                    "channel": n.channel,
                    "recipient": shown_recipient(n.recipient),
                    "template": n.template,
                    "status": n.status,
                    "attempts": n.attempts,
                    "sent_at": iso(n.sent_at),
                    "last_error": redact_text(n.last_error) if n.last_error else None,
                    "audience": n.audience,
                    "batch": n.batch_id,
                }
                for n in notifications
            ],
        }
    )
    return doc
