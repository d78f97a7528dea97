"""The delivery tasks: wake-ups that hand outbox row ids to the engine (hub/notifications/delivery.py)."""

from __future__ import annotations

from hub.app.db import utcnow
from hub.incidents.undeliverable import check_row
from hub.notifications.delivery import deliver_now, deliver_rows
from tasks import registry
from tasks.queue import huey
from tasks.runtime import get_hub

CHUNK = 20  # rows per task when a batch is split across the worker threads


@registry.register("deliver")
@huey.task(name="deliver")
def deliver(row_id: int) -> str:
    """Wake-up for one outbox row."""
    return deliver_now(get_hub(), row_id)


@registry.register("deliver_batch")
@huey.task(name="deliver_batch")
def deliver_batch(row_ids: list[int]) -> dict:
    """Wake-up for one event's rows: chunks beyond the first go to the other worker threads."""
    for start in range(CHUNK, len(row_ids), CHUNK):
        deliver_batch(row_ids[start : start + CHUNK])
    outcomes = deliver_rows(get_hub(), row_ids[:CHUNK])
    counts: dict[str, int] = {}
    for outcome in outcomes.values():
        counts[outcome] = counts.get(outcome, 0) + 1
    return counts


@registry.register("page_failed")
@huey.task(name="page_failed")
def page_failed(row_id: int) -> bool:
    """A page row failed: tell the MIM if its person was reached by no channel."""
    return check_row(get_hub(), row_id, utcnow())
