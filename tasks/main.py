"""What the consumer imports: the Huey instance and every task module."""

from tasks import reconcile  # noqa: F401  (registers the periodic task)
from tasks.queue import huey

__all__ = ["huey"]
