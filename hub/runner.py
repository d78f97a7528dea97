"""`mihub run`: web, worker and SMTP intake as one supervised process tree."""

from __future__ import annotations

import ctypes
import gc
import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager, suppress

log = logging.getLogger("hub.run")

# Each part is `mihub <part>`; later issues add theirs here (`mihub mailbox` runs alone: it needs
# a mailbox configured).
PARTS = ["web", "worker", "smtpd"]
PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


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
        # we then stop them: SIGINT is Huey's and the SMTP listener's graceful signal,
        # SIGTERM gunicorn's.
        children[part] = subprocess.Popen(
            [sys.executable, "-m", "hub.cli", part],
            env=env,
            start_new_session=True,
            preexec_fn=_die_with(os.getpid(), signal.SIGTERM if part == "web" else signal.SIGINT),
        )
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
        for part, child in children.items():
            if child.poll() is None:  # gunicorn's graceful stop is SIGTERM (SIGINT is quick)
                child.send_signal(signal.SIGTERM if part == "web" else signal.SIGINT)
        deadline = time.monotonic() + 30
        for part, child in children.items():
            try:
                child.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                echo(f"{part} did not stop within 30 s; killing it")
                with suppress(ProcessLookupError):  # the group: gunicorn's workers too
                    os.killpg(child.pid, signal.SIGKILL)
                child.wait()
    echo("Stopped cleanly." if code == 0 else "Stopped.")
    return code


def _die_with(parent: int, sig: int):
    """A `preexec_fn` that makes the child receive `sig` (its clean stop) when `parent` dies,
    however it dies — `kill -9` included — so no web, worker or listener lives on as an orphan
    holding the ports and the database. Linux's parent-death signal; elsewhere nothing.
    """

    def arm() -> None:
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0)
        except (OSError, AttributeError):  # not Linux: no parent-death signal
            return
        if os.getppid() != parent:  # the parent died before the signal was armed
            os.kill(os.getpid(), sig)

    return arm if sys.platform.startswith("linux") else None


def web_worker_class():
    """gunicorn's gthread worker, with a quit that cannot deadlock.

    gunicorn's `handle_quit` (SIGQUIT from a master stopping fast, or SIGINT) shuts the thread
    pool down inside the signal handler. When the signal lands while the main thread is inside
    `tpool.submit` — which holds the pool's lock — that shutdown waits for the lock forever:
    the worker never exits, outlives its master and keeps the port. Seen under load, with a
    request arriving as the worker was told to quit. Then it leaves at once, as a quit asks."""
    from gunicorn.workers.gthread import ThreadWorker

    class HubThreadWorker(ThreadWorker):
        def handle_quit(self, sig, frame):
            lock = getattr(getattr(self, "tpool", None), "_shutdown_lock", None)
            if lock is not None and lock.locked():  # interrupted inside submit(): ours
                os._exit(0)
            super().handle_quit(sig, frame)

    return HubThreadWorker


def web_workers(setting: str | int) -> int:
    """HUB_WEB_WORKERS: a number, or 0 for two per CPU (at most 8)."""
    n = int(setting)
    return n if n > 0 else min(8, 2 * (os.cpu_count() or 1))


def serve_web(
    make_app, listen: str, workers: int, *, log_level: str = "info", threads: int = 128
) -> None:
    """Serve the app until SIGINT/SIGTERM: gunicorn, `workers` processes of `threads` threads.

    Why processes and not threads: a create or an intake request is Python on the CPU, and
    one process runs one thread at a time. Under 32 concurrent clients on 2 cores, waitress
    (one process, an event loop thread and 16 request threads) served a one-row insert at
    ~100/s with p99 0.8 s, because its loop thread spins and starves the request thread
    holding the database; gunicorn's sync workers served the same route at ~800/s with
    p99 ~50-90 ms (bench/api_bench.py). Each worker builds its own app with `make_app()`
    after the fork (no engine, pool or queue connection is shared across fork()).
    Where gunicorn does not run (Windows), waitress serves instead.

    Threads (gunicorn's gthread worker) because a live page's event stream holds its thread
    for minutes: with sync workers four open rooms would take every process. A stream waits
    on a condition and costs no CPU; Python still runs one request at a time per process,
    so pages keep the throughput of the sync workers (bench/live_bench.py, bench/api_bench.py).
    A process serves at most `threads` - 16 streams (hub.web.live) and accepts at most
    `threads` + 16 connections, so pages find a thread beside the streams.
    """
    from hub.app.settings import split_hostport

    host, port = split_hostport(listen)
    try:
        from gunicorn.app.base import BaseApplication
    except ImportError:
        return _serve_waitress(make_app(), host, port, threads=threads)

    bind = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"

    class WebServer(BaseApplication):
        def load_config(self):
            options = {
                "bind": [bind],
                "workers": workers,
                "worker_class": web_worker_class(),
                "threads": threads,
                "worker_connections": threads + 16,  # a few kept-alive idle connections
                "backlog": 2048,
                "timeout": 60,  # a request running longer than this is killed with its worker
                "graceful_timeout": 30,
                "keepalive": 2,
                "proc_name": "mihub-web",
                "accesslog": None,
                "errorlog": "-",
                # gunicorn's own INFO lines (workers booting and exiting) are noise next to
                # ours; its warnings and errors (a worker killed on timeout) still show.
                "loglevel": "debug" if log_level.upper() == "DEBUG" else "warning",
                "control_socket_disable": True,  # gunicorn ≥ 25: no shared ~/.gunicorn socket
                "secure_scheme_headers": {},  # no proxy header is trusted (HUB_BASE_URL is)
                "forwarded_allow_ips": "127.0.0.1",
                "when_ready": lambda _arbiter: log.info(
                    "web listening on http://%s (%d worker processes)", bind, workers
                ),
            }
            for key, value in options.items():
                if key in self.cfg.settings:
                    self.cfg.set(key, value)

        def load(self):
            from hub.http.health import request_counts

            request_counts.share(counts)  # /metrics counts the requests of every worker
            app = make_app()
            # The app, the policy and the imported modules live as long as the worker: moved
            # out of the collector's generations, a full collection no longer walks them
            # (it took tens of milliseconds, the tail of a request that happened to run it).
            gc.collect()
            gc.freeze()
            _chain_sigterm(app.extensions.get("hub.stopping", []))
            return app

    counts, master = tempfile.mkdtemp(prefix="mihub-web-requests-"), os.getpid()
    try:
        WebServer().run()
    finally:  # a worker leaves through here too (gunicorn forks inside run()): not its to remove
        if os.getpid() == master:
            shutil.rmtree(counts, ignore_errors=True)


def _chain_sigterm(stopping: list) -> None:
    """On SIGTERM, end the live streams first (else a graceful stop waits for them)."""
    previous = signal.getsignal(signal.SIGTERM)

    def _stop(signum, frame):
        for stop in stopping:
            stop()
        if callable(previous):
            previous(signum, frame)

    signal.signal(signal.SIGTERM, _stop)


def _serve_waitress(app, host: str, port: int, threads: int) -> None:
    from waitress import create_server

    server = create_server(
        app,
        host=host,
        port=port,
        threads=threads,
        ident="mihub",
        connection_limit=1000,
        channel_timeout=60,
        backlog=1024,
        clear_untrusted_proxy_headers=True,
    )

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
        try:
            server.trigger.pull_trigger(close_all)
        except OSError:  # its trigger is closed already: the loop has ended or is ending
            log.warning("the in-thread server's loop had closed its trigger before the stop")
        thread.join(timeout=5)


def run_worker(workers: int = 8) -> None:
    """Run the Huey consumer with low idle back-off (pages must go out within a second)."""
    from tasks.main import huey
    from tasks.pump import TimerPump
    from tasks.reconcile import reconcile
    from tasks.registry import enqueue_jobs
    from tasks.runtime import get_hub

    hub = get_hub()
    from hub.notifications.delivery import use_lanes
    from hub.notifications.throttle import share_limits

    # Rate limits counted with every other worker; a limited endpoint's rows sent in order
    # by its lane (hub/notifications/lanes.py).
    share_limits(hub.settings.queue_url, hub.settings.data_dir)
    use_lanes()
    # A thread whose SMTP server just answered 250 must get the GIL back quickly to journal
    # the acceptance (hub/notifications/sent_journal.py): a 1 ms switch interval instead of 5 ms narrows
    # the one window in which a killed worker can cause a duplicate.
    sys.setswitchinterval(0.001)
    reconcile.call_local()  # on start, before any task: replay journals, find lost work
    consumer = huey.create_consumer(
        workers=workers,
        worker_type="thread",
        periodic=True,
        initial_delay=0.01,
        backoff=1.15,
        max_delay=0.5,
        scheduler_interval=1,
        check_worker_health=True,
    )
    pump = TimerPump(hub, enqueue_jobs).start()  # timers: the database is the schedule
    try:
        consumer.run()
    finally:
        pump.stop()
