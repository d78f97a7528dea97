"""The unit of work of a transaction: jobs go to the queue after commit, never on rollback."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from hub.app.context import queue_job, queue_job_at
from hub.app.uow import UnitOfWork

ETA = datetime(2026, 11, 27, 14, 30, tzinfo=UTC)


@pytest.fixture
def queued(hub):
    """What the hub hands to the queue: (jobs, timed jobs), in the order of the calls."""
    jobs, timed = [], []
    hub.enqueue, hub.enqueue_at = jobs.extend, timed.extend
    return jobs, timed


def test_jobs_are_enqueued_after_commit(hub, queued):
    jobs, timed = queued
    with hub.transaction() as session:
        queue_job(session, "deliver", 1)
        queue_job_at(session, "deliver", 2, ETA)
        uow = UnitOfWork.of(session)
        assert uow.jobs == [("deliver", 1)] and uow.timed_jobs == [("deliver", 2, ETA)]
        assert jobs == [] and timed == []  # not before the rows they name are committed
    assert jobs == [("deliver", 1)] and timed == [("deliver", 2, ETA)]


def test_jobs_of_a_rolled_back_transaction_are_dropped(hub, queued):
    with pytest.raises(RuntimeError), hub.transaction() as session:
        queue_job(session, "deliver", 1)
        queue_job_at(session, "deliver", 2, ETA)
        raise RuntimeError("the write failed")
    assert queued == ([], [])


def test_a_transaction_carries_the_settings_policy_and_its_own_cache(hub, queued):
    with hub.transaction() as session:
        uow = UnitOfWork.of(session)
        assert UnitOfWork.of(session) is uow and uow.session is session
        assert uow.settings is hub.settings and uow.policy is hub.policy
        uow.cache["suppressed"] = {"a@example.com": True}
    with hub.transaction() as session:
        assert UnitOfWork.of(session).cache == {}


def test_a_session_without_a_transaction_gets_an_empty_one(hub, queued):
    with hub.db.session(write=True) as session:
        queue_job(session, "deliver", 1)
        uow = UnitOfWork.of(session)
        assert uow.jobs == [("deliver", 1)]
        assert uow.settings is None and uow.policy is None
    assert queued == ([], [])  # the caller's to enqueue: Hub.enqueue_after_commit
