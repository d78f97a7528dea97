"""The reconcile tick: re-derive due and stuck work from the database (Huey is at-most-once)."""

from __future__ import annotations

import logging

from huey import crontab

from hub.app.db import utcnow
from hub.notifications.delivery import mark_unmarked
from hub.ticker import tick
from tasks.queue import huey
from tasks.runtime import get_hub

log = logging.getLogger("hub.worker")


@huey.periodic_task(crontab(minute="*"), name="reconcile")
def reconcile():
    """Once a minute (and at worker start): enqueue whatever the database says is due."""
    mark_unmarked(get_hub())
    result = tick(get_hub(), utcnow())
    if any(result.values()):
        log.info("reconcile: %s", ", ".join(f"{k}={v}" for k, v in result.items()))
    return result
