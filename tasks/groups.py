"""The periodic refresh of the Entra groups that audiences name (hub.subscriptions.groups)."""

from __future__ import annotations

from huey import crontab

from hub.app.db import utcnow
from hub.subscriptions.groups import refresh_stale
from tasks.queue import huey
from tasks.runtime import get_hub


@huey.periodic_task(crontab(minute="23"), name="refresh_groups")
def refresh_groups() -> int:
    """Hourly: groups not fetched within HUB_GROUP_REFRESH (a day) are asked for again."""
    return refresh_stale(get_hub(), utcnow())
