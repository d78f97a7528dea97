"""The hub's per-process state: settings, database, policy (reloadable), queue hook."""

from __future__ import annotations

import hashlib
import logging
import pwd
import socket
import threading
import time
from collections.abc import Callable
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

from sqlalchemy import select

from hub.app import audit
from hub.app.db import Database, utcnow
from hub.app.models import AuditRecord
from hub.app.redact import remember_secrets, secrets_of_policy, secrets_of_settings
from hub.app.settings import Settings
from hub.app.uow import UnitOfWork
from hub.policy.load import PolicyError, load_policy
from hub.policy.model import Policy
from hub.policy.templates import template_mtimes

log = logging.getLogger("hub")


def file_owner(path: Path) -> str:
    """The login of the file's owner (who edited it, as far as the file tells)."""
    uid = path.stat().st_uid
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"uid {uid}"


class PolicyHolder:
    """Holds the current policy; a reload that fails keeps the last good one."""

    def __init__(
        self,
        path: Path,
        policy: Policy | None = None,
        check_every: float = 5.0,
        on_reload: Callable[[Path], None] | None = None,
    ):
        self.path = path
        self.on_reload = on_reload  # after a reload of a changed file (the audit log)
        self._policy = policy
        if policy is not None:
            remember_secrets(secrets_of_policy(policy))
        self._lock = threading.Lock()
        self.last_error: str | None = None
        self.check_every = check_every
        self._checked_at = time.monotonic()
        self._mtime = self._stat()

    def _stat(self) -> tuple | None:
        """The policy file's change time, and its override templates' (hub/policy/templates.py)."""
        try:
            mtime = self.path.stat().st_mtime
        except OSError:
            return None
        return (mtime, *template_mtimes(self.path))

    @property
    def current(self) -> Policy:
        if self._policy is None:
            self.reload(strict=True)
        elif time.monotonic() - self._checked_at >= self.check_every:
            self._checked_at = time.monotonic()
            mtime = self._stat()
            if mtime is not None and mtime != self._mtime:
                self._mtime = mtime
                if self.reload():
                    log.info("policy reloaded from %s", self.path)
                    if self.on_reload is not None:
                        self.on_reload(self.path)
        return self._policy  # type: ignore[return-value]

    def reload(self, strict: bool = False) -> bool:
        """Load the file again; on error keep the old policy (or raise if `strict`)."""
        with self._lock:
            try:
                policy = load_policy(self.path)
            except (PolicyError, OSError) as exc:
                self.last_error = str(exc)
                if strict or self._policy is None:
                    raise
                log.error("policy reload failed, keeping the last good policy:\n%s", exc)
                return False
            remember_secrets(secrets_of_policy(policy))
            self._policy = policy
            self.last_error = None
            return True


class Hub:
    """Everything a request or a task needs, made once per process."""

    def __init__(
        self, settings: Settings, policy: Policy | None = None, db: Database | None = None
    ):
        self.settings = settings
        remember_secrets(secrets_of_settings(settings))
        self.db = db or Database(settings.database_url)
        self.policies = PolicyHolder(
            settings.path("HUB_POLICY"), policy, on_reload=self.record_policy_reload
        )
        # Called with a list of (task name, id) after a transaction commits; the queue
        # module installs the real one. Lost wake-ups are harmless: reconcile finds the work.
        self.enqueue: Callable[[list[tuple[str, int]]], None] = lambda jobs: None
        # The same for wake-ups at a time: (task name, id, aware eta), e.g. a delivery retry.
        self.enqueue_at: Callable[[list[tuple[str, int, datetime]]], None] = lambda jobs: None

    @property
    def policy(self) -> Policy:
        return self.policies.current

    def record_policy_reload(self, path: Path) -> None:
        """One audit record per new content of the policy file (every process reloads it;
        the first to record a content wins), with the file's owner as who edited it."""
        try:
            data, owner = path.read_bytes(), file_owner(path)
        except OSError:
            return
        digest = hashlib.sha256(data).hexdigest()[:16]
        try:
            with self.db.session() as session:
                last = session.scalars(
                    select(AuditRecord)
                    .where(AuditRecord.action == "policy-reloaded", AuditRecord.target == str(path))
                    .order_by(AuditRecord.id.desc())
                    .limit(1)
                ).first()
                before = (last.after or {}).get("sha256") if last else None
                if before == digest:
                    return
                audit.record(
                    session,
                    "policy-reloaded",
                    str(path),
                    actor=owner,
                    now=utcnow(),
                    before={"sha256": before} if before else None,
                    after={"sha256": digest, "file_owner": owner},
                    where=socket.gethostname(),
                )
        except Exception:  # the reload stands; the record is lost, and logged
            log.exception("could not record the policy reload in the audit log")

    @contextmanager
    def transaction(self):
        """A write transaction with its UnitOfWork; the jobs it queued are enqueued after commit."""
        with self.db.session(write=True) as session:
            uow = UnitOfWork.begin(session, settings=self.settings, policy=self.policy)
            yield session
        self.enqueue_after_commit(uow.jobs, uow.timed_jobs)

    def enqueue_after_commit(self, jobs: list, timed: list) -> None:
        """Hand committed work to the queue; a failure only delays it until the next tick."""
        for run, batch in ((self.enqueue, jobs), (self.enqueue_at, timed)):
            if not batch:
                continue
            try:
                run(batch)
            except Exception:  # the rows are committed; reconcile will find them
                log.exception(
                    "could not enqueue %d job(s); reconcile will pick them up", len(batch)
                )


def queue_job(session, task: str, ident: int) -> None:
    """Ask for `task(ident)` to run once this transaction commits."""
    UnitOfWork.of(session).queue_job(task, ident)


def queue_job_at(session, task: str, ident: int, eta: datetime) -> None:
    """Ask for `task(ident)` to run at `eta` (aware), once this transaction commits."""
    UnitOfWork.of(session).queue_job_at(task, ident, eta)
