"""tick(hub, now): find everything due or stuck in the database and hand it to the queue."""

from __future__ import annotations

from datetime import datetime

from hub.context import Hub


def tick(hub: Hub, now: datetime) -> dict[str, int]:
    """Re-enqueue due timers and due or stuck deliveries; returns counts by kind."""
    return {"timers": 0, "notifications": 0}
