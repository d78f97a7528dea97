"""The sent journal: the provider's acceptance, written down before anything else can happen.

A worker marks rows sent in the database in small batches (one short write transaction per
batch, not per message). Between the provider accepting a message and that commit, the only
record is this journal: one line per accepted message, appended with a single `write(2)` on
an `O_APPEND` file in the data directory, right after the provider's answer. The kernel keeps
the line if the process is killed (SIGKILL included); only losing the machine itself loses it.

On worker start and on every reconcile tick, journals of processes that are gone are replayed
(their rows are marked sent) *before* expired claims are put back to pending, so a worker killed
mid fan-out causes no duplicates. The window that remains is the microseconds between the
provider's answer and the `write(2)`, and losing the machine between the answer and the batch
commit (with several machines, each replays its own journals when its worker starts again).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import threading
from datetime import datetime
from pathlib import Path

log = logging.getLogger("hub.outbox")

HOST = socket.gethostname().replace("/", "_")


class SentJournal:
    """This process's journal file; thread-safe; emptied whenever every line is committed."""

    def __init__(self, directory: Path):
        directory.mkdir(parents=True, exist_ok=True)
        self.path = directory / f"{HOST}--{os.getpid()}.log"
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        self._lock = threading.Lock()
        self._open = 0  # lines not yet committed to the database

    def record(self, row_id: int, provider_id: str, at: datetime) -> None:
        """The provider accepted row `row_id`: one line, one write."""
        line = json.dumps({"id": row_id, "provider_id": provider_id[:500], "at": at.isoformat()})
        with self._lock:
            os.write(self._fd, (line + "\n").encode())
            self._open += 1

    def committed(self, count: int) -> None:
        """`count` recorded rows are marked sent in the database; empty the file when all are."""
        with self._lock:
            self._open = max(0, self._open - count)
            if self._open == 0:
                os.ftruncate(self._fd, 0)

    def close(self) -> None:
        with self._lock, contextlib.suppress(OSError):
            os.close(self._fd)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def orphans(directory: Path) -> list[Path]:
    """Journals of this machine's processes that are gone (not ours, not alive)."""
    if not directory.is_dir():
        return []
    found = []
    for path in directory.glob(f"{HOST}--*.log"):
        try:
            pid = int(path.stem.rsplit("--", 1)[1])
        except ValueError:
            continue
        if pid != os.getpid() and not _alive(pid):
            found.append(path)
    return found


def read(path: Path) -> list[dict]:
    """The complete lines of a journal (a torn last line is ignored: it was never accepted)."""
    entries = []
    for raw in path.read_bytes().splitlines():
        with contextlib.suppress(ValueError, KeyError):
            entry = json.loads(raw)
            entries.append(
                {
                    "id": int(entry["id"]),
                    "provider_id": str(entry["provider_id"]),
                    "at": datetime.fromisoformat(entry["at"]),
                }
            )
    return entries
