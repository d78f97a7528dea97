"""Review jobs: open the draft at resolution, publish an approved review, keep the site fresh
(the worker's tasks in tasks/publishing.py are wake-ups that call these)."""

from __future__ import annotations

import json
import logging
from datetime import datetime

from sqlalchemy import func, or_, select

from hub.app.context import Hub, queue_job
from hub.app.models import ActionItem, Incident, Problem, Review
from hub.incidents.timeline import add_timeline
from hub.reviews import operations as reviews
from hub.reviews.publish import site

log = logging.getLogger("hub.worker")


class PublishFailed(Exception):
    """Publishing failed; the review keeps its state and shows the reason."""


def open_review_now(hub: Hub, incident_id: int, now: datetime) -> bool:
    """Open the draft review of a resolved major incident (no-op if it has one or needs none)."""
    with hub.transaction() as session:
        incident = session.get(Incident, incident_id, with_for_update=True)
        if incident is None:
            return False
        return reviews.open_review(session, hub.policy, incident, now=now) is not None


def open_missing_reviews(hub: Hub, now: datetime) -> int:
    """Open the drafts a lost wake-up left behind; returns how many were opened."""
    with hub.db.session(write=False) as session:
        ids = list(
            session.scalars(
                select(Incident.id)
                .where(Incident.major.is_(True), Incident.state == "resolved")
                .where(~select(Review.id).where(Review.incident_id == Incident.id).exists())
            )
        )
    return sum(open_review_now(hub, ident, now) for ident in ids)


def content_stamp(hub: Hub, now: datetime, include: int | None = None) -> str:
    """What the built site shows: published reviews (and `include`), items, problems, the date."""
    published = Review.state == "published"
    if include is not None:  # about to be published: stamp it as it will be
        published = or_(published, Review.id == include)
    with hub.db.session(write=False) as session:
        reviews_ = session.execute(
            select(func.count(Review.id), func.max(Review.updated_at)).where(published)
        ).one()
        items = session.scalar(select(func.max(ActionItem.updated_at)))
        problems = session.scalar(select(func.max(Problem.updated_at)))
    return json.dumps(
        [reviews_[0], str(reviews_[1]), str(items), str(problems), now.date().isoformat()]
    )


def _stamp_file(hub: Hub):
    return site.paths_for(hub.settings.data_dir).root / "built-stamp.json"


def publish_now(hub: Hub, review_id: int | None, now: datetime, progress=None) -> str:
    """Build the site with this review (None: just rebuild) and mark it published."""
    if review_id is not None:
        with hub.db.session(write=False) as session:
            review = session.get(Review, review_id)
            if review is None or review.state not in ("approved", "published"):
                return "skipped"
    stamp = content_stamp(hub, now, include=review_id)
    try:
        counts, built = site.publish_site(hub, include=review_id, progress=progress, now=now)
    except Exception as exc:
        log.error("publishing review %s failed: %s", review_id, exc)
        if review_id is not None:
            _record_failure(hub, review_id, str(exc), now)
        raise PublishFailed(str(exc)) from None
    _stamp_file(hub).write_text(stamp)
    if review_id is None:
        return "rebuilt"
    with hub.transaction() as session:
        review = session.get(Review, review_id, with_for_update=True)
        if reviews.mark_published(session, review, now=now):
            url = f"{hub.settings.base_url}/kb/reviews/{review.incident.ref}/"
            add_timeline(
                session,
                review.incident,
                "review",
                f"Post-incident review published: {url}",
                actor=None,
                now=now,
            )
        elif review.state != "published":  # sent back while it was building: take it down
            queue_job(session, "refresh_site", review_id)
            return "withdrawn"
    return "published"


def _record_failure(hub: Hub, review_id: int, message: str, now: datetime) -> None:
    with hub.transaction() as session:
        review = session.get(Review, review_id, with_for_update=True)
        review.publish_error = message[:4000]
        add_timeline(
            session,
            review.incident,
            "review",
            f"Publishing the post-incident review failed: {message[:500]}",
            actor=None,
            now=now,
        )


def refresh_now(hub: Hub, now: datetime) -> str:
    """Rebuild the site if anything it shows changed since the last build."""
    path = _stamp_file(hub)
    if path.exists() and path.read_text() == content_stamp(hub, now):
        return "fresh"
    return publish_now(hub, None, now)
