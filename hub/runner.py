"""`mihub run`: web, worker and SMTP intake as one supervised process tree."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from contextlib import contextmanager

log = logging.getLogger("hub.run")

# Each part is `mihub <part>`; later issues add theirs here (`mihub mailbox` runs alone: it needs
# a mailbox configured).
PARTS = ["web", "worker", "smtpd"]


def run_all(parts: list[str] | None = None, *, echo=print) -> int:
    """Start every part as a child; on Ctrl-C or SIGTERM stop them gracefully and wait."""
    parts = parts or PARTS
    children: dict[str, subprocess.Popen] = {}
    stopping = False

    def stop(signum, _frame):
        nonlocal stopping
        if not stopping:
            echo(f"\nStopping ({signal.Signals(signum).name}); waiting for work in progress…")
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    env = dict(os.environ, HUB_CHILD="1")
    for part in parts:
        # Children get their own process group so that a terminal's Ctrl-C reaches only us;
        # we then stop them in order with SIGINT, Huey's graceful signal.
        children[part] = subprocess.Popen([sys.executable, "-m", "hub.cli", part], env=env,
                                          start_new_session=True)
    code = 0
    try:
        while not stopping:
            for part, child in children.items():
                if child.poll() is not None:
                    echo(f"{part} exited with status {child.returncode}; stopping the rest")
                    stopping, code = True, child.returncode or 1
                    break
            time.sleep(0.2)
    finally:
        for child in children.values():
            if child.poll() is None:
                child.send_signal(signal.SIGINT)
        deadline = time.monotonic() + 30
        for part, child in children.items():
            try:
                child.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                echo(f"{part} did not stop within 30 s; killing it")
                child.kill()
                child.wait()
    echo("Stopped cleanly." if code == 0 else "Stopped.")
    return code


def serve_web(app, listen: str, threads: int) -> None:
    """Serve the app with waitress until SIGINT/SIGTERM."""
    from waitress import create_server

    from hub.settings import split_hostport

    host, port = split_hostport(listen)
    server = create_server(app, host=host, port=port, threads=threads, ident="mihub",
                           connection_limit=1000, channel_timeout=60, backlog=1024,
                           clear_untrusted_proxy_headers=True)

    def _stop(_signum, _frame):
        server.close()
        raise SystemExit(0)

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    log.info("web listening on http://%s:%s", host, port)
    try:
        server.run()
    except SystemExit:
        pass
    finally:
        server.close()


@contextmanager
def serving_in_thread(app, host: str = "127.0.0.1", port: int = 0, threads: int = 8, **adj):
    """Serve the app with waitress in a background thread; yield its base URL; stop cleanly.

    For tests and benchmarks. Stopping lets requests in progress finish, then closes every
    socket from inside the server's own loop (through its trigger), so the loop ends by itself:
    closing them from another thread races its `select()`, which then fails with EBADF.
    """
    import threading

    from waitress import create_server

    server = create_server(app, host=host, port=port, threads=threads, **adj)
    thread = threading.Thread(target=server.run, name="waitress-loop", daemon=True)
    thread.start()
    try:
        yield f"http://{host}:{server.socket.getsockname()[1]}"
    finally:

        def close_all():
            for channel in list(server._map.values()):
                channel.close()

        server.task_dispatcher.shutdown(timeout=5)  # requests in progress finish first
        server.trigger.pull_trigger(close_all)
        thread.join(timeout=5)


def run_worker(workers: int = 4) -> None:
    """Run the Huey consumer with low idle back-off (pages must go out within a second)."""
    from tasks.main import huey
    from tasks.pump import TimerPump
    from tasks.reconcile import reconcile
    from tasks.runtime import enqueue_jobs, get_hub

    hub = get_hub()
    # A thread whose SMTP server just answered 250 must get the GIL back quickly to journal
    # the acceptance (hub/sent_journal.py): a 1 ms switch interval instead of 5 ms narrows
    # the one window in which a killed worker can cause a duplicate.
    sys.setswitchinterval(0.001)
    reconcile.call_local()  # on start, before any task: replay journals, find lost work
    consumer = huey.create_consumer(workers=workers, worker_type="thread", periodic=True,
                                    initial_delay=0.01, backoff=1.15, max_delay=0.5,
                                    scheduler_interval=1, check_worker_health=True)
    pump = TimerPump(hub, enqueue_jobs).start()  # timers: the database is the schedule
    try:
        consumer.run()
    finally:
        pump.stop()
