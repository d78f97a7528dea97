"""Review tasks: wake-ups that open the draft at resolution, publish an approved review and
keep the site fresh (hub.reviews.publish.jobs does the work)."""

from __future__ import annotations

from huey import crontab

from hub.app.db import utcnow
from hub.reviews.publish import site
from hub.reviews.publish.jobs import open_missing_reviews, open_review_now, publish_now, refresh_now
from tasks import registry
from tasks.queue import huey
from tasks.runtime import get_hub


@registry.register("open_review")
@huey.task(name="open_review")
def open_review(incident_id: int) -> bool:
    """Wake-up: a major incident was resolved."""
    return open_review_now(get_hub(), incident_id, utcnow())


@registry.register("publish")
@huey.task(name="publish")
def publish(review_id: int) -> str:
    """Wake-up: a review was approved (or its publishing retried)."""
    return publish_now(get_hub(), review_id, utcnow())


@registry.register("refresh_site")
@huey.task(name="refresh_site")
def refresh_site(_ident: int) -> str:
    """Wake-up: something a published page shows changed (an action item, a withdrawal)."""
    return refresh_now(get_hub(), utcnow())


@huey.periodic_task(crontab(minute="*"), name="open_reviews")
def open_reviews_sweep() -> int:
    """Once a minute: drafts whose wake-up was lost; the first build of a new hub's site."""
    hub, now = get_hub(), utcnow()
    opened = open_missing_reviews(hub, now)
    if not site.paths_for(hub.settings.data_dir).site.exists():
        refresh_now(hub, now)
    return opened


@huey.periodic_task(crontab(minute="17"), name="refresh_site_hourly")
def refresh_site_hourly() -> str:
    """Hourly: overdue flags change with the date; rebuilds only when something changed."""
    return refresh_now(get_hub(), utcnow())
