"""The web's gunicorn worker leaves on a quit signal even when it interrupts the thread pool."""

from __future__ import annotations

import os
import signal
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from hub.runner import web_worker_class


def test_a_quit_inside_the_pools_submit_exits_instead_of_waiting_forever(monkeypatch):
    """The signal handler runs on the main thread; if that thread was inside `tpool.submit`
    (holding the pool's lock), gunicorn's own quit waits for that lock forever."""
    cls = web_worker_class()
    worker = cls.__new__(cls)  # no gunicorn set-up needed
    worker.tpool = ThreadPoolExecutor(1)
    exits: list[int] = []

    def fake_exit(code):
        exits.append(code)
        raise SystemExit(code)

    monkeypatch.setattr(os, "_exit", fake_exit)

    def quit_inside_submit():
        # the pool's lock held as ThreadPoolExecutor.submit holds it
        with worker.tpool._shutdown_lock, pytest.raises(SystemExit):
            worker.handle_quit(signal.SIGQUIT, None)

    quitting = threading.Thread(target=quit_inside_submit, daemon=True)
    quitting.start()
    quitting.join(timeout=30)
    deadlocked = quitting.is_alive()
    if not deadlocked:
        worker.tpool.shutdown()
    assert not deadlocked, "handle_quit waits for the lock its own thread holds"
    assert exits == [0]
