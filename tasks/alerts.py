"""The alert intake task: apply one stored notification (a wake-up; the row is the truth).

Importing it also registers the quiet-time timer action the worker fires.
"""

from __future__ import annotations

from hub.app.db import utcnow
from hub.intake.alerts import quiet  # noqa: F401  (registers the alerts-quiet timer action)
from hub.intake.alerts.ingest import process
from tasks import registry
from tasks.queue import huey
from tasks.runtime import get_hub


@registry.register("process_alerts")
@huey.task(name="process_alerts")
def process_alerts(inbound_id: int) -> str | None:
    """Apply a stored alert notification (a no-op if it was applied already)."""
    result = process(get_hub(), inbound_id, utcnow())
    return result.outcome if result else None
