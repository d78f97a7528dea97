"""Tasks by name, so domain code can ask for work without importing Huey."""

from __future__ import annotations

from collections.abc import Callable

TASKS: dict[str, Callable[[int], object]] = {}


def register(name: str):
    """Make a task enqueueable by `name` from `queue_job(session, name, id)`."""

    def deco(task):
        TASKS[name] = task
        return task

    return deco
