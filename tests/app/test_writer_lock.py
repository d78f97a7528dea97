"""SQLite writers queue on one lock across threads and processes (hub.db.WriterLock)."""

from __future__ import annotations

import multiprocessing
import sys
import threading
import time

import pytest
from sqlalchemy import text

from hub.app.db import Database, WriterLock

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="flock(2) is POSIX")


def _hold_in_child(path, held, release, took):
    """Child process: take the lock (the parent's descriptor is inherited), report, wait."""
    lock = WriterLock(path)
    with lock:
        took.value = time.monotonic()
        held.set()
        release.wait(10)


def test_a_forked_child_waits_for_the_parents_lock(tmp_path):
    path = tmp_path / "hub.db.writer-lock"
    lock = WriterLock(path)
    ctx = multiprocessing.get_context("fork")
    held, release = ctx.Event(), ctx.Event()
    took = ctx.Value("d", 0.0)
    with lock:  # the parent opens the file first: the child inherits that descriptor
        child = ctx.Process(target=_hold_in_child, args=(path, held, release, took))
        child.start()
        assert not held.wait(0.5), "the child took the lock while the parent held it"
        let_go = time.monotonic()
    assert held.wait(5), "the child never got the lock after the parent let it go"
    assert took.value >= let_go
    # now the child holds it: this process waits in turn
    waited = []

    def take():
        with lock:
            waited.append(time.monotonic())

    t = threading.Thread(target=take)
    t.start()
    time.sleep(0.3)
    assert waited == [], "the parent took the lock while the child held it"
    release.set()
    t.join(5)
    child.join(5)
    assert waited and child.exitcode == 0


def test_threads_queue_and_every_write_lands(tmp_path):
    db = Database(f"sqlite:///{tmp_path / 'hub.db'}")
    with db.session() as s:
        s.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY, n INTEGER)"))
    inside, most = [0], [0]
    guard = threading.Lock()

    def write(k):
        for i in range(25):
            with db.session() as s:
                with guard:
                    inside[0] += 1
                    most[0] = max(most[0], inside[0])
                s.execute(text("INSERT INTO t (n) VALUES (:n)"), {"n": k * 100 + i})
                with guard:
                    inside[0] -= 1

    threads = [threading.Thread(target=write, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    with db.session(write=False) as s:
        assert s.execute(text("SELECT count(*) FROM t")).scalar() == 200
    assert most[0] == 1, "two write transactions overlapped"
    assert (tmp_path / "hub.db.writer-lock").exists()
    db.dispose()


def test_memory_database_needs_no_lock_file(tmp_path):
    db = Database("sqlite:///:memory:")
    with db.session() as s:
        s.execute(text("SELECT 1"))
    assert not list(tmp_path.iterdir())


def test_a_lock_file_that_cannot_be_opened_falls_back_to_the_thread_lock(tmp_path, caplog):
    lock = WriterLock(tmp_path / "missing-dir" / "hub.db.writer-lock")
    with caplog.at_level("WARNING", logger="hub.db"), lock:
        pass  # no exception: the write goes on, queued on threads only
    assert "cannot use the writer lock" in caplog.text
    with lock:  # and the lock still works afterwards
        pass


def test_the_lock_file_is_readable_by_the_database_readers(tmp_path):
    import os
    import stat

    path = tmp_path / "hub.db.writer-lock"
    lock = WriterLock(path)
    old = os.umask(0o022)
    try:
        with lock:
            pass
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644  # not 0600: another user may write too
    lock.close()
