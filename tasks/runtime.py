"""The worker's Hub: built once per process, from the environment."""

from __future__ import annotations

import threading
from datetime import datetime

from hub.app.context import Hub
from hub.app.settings import load_settings

_hub: Hub | None = None
_lock = threading.Lock()


def get_hub() -> Hub:
    """This process's Hub (settings, database, policy)."""
    global _hub
    with _lock:
        if _hub is None:
            _hub = Hub(load_settings())
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


def _tasks() -> dict:
    """Every task by name; importing the task modules registers them (the web process too)."""
    import tasks.main  # noqa: F401
    from tasks import registry

    return registry.TASKS


def enqueue_jobs(jobs: list[tuple[str, int]]) -> None:
    """Enqueue tasks by name with an id argument (after a commit)."""
    named = _tasks()
    deliveries = [ident for name, ident in jobs if name == "deliver"]
    if len(deliveries) > 1:  # one event's notifications: one task, split by the worker
        jobs = [(name, ident) for name, ident in jobs if name != "deliver"]
    for name, ident in jobs:  # timers first (the tick's order): they may page people
        named[name](ident)
    if len(deliveries) > 1:
        from tasks.delivery import deliver_batch

        deliver_batch(deliveries)


def enqueue_jobs_at(jobs: list[tuple[str, int, datetime]]) -> None:
    """Schedule tasks by name with an id argument to run at an aware `eta` (after a commit)."""
    named = _tasks()
    for name, ident, eta in jobs:
        named[name].schedule(args=(ident,), eta=eta)
