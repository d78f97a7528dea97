"""The alert intake task: apply stored notifications (a wake-up; the rows are the truth).

Any wake-up applies every notification still waiting, in batches (hub/intake/alerts/drain.py),
so the id it carries is only the reason it was sent. Importing this module also registers
the quiet-time timer action the worker fires.
"""

from __future__ import annotations

from hub.intake.alerts import quiet  # noqa: F401  (registers the alerts-quiet timer action)
from hub.intake.alerts.drain import drainer
from tasks import registry
from tasks.queue import huey
from tasks.runtime import get_hub


@registry.register("process_alerts", draining=True)
@huey.task(name="process_alerts")
def process_alerts(inbound_id: int) -> int:
    """Apply the stored alert notifications still waiting (`inbound_id`'s among them)."""
    return drainer.wake(get_hub())
