"""The unit of work: what one write transaction carries besides its rows.

`Hub.transaction` begins one per transaction and keeps it on the session under one key;
code deep in a transaction reaches it with `UnitOfWork.of(session)`:

- `jobs`, `timed_jobs`: the queue wake-ups asked for with `queue_job` / `queue_job_at`;
  `Hub.transaction` hands them to the queue once the transaction commits, and drops them
  when it rolls back (the rows they name were never written).
- `settings`, `policy`: the hub's settings and the policy current when the transaction
  began, for the workflow seams that have only the session (links, senders, mobilising an
  incident before acting on it). None on a session no transaction began.
- `cache`: lookups that hold for the rest of the transaction, keyed by what they are
  (e.g. `"suppressed"`: address -> bounced), so repeated notices look each up once.

A session that no `Hub.transaction` began gets an empty one on first use; its jobs are then
the caller's to enqueue (`Hub.enqueue_after_commit`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session

if TYPE_CHECKING:
    from hub.app.settings import Settings
    from hub.policy.model import Policy

KEY = "unit_of_work"


@dataclass
class UnitOfWork:
    """One write transaction: its session, queued jobs, settings, policy and cache."""

    session: Session
    settings: Settings | None = None
    policy: Policy | None = None
    jobs: list[tuple[str, int]] = field(default_factory=list)
    timed_jobs: list[tuple[str, int, datetime]] = field(default_factory=list)
    cache: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def begin(
        cls, session: Session, *, settings: Settings | None = None, policy: Policy | None = None
    ) -> UnitOfWork:
        """A new unit of work for a transaction that starts on `session`."""
        uow = session.info[KEY] = cls(session, settings, policy)
        return uow

    @classmethod
    def of(cls, session: Session) -> UnitOfWork:
        """The session's unit of work (an empty one if no transaction began one)."""
        uow = session.info.get(KEY)
        if uow is None:
            uow = cls.begin(session)
        return uow

    def queue_job(self, task: str, ident: int) -> None:
        """Ask for `task(ident)` to run once this transaction commits."""
        self.jobs.append((task, ident))

    def queue_job_at(self, task: str, ident: int, eta: datetime) -> None:
        """Ask for `task(ident)` to run at `eta` (aware), once this transaction commits."""
        self.timed_jobs.append((task, ident, eta))
