"""The email worker's work in one process, in CPU time per message (the machine's load hardly moves it).

    .venv/bin/python bench/email_worker_cpu.py [--messages 1000]

The messages of `email_intake_bench.py`'s mix are stored first (as the listener stores them),
then woken up eight at a time (as the listener's batches of eight clients wake the worker) and
the tasks run at once in this process (Huey in immediate mode): the pipeline, the tasks it
queues, and the delivery of the acknowledgements to the local sink, as `mihub worker` runs
them, without the queue's storage and the worker's start. The figure is the process's CPU time
over that part, per message: what one core can process end to end is about 1000 / that.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import logging
import os
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.email_intake_bench import INTAKE, SECRET, mix, seed  # noqa: E402
from hub.app.context import Hub  # noqa: E402
from hub.app.db import utcnow  # noqa: E402
from hub.app.migrate import upgrade  # noqa: E402
from hub.app.settings import load_settings  # noqa: E402
from hub.app.uow import UnitOfWork  # noqa: E402
from hub.intake.email.store import store_many  # noqa: E402
from hub.policy.load import load_policy  # noqa: E402

WAKE_UP = 8  # messages per wake-up: one listener batch of 8 clients


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=1000)
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    messages, _kinds = mix(args.messages, random.Random(42))
    data = Path(tempfile.mkdtemp(prefix="mihub-mailcpu-"))
    url = f"sqlite:///{data}/hub.db"
    upgrade(url)
    os.environ.update(
        HUB_DATA_DIR=str(data),
        HUB_DATABASE_URL=url,
        HUB_QUEUE_URL=f"sqlite:///{data}/queue.db",
        HUB_SECRET_KEY=SECRET,
        HUB_MAIL_FROM=f"Major Incident Hub <{INTAKE}>",
        HUB_MAIL_TRANSPORT="sink",
        HUB_POLICY=str(ROOT / "policy.yaml"),
    )
    with contextlib.redirect_stderr(io.StringIO()):  # the policy's warnings
        import tasks.main  # noqa: F401  (registers the tasks)
        from hub.channels.registry import load_channels
        from tasks import registry, runtime
        from tasks.queue import huey

        load_channels()
        hub = Hub(load_settings(), policy=load_policy(ROOT / "policy.yaml", env={}))
    huey.immediate = True
    runtime.set_hub(hub)

    def store(raws: list[bytes]) -> list[int]:
        envelope = {"mail_from": f"sender@{INTAKE.split('@')[1]}", "rcpt_tos": [INTAKE]}
        with hub.transaction() as session:
            items = [
                (raw, envelope, f"new:{i}:{os.urandom(8).hex()}") for i, raw in enumerate(raws)
            ]
            ids = store_many(session, items, via="bench", now=utcnow())
            UnitOfWork.of(session).jobs.clear()  # woken up below
        return ids

    seeds = store(seed(40))
    registry.enqueue_jobs([("process_inbound", i) for i in seeds])
    ids = store(messages)
    cpu = time.process_time()
    for at in range(0, len(ids), WAKE_UP):
        registry.enqueue_jobs([("process_inbound", i) for i in ids[at : at + WAKE_UP]])
    cpu = time.process_time() - cpu
    mails = len(list((data / "sinks" / "email").glob("*.json")))
    print(
        f"{len(ids)} messages woken {WAKE_UP} at a time, {mails} mails to the sink: "
        f"{1000 * cpu / len(ids):.2f} ms of CPU per message "
        f"(load average {os.getloadavg()[0]:.1f})"
    )
    print(f"RESULT worker_cpu_ms={1000 * cpu / len(ids):.2f} messages={len(ids)} mails={mails}")


if __name__ == "__main__":
    main()
