"""The worker's Hub: built once per process, from the environment."""

from __future__ import annotations

import threading

from hub.app.context import Hub
from hub.app.settings import load_settings
from hub.channels.registry import load_channels
from hub.notifications.delivery import use_lanes
from hub.notifications.throttle import share_limits
from tasks.registry import enqueue_jobs, enqueue_jobs_at

_hub: Hub | None = None
_lock = threading.Lock()


def get_hub() -> Hub:
    """This process's Hub (settings, database, policy), its channels registered before the
    policy is loaded (a policy's `via:` may name any of them)."""
    global _hub
    with _lock:
        if _hub is None:
            load_channels()
            _hub = Hub(load_settings())
            # limits counted with every other worker; limited endpoints sent through lanes
            share_limits(_hub.settings.queue_url, _hub.settings.data_dir)
            use_lanes()
            _hub.enqueue = enqueue_jobs
            _hub.enqueue_at = enqueue_jobs_at
        return _hub


def set_hub(hub: Hub) -> None:
    """Use this Hub (tests, or a process that built one already)."""
    global _hub
    with _lock:
        _hub = hub
        hub.enqueue = enqueue_jobs
        hub.enqueue_at = enqueue_jobs_at
