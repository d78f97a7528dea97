"""Review jobs: open the draft at resolution, publish an approved review, keep the site fresh
(the worker's tasks in tasks/publishing.py are wake-ups that call these)."""

from __future__ import annotations

import json
import logging
from contextlib import contextmanager
from datetime import datetime

from sqlalchemy import func, or_, select, text

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


def content_stamp(hub: Hub, now: datetime, include: list[int] | None = None) -> str:
    """What the built site shows: published reviews (and `include`), items, problems, the date."""
    published = Review.state == "published"
    if include:  # about to be published: stamp them as they will be
        published = or_(published, Review.id.in_(include))
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
    """Build the site with every approved review (None: just rebuild) and mark them published.

    One build at a time across every worker machine (`build_lock`), each reading one snapshot
    of the approved reviews: two approvals a second apart give one build with both, or two
    builds of which the second has both, never two builds with one each. A review is marked
    published only after the build that contains it is in place.
    """
    with build_lock(hub):
        with hub.db.session(write=False) as session:
            approved = list(
                session.scalars(
                    select(Review.id).where(Review.state == "approved").order_by(Review.id)
                )
            )
            state = session.scalar(select(Review.state).where(Review.id == review_id))
        if review_id is not None and state not in ("approved", "published"):
            return "skipped"
        if review_id is not None and state == "published":
            return "published"  # a build that ran while this task waited took it along
        stamp = content_stamp(hub, now, include=approved)
        try:
            counts, built = site.publish_site(hub, include=approved, progress=progress, now=now)
        except Exception as exc:
            log.error("publishing review(s) %s failed: %s", approved, exc)
            for ident in approved:
                _record_failure(hub, ident, str(exc), now)
            raise PublishFailed(str(exc)) from None
        _stamp_file(hub).write_text(stamp)
        outcome = "rebuilt" if review_id is None else "published"
        with hub.transaction() as session:
            for ident in approved:
                review = session.get(Review, ident, with_for_update=True)
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
                elif review.state != "published":  # sent back while it was building
                    queue_job(session, "refresh_site", ident)
                    if ident == review_id:
                        outcome = "withdrawn"
    return outcome


BUILD_LOCK = 7243002  # PostgreSQL advisory lock key of knowledge-base builds
BUILD_WAIT = 900.0  # seconds a build may wait for the one before it


@contextmanager
def build_lock(hub: Hub):
    """Hold the knowledge-base build lock: PostgreSQL's advisory lock, shared by every
    machine; with SQLite (one machine) the publisher's file lock does the same."""
    if hub.db.is_sqlite:
        yield
        return
    with hub.db.engine.connect() as conn:
        conn.execute(
            text("SELECT pg_advisory_lock(:key)").execution_options(hub_timeout=BUILD_WAIT),
            {"key": BUILD_LOCK},
        )
        conn.commit()
        try:
            yield
        finally:
            conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": BUILD_LOCK})
            conn.commit()


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
