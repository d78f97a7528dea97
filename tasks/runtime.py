"""The worker's Hub: built once per process, from the environment."""

from __future__ import annotations

import threading

from hub.context import Hub
from hub.settings import load_settings

_hub: Hub | None = None
_lock = threading.Lock()


def get_hub() -> Hub:
    """This process's Hub (settings, database, policy)."""
    global _hub
    with _lock:
        if _hub is None:
            _hub = Hub(load_settings())
            _hub.enqueue = enqueue_jobs
        return _hub


def set_hub(hub: Hub) -> None:
    """Use this Hub (tests, or a process that built one already)."""
    global _hub
    with _lock:
        _hub = hub
        hub.enqueue = enqueue_jobs


def enqueue_jobs(jobs: list[tuple[str, int]]) -> None:
    """Enqueue tasks by name with an id argument (after a commit)."""
    from tasks import registry

    for name, ident in jobs:
        registry.TASKS[name](ident)
