"""The timer task: a wake-up for one due timer (hub.incidents.firing does the work)."""

from __future__ import annotations

from hub.app.db import utcnow
from hub.incidents.firing import fire_timer_now
from tasks import registry
from tasks.queue import huey
from tasks.runtime import get_hub


@registry.register("fire_timer")
@huey.task(name="fire_timer")
def fire_timer(timer_id: int) -> str:
    """Wake-up for one timer (enqueued by the timer pump when due, or by the tick)."""
    return fire_timer_now(get_hub(), timer_id, utcnow())
