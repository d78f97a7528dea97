"""The email intake task: process one stored inbound message (a wake-up; the row is the truth)."""

from __future__ import annotations

from hub.app.db import utcnow
from hub.intake.email.batching import with_waiting
from hub.intake.email.pipeline import BATCH, process, process_many
from tasks import registry
from tasks.queue import huey
from tasks.runtime import get_hub


@registry.register("process_inbound")
@huey.task(name="process_inbound")
def process_inbound(inbound_id: int) -> str | None:
    """Run the pipeline on a stored message (a no-op if it was processed already)."""
    result = process(get_hub(), inbound_id, utcnow())
    return result.outcome if result else None


@registry.register("process_inbound_batch")
@huey.task(name="process_inbound_batch")
def process_inbound_batch(inbound_ids: list[int]) -> int:
    """Run the pipeline on several stored messages, several per transaction, with other stored
    mail waiting (a full batch when the worker is behind); how many ran."""
    hub = get_hub()
    return len(process_many(hub, with_waiting(hub, inbound_ids, BATCH)))
