"""Tasks by name, so domain code can ask for work without importing Huey.

Each task module registers its tasks when it is imported; the processes that enqueue work
import them all first (tasks.main: the consumer, and `mihub` commands that make a Hub).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

TASKS: dict[str, Callable] = {}
# Tasks whose any one run does the work of every wake-up sent before it (they apply whatever
# rows wait, not the row they name): wake-ups sent together may go out as one.
DRAINING: set[str] = set()
MAIL_BATCH = 50  # stored messages per `process_inbound_batch` task


def register(name: str, *, draining: bool = False):
    """Make a task enqueueable by `name` from `queue_job(session, name, id)`."""

    def deco(task):
        TASKS[name] = task
        if draining:
            DRAINING.add(name)
        return task

    return deco


def _named(name: str) -> Callable:
    try:
        return TASKS[name]
    except KeyError:
        raise LookupError(f"no task {name!r} is registered (import tasks.main first)") from None


def enqueue_jobs(jobs: list[tuple[str, int]]) -> None:
    """Enqueue tasks by name with an id argument (after a commit)."""
    deliveries = [ident for name, ident in jobs if name == "deliver"]
    if len(deliveries) > 1:  # one event's notifications: one task, split by the worker
        jobs = [(name, ident) for name, ident in jobs if name != "deliver"]
    mail = [ident for name, ident in jobs if name == "process_inbound"]
    if len(mail) > 1:  # stored mail: several messages per task and transaction
        jobs = [(name, ident) for name, ident in jobs if name != "process_inbound"]
    for name, ident in jobs:  # timers first (the tick's order): they may page people
        _named(name)(ident)
    if len(deliveries) > 1:
        _named("deliver_batch")(deliveries)
    for at in range(0, len(mail) if len(mail) > 1 else 0, MAIL_BATCH):
        _named("process_inbound_batch")(mail[at : at + MAIL_BATCH])


def enqueue_jobs_at(jobs: list[tuple[str, int, datetime]]) -> None:
    """Schedule tasks by name with an id argument to run at an aware `eta` (after a commit)."""
    for name, ident, eta in jobs:
        _named(name).schedule(args=(ident,), eta=eta)
