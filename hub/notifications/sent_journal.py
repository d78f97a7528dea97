"""The sent journal: the provider's acceptance, written down before anything else can happen.

A worker marks rows sent in the database in small batches (one short write transaction per
batch, not per message). Between the provider accepting a message and that commit, the only
record is this journal: one line per accepted message, appended with a single `write(2)` on
an `O_APPEND` file in the data directory, right after the provider's answer. The kernel keeps
the line if the process is killed (SIGKILL included); only losing the machine itself loses it.

On worker start and on every reconcile tick, journals of processes that are gone (no one holds
their lock) are replayed
(their rows are marked sent) *before* expired claims are put back to pending, so a worker killed
mid fan-out causes no duplicates. The window that remains is the microseconds between the
provider's answer and the `write(2)`, and losing the machine between the answer and the batch
commit (with several machines, each replays its own journals when its worker starts again).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import secrets
import socket
import threading
from datetime import datetime
from pathlib import Path

log = logging.getLogger("hub.notifications.outbox")

HOST = socket.gethostname().replace("/", "_")


class SentJournal:
    """This process's journal file; thread-safe; emptied whenever every line is committed.

    The file is named `<host>--<pid>--<random>.log` (a restarted process that gets the same
    pid never reuses a dead one's file) and its owner holds an exclusive `flock` on it for
    as long as it lives: a file nobody holds a lock on belongs to a process that is gone.
    """

    def __init__(self, directory: Path):
        directory.mkdir(parents=True, exist_ok=True)
        self.path = directory / f"{HOST}--{os.getpid()}--{secrets.token_hex(4)}.log"
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # ours until the process ends
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


@contextlib.contextmanager
def orphans(directory: Path):
    """Journals of this machine's processes that are gone, each locked while the caller replays
    it (so two replaying workers never take the same file); yields their paths."""
    held: list[tuple[Path, int]] = []
    try:
        if directory.is_dir():
            for path in sorted(directory.glob(f"{HOST}--*.log")):
                try:
                    fd = os.open(path, os.O_RDONLY)
                except FileNotFoundError:  # replayed by another worker just now
                    continue
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except OSError:  # its owner is alive (or another worker is replaying it)
                    os.close(fd)
                    continue
                if not path.exists():  # replayed and removed between our glob and our lock
                    os.close(fd)
                    continue
                held.append((path, fd))
        yield [path for path, _ in held]
    finally:
        for _, fd in held:
            os.close(fd)


def unconfirmed(directory: Path) -> list[dict]:
    """Every line of every journal of this machine, its owner alive or not, read without
    locking: accepted messages whose rows may not be marked sent yet (a worker cut off from
    the database keeps them until it can commit, while its claims run out)."""
    entries: list[dict] = []
    if directory.is_dir():
        for path in sorted(directory.glob(f"{HOST}--*.log")):
            with contextlib.suppress(FileNotFoundError):
                entries.extend(read(path))
    return entries


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
