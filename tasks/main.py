"""What the consumer imports: the Huey instance and every task module."""

from tasks import (  # noqa: F401  (registers the tasks)
    alerts,
    delivery,
    groups,
    intake,
    publishing,
    reconcile,
    timers,
)
from tasks.queue import huey

__all__ = ["huey"]
