"""Post-incident review operations: open the draft at resolution, edit, submit, approve, publish.

States: draft → in_review → approved → published (reject sends it back to draft). The Problem
Manager (role holder) and the Major Incident Manager edit; the Problem Manager submits; the
Major Incident Manager or a policy admin approves and publishes. Approval queues the
"publish" task, which builds the site and only then marks the review published.

The draft is opened by the "open_review" task: a major incident that reaches `resolved` asks
for it in its own transaction (see `_on_state_set`), and the periodic sweep in
tasks/publishing.py catches any wake-up that was lost.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import event, select
from sqlalchemy.orm import Session, object_session

from hub.app import audit
from hub.app.context import queue_job
from hub.app.errors import Conflict, Forbidden, Invalid, NotFound
from hub.app.models import Incident, Review
from hub.core.permissions import MIM, PM, holds_or_admin, review_owner, review_refusal
from hub.incidents import operations as ops
from hub.incidents import records
from hub.incidents.timeline import add_timeline
from hub.policy.model import Policy, person_name
from hub.reviews import reminders
from hub.reviews.action_items import replace_items
from hub.reviews.content import (
    TEXT_FIELDS,
    check_services,
    check_tags,
    check_time,
    check_timeline,
    clean_text,
    missing_sections,
)
from hub.reviews.docs import compute_metrics, timeline_snapshot

EDITABLE = ("draft", "in_review")
# step -> (states it may start from, state it leads to)
STEPS = {
    "submit": (("draft",), "in_review"),
    "approve": (("in_review",), "approved"),
    "reject": (("in_review", "approved"), "draft"),
    "publish": (("approved", "published"), "published"),
}


def get_review(session: Session, ref: str, *, lock: bool = False) -> Review:
    """The review of an incident, or NotFound saying why there is none."""
    incident = records.get_incident(session, ref, lock=lock)
    review = session.scalars(select(Review).where(Review.incident_id == incident.id)).first()
    if review is None:
        why = "it is not resolved yet" if incident.major else "it is not a major incident"
        raise NotFound(f"{incident.ref} has no post-incident review: {why}", code="no_review")
    return review


def open_review(
    session: Session, policy: Policy, incident: Incident, *, now: datetime
) -> Review | None:
    """Open the draft for a resolved major incident (idempotent); None if it gets none."""
    existing = session.scalars(select(Review).where(Review.incident_id == incident.id)).first()
    if existing is not None or not incident.major or incident.state != "resolved":
        return existing
    severity = policy.severities.get(incident.severity)
    within = severity.review_within if severity else None
    resolved = incident.resolved_at or now
    review = Review(
        incident=incident,
        state="draft",
        resolution=incident.summary or "",
        services=list(incident.services or ()),
        affected_users=incident.affected_users,
        tags=[],
        timeline=timeline_snapshot(incident),
        created_at=now,
        updated_at=now,
        due_at=resolved + within if within else None,
    )
    review.metrics = compute_metrics(review, incident, policy)
    session.add(review)
    ops.set_state(
        session, incident, "start_review", "post-incident review opened", actor=None, now=now
    )
    pm = review_owner(incident)
    due = f", due {review.due_at.isoformat(timespec='minutes')}" if review.due_at else ""
    add_timeline(
        session,
        incident,
        "review",
        f"Post-incident review opened; Problem "
        f"Manager: {person_name(policy, pm, nobody='nobody (no one holds the role)')}"
        f"{due}",
        actor=None,
        now=now,
        data={"owner": pm},
    )
    session.flush()
    reminders.on_opened(session, policy, review, pm, now=now)
    return review


def update_review(
    session: Session, policy: Policy, review: Review, data: dict, *, actor: str, now: datetime
) -> Review:
    """Apply the given fields (others stay); `version`, when given, must match."""
    incident = review.incident
    if not holds_or_admin(policy, incident, actor, (PM, MIM)):
        raise Forbidden(review_refusal(incident, actor, (PM, MIM), "edit the review"))
    if review.state not in EDITABLE:
        raise Conflict(
            f"the review of {incident.ref} is {review.state}; only drafts and "
            "reviews in review can be edited",
            code="illegal_transition",
        )
    if data.get("version") is not None and data["version"] != review.version:
        raise Conflict(
            f"the review changed since you loaded it (version {data['version']}, "
            f"now {review.version}); reload and apply your edits again",
            code="version_conflict",
        )
    for field in TEXT_FIELDS:
        if field in data and data[field] is not None:
            setattr(review, field, clean_text(data[field], field=field))
    if data.get("tags") is not None:
        review.tags = check_tags(data["tags"], policy)
    if data.get("services") is not None:
        review.services = check_services(data["services"], policy)
    if "affected_users" in data:
        review.affected_users = data["affected_users"]
    if "started_at" in data:
        review.started_at = _started(data["started_at"], incident)
    if data.get("timeline") is not None:
        review.timeline = check_timeline(data["timeline"], policy)
    if data.get("action_items") is not None:
        replace_items(session, policy, review, data["action_items"], now=now)
    review.metrics = compute_metrics(review, incident, policy)
    review.version += 1
    review.updated_at, review.updated_by = now, actor
    return review


def _started(value, incident: Incident) -> datetime | None:
    if value in (None, ""):
        return None
    started = check_time(value, "started_at")
    if started > incident.created_at:
        raise Invalid(
            "started_at (when the impact began) cannot be after the first report "
            f"({incident.created_at.isoformat(timespec='seconds')})",
            code="invalid_value",
        )
    return started


def step(
    session: Session,
    policy: Policy,
    review: Review,
    name: str,
    *,
    actor: str,
    now: datetime,
    reason: str = "",
) -> Review:
    """Move the review: submit, approve, reject (with a reason) or publish."""
    incident = review.incident
    roles = {"submit": (PM,), "approve": (MIM,), "reject": (MIM,), "publish": (MIM,)}[name]
    if not holds_or_admin(policy, incident, actor, roles):
        raise Forbidden(review_refusal(incident, actor, roles, f"{name} the review"))
    starts, to_state = STEPS[name]
    if review.state not in starts:
        raise Conflict(
            f"cannot {name} the review of {incident.ref}: it is {review.state}",
            code="illegal_transition",
        )
    if name in ("approve", "publish"):  # both publish it to the knowledge base
        audit.record(
            session,
            "review-published",
            incident.ref,
            actor=actor,
            now=now,
            before={"state": review.state},
            after={"state": to_state, "step": name},
            incident_id=incident.id,
        )
    if name == "submit":
        missing = missing_sections({f: getattr(review, f) for f in TEXT_FIELDS})
        if missing:
            raise Invalid(
                "the review cannot be submitted yet; still empty: " + ", ".join(missing),
                code="incomplete",
                details={"missing": missing},
            )
        review.submitted_at, review.submitted_by = now, actor
    if name == "reject" and not reason.strip():
        raise Invalid("sending a review back needs a reason", code="missing_field")
    if name == "approve":
        review.approved_at, review.approved_by = now, actor
    if name in ("approve", "publish"):
        review.publish_error = None
        queue_job(session, "publish", review.id)  # the task marks it published once built
    if name != "publish":
        review.state = to_state
    text = {
        "submit": "submitted for approval",
        "approve": "approved; publishing",
        "reject": f"sent back to draft: {reason.strip()}",
        "publish": "queued for publishing",
    }[name]
    add_timeline(
        session,
        incident,
        "review",
        f"Post-incident review {text} by {person_name(policy, actor, nobody=None)}",
        actor=actor,
        now=now,
        data={"step": name},
    )
    review.updated_at = now
    reminders.on_step(session, policy, review, name, now=now)
    return review


def mark_published(session: Session, review: Review, *, now: datetime) -> bool:
    """After a successful build: the review is published and the incident moves on."""
    if review.state not in ("approved", "published"):
        return False
    first = review.state == "approved"
    review.state, review.publish_error = "published", None
    review.published_at = review.published_at or now
    incident = review.incident
    if first and incident.state == "review_due":
        ops.set_state(
            session,
            incident,
            "publish_review",
            "post-incident review published",
            actor=None,
            now=now,
        )
    return first


@event.listens_for(Incident.state, "set")
def _on_state_set(target: Incident, value, oldvalue, _initiator) -> None:
    """A major incident reaching `resolved` asks for its draft review after the commit."""
    if value == "resolved" and oldvalue != value and target.major and target.id is not None:
        session = object_session(target)
        if session is not None:
            queue_job(session, "open_review", target.id)
