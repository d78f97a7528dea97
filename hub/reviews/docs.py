"""Reviews as data: the timeline and figures taken from the incident, and the API documents."""

from __future__ import annotations

from datetime import datetime

from hub.app.models import ActionItem, Incident, Review
from hub.app.timefmt import iso
from hub.core import review_metrics
from hub.incidents.tasks import task_doc
from hub.policy.model import Policy, person_name
from hub.reviews.content import HEADINGS, OPEN_ITEM, TEXT_FIELDS, missing_sections

# incident timeline kinds that belong in a review, and lifecycle events shown by name
TIMELINE_KINDS = {
    "first-alert",
    "alerts-resolved",
    "reported",
    "report",
    "classified",
    "reclassified",
    "acknowledged",
    "paged",
    "escalated",
    "update",
    "update-auto",
    "sla-warning",
    "sla-breach",
    "merged",
    "review-meeting",
    "task",
}
STATE_EVENTS = {
    "declare": "declared",
    "mobilise": "mobilised",
    "resolve": "resolved",
    "downgrade": "downgraded",
    "reopen": "reopened",
}
STATE_LABELS = {
    "draft": "Draft",
    "in_review": "In review",
    "approved": "Approved",
    "published": "Published",
}


def timeline_snapshot(incident: Incident) -> list[dict]:
    """The incident's events as the review's starting timeline."""
    out = []
    for entry in incident.timeline:
        kind = entry.kind
        if kind == "state":
            kind = STATE_EVENTS.get((entry.data or {}).get("event"), "")
        if kind in TIMELINE_KINDS or kind in STATE_EVENTS.values():
            out.append(
                {"at": iso(entry.at), "kind": kind, "text": entry.text, "actor": entry.actor}
            )
    return sorted(out, key=lambda e: e["at"])  # the first alert may predate the report


def incident_times(incident: Incident) -> review_metrics.Times:
    """The recorded times the figures are derived from (impact start comes from the review)."""
    mim_acks = [
        r.acknowledged_at
        for r in incident.roles
        if r.role == "major_incident_manager" and r.acknowledged_at is not None
    ]
    any_acks = [e.at for e in incident.timeline if e.kind == "acknowledged"]
    return review_metrics.Times(
        # detected when the first monitoring alert fired, if one came before the report
        detected_at=min(
            [incident.created_at] + [e.at for e in incident.timeline if e.kind == "first-alert"]
        ),
        declared_at=incident.declared_at,
        acknowledged_at=min(mim_acks or any_acks, default=None),
        mobilised_at=incident.mobilised_at,
        resolved_at=incident.resolved_at,
    )


def compute_metrics(review: Review, incident: Incident, policy: Policy) -> dict:
    """Derived figures for the review (recomputed whenever the review is saved)."""
    times = incident_times(incident)
    if review.started_at is not None:
        times = review_metrics.Times(**{**times.__dict__, "started_at": review.started_at})
    severity = policy.severities.get(incident.severity)
    figures = review_metrics.derive(
        times,
        ack_within=severity.ack_within if severity else None,
        resolve_within=severity.resolve_within if severity else None,
    )
    figures["sla"] = review_metrics.sla_verdict(figures)
    figures.update(
        {
            "detected_at": iso(times.detected_at),
            "declared_at": iso(times.declared_at),
            "acknowledged_at": iso(times.acknowledged_at),
            "mobilised_at": iso(times.mobilised_at),
            "resolved_at": iso(times.resolved_at),
        }
    )
    return figures


def item_doc(item: ActionItem, policy: Policy, today=None) -> dict:
    """One action item as JSON."""
    review = item.review
    overdue = bool(today and item.due and item.due < today and item.status in OPEN_ITEM)
    return {
        "id": item.id,
        "incident": f"INC-{review.incident_id}" if review else None,
        "title": item.title,
        "owner": item.owner,
        "owner_name": person_name(policy, item.owner, nobody=None),
        "due": item.due.isoformat() if item.due else None,
        "priority": item.priority,
        "status": item.status,
        "ticket": item.ticket,
        "overdue": overdue,
        "done_at": iso(item.done_at),
        "updated_at": iso(item.updated_at),
    }


def review_doc(
    review: Review,
    policy: Policy,
    *,
    base_url: str,
    owner: str | None,
    now: datetime,
    problems: list[str] = (),
) -> dict:
    """The review as the API shows it: content, state, figures, deadline and who owns it."""
    incident = review.incident
    doc = {
        "incident": incident.ref,
        "title": incident.title,
        "severity": incident.severity,
        "state": review.state,
        "state_label": STATE_LABELS.get(review.state, review.state),
        "version": review.version,
    }
    doc.update({f: getattr(review, f) or "" for f in TEXT_FIELDS})
    doc.update(
        {
            "started_at": iso(review.started_at),
            "affected_users": review.affected_users,
            "services": list(review.services or ()),
            "tags": list(review.tags or ()),
            "action_items": [item_doc(i, policy, now.date()) for i in review.action_items],
            "timeline": list(review.timeline or ()),
            "metrics": dict(review.metrics or {}),
            "tasks": [task_doc(policy, t, now) for t in incident.tasks],
            "problem_manager": owner,
            "problem_manager_name": person_name(policy, owner, nobody=None),
            "due_at": iso(review.due_at),
            "overdue": bool(
                review.due_at and now > review.due_at and review.state in ("draft", "in_review")
            ),
            "missing": missing_sections({f: getattr(review, f) for f in TEXT_FIELDS}),
            "sections": [{"field": f, "heading": HEADINGS[f]} for f in TEXT_FIELDS],
            "allowed_tags": list(policy.review_tags),
            "problems": list(problems),
            "created_at": iso(review.created_at),
            "updated_at": iso(review.updated_at),
            "updated_by": review.updated_by,
            "submitted_at": iso(review.submitted_at),
            "submitted_by": review.submitted_by,
            "approved_at": iso(review.approved_at),
            "approved_by": review.approved_by,
            "published_at": iso(review.published_at),
            "publish_error": review.publish_error,
            "url": f"{base_url}/api/v1/incidents/{incident.ref}/review",
            "site_url": (
                f"{base_url}/kb/reviews/{incident.ref}/" if review.state == "published" else None
            ),
        }
    )
    return doc
