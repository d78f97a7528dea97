"""What the consumer imports: the Huey instance and every task module."""

from tasks import delivery, intake, publishing, reconcile, timers  # noqa: F401  (registers the tasks)
from tasks.queue import huey

__all__ = ["huey"]
