"""The hub's per-process state: settings, database, policy (reloadable), queue hook."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path

from hub.db import Database
from hub.policy_model import Policy
from hub.settings import Settings

log = logging.getLogger("hub")


class PolicyHolder:
    """Holds the current policy; a reload that fails keeps the last good one."""

    def __init__(self, path: Path, policy: Policy | None = None):
        self.path = path
        self._policy = policy
        self._lock = threading.Lock()
        self.last_error: str | None = None

    @property
    def current(self) -> Policy:
        if self._policy is None:
            self.reload(strict=True)
        return self._policy  # type: ignore[return-value]

    def reload(self, strict: bool = False) -> bool:
        """Load the file again; on error keep the old policy (or raise if `strict`)."""
        from hub.policy import PolicyError, load_policy

        with self._lock:
            try:
                policy = load_policy(self.path)
            except (PolicyError, OSError) as exc:
                self.last_error = str(exc)
                if strict or self._policy is None:
                    raise
                log.error("policy reload failed, keeping the last good policy:\n%s", exc)
                return False
            self._policy = policy
            self.last_error = None
            return True


class Hub:
    """Everything a request or a task needs, made once per process."""

    def __init__(self, settings: Settings, policy: Policy | None = None,
                 db: Database | None = None):
        self.settings = settings
        self.db = db or Database(settings.database_url)
        self.policies = PolicyHolder(Path(settings["HUB_POLICY"] or "policy.yaml"), policy)
        # Called with a list of (task name, id) after a transaction commits; the queue
        # module installs the real one. Lost wake-ups are harmless: reconcile finds the work.
        self.enqueue: Callable[[list[tuple[str, int]]], None] = lambda jobs: None

    @property
    def policy(self) -> Policy:
        return self.policies.current

    @contextmanager
    def transaction(self):
        """A write transaction; jobs it queued in `session.info["jobs"]` are enqueued after commit."""
        jobs: list[tuple[str, int]] = []
        with self.db.session(write=True) as session:
            session.info["jobs"] = jobs
            yield session
        if jobs:
            try:
                self.enqueue(jobs)
            except Exception:  # the rows are committed; reconcile will find them
                log.exception("could not enqueue %d job(s); reconcile will pick them up", len(jobs))


def queue_job(session, task: str, ident: int) -> None:
    """Ask for `task(ident)` to run once this transaction commits."""
    session.info.setdefault("jobs", []).append((task, ident))
