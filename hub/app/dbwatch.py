"""A client-side statement timeout: a database that stops answering fails fast, not never.

The server's `statement_timeout` ends slow queries on a server that is up; it does nothing
when the network or the server hangs, and then libpq waits forever: every request and the
health check with it. The watchdog notes each statement's deadline before it runs and, when
one passes, shuts the connection's socket down under it: the waiting driver call fails at
once with "connection lost", SQLAlchemy discards that connection, and the request answers 503
(hub/http/error_handler.py). The liveness ping of pooled connections is guarded the same way.

PostgreSQL only (psycopg exposes the socket); SQLite is a local file with its busy timeout.
A statement may ask for a shorter limit: `.execution_options(hub_timeout=seconds)`.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
import time
import weakref

from sqlalchemy import event
from sqlalchemy.engine import Engine

log = logging.getLogger("hub.db")


class Watchdog:
    """One daemon thread per engine; `arm` before a statement, `disarm` after it."""

    def __init__(self, timeout: float, tick: float = 0.25):
        self.timeout, self.tick = timeout, tick
        self._armed: dict[int, tuple[float, int]] = {}  # id(dbapi conn) -> (deadline, fd)
        self._lock = threading.Lock()
        self.fired = 0
        self._stopped = threading.Event()
        threading.Thread(target=self._run, name="db-watchdog", daemon=True).start()

    def stop(self) -> None:
        """End the thread (its engine is closed for good)."""
        self._stopped.set()

    def arm(self, dbapi_conn, timeout: float | None = None) -> None:
        fd = _socket_fd(dbapi_conn)
        if fd is not None:
            deadline = time.monotonic() + (timeout or self.timeout)
            with self._lock:
                self._armed[id(dbapi_conn)] = (deadline, fd)

    def disarm(self, dbapi_conn) -> None:
        with self._lock:
            self._armed.pop(id(dbapi_conn), None)

    def _run(self) -> None:
        while not self._stopped.wait(self.tick):
            now = time.monotonic()
            with self._lock:
                late = [(k, fd) for k, (deadline, fd) in self._armed.items() if deadline < now]
                for k, _ in late:
                    del self._armed[k]
            for _, fd in late:
                self.fired += 1
                log.error("a database statement got no answer in time; dropping its connection")
                _shutdown(fd)


def _socket_fd(dbapi_conn) -> int | None:
    with contextlib.suppress(Exception):
        return dbapi_conn.pgconn.socket  # psycopg 3
    return None


def _shutdown(fd: int) -> None:
    """Shut the socket down under its owner (who keeps and later closes its own fd)."""
    with contextlib.suppress(OSError):
        dup = socket.socket(fileno=os.dup(fd))
        try:
            dup.shutdown(socket.SHUT_RDWR)
        finally:
            dup.close()


_dogs: weakref.WeakKeyDictionary[Engine, Watchdog] = weakref.WeakKeyDictionary()


def unwatch(engine: Engine) -> None:
    """Stop `engine`'s watchdog thread, if it has one (the engine is not used again)."""
    dog = _dogs.pop(engine, None)
    if dog is not None:
        dog.stop()


def watch(engine: Engine, timeout: float) -> Watchdog:
    """Guard every statement and every pre-ping of `engine` with a `timeout` in seconds."""
    dog = Watchdog(timeout)
    _dogs[engine] = dog

    @event.listens_for(engine, "before_cursor_execute")
    def _arm(conn, cursor, statement, parameters, context, executemany):
        options = context.execution_options if context is not None else conn.get_execution_options()
        dog.arm(conn.connection.dbapi_connection, options.get("hub_timeout"))

    @event.listens_for(engine, "after_cursor_execute")
    def _disarm(conn, cursor, statement, parameters, context, executemany):
        dog.disarm(conn.connection.dbapi_connection)

    @event.listens_for(engine, "handle_error")
    def _failed(ctx):
        if ctx.connection is not None and ctx.connection.connection.dbapi_connection is not None:
            dog.disarm(ctx.connection.connection.dbapi_connection)

    ping = engine.dialect.do_ping

    def guarded_ping(dbapi_conn) -> bool:
        dog.arm(dbapi_conn, min(dog.timeout, 5.0))
        try:
            return ping(dbapi_conn)
        finally:
            dog.disarm(dbapi_conn)

    engine.dialect.do_ping = guarded_ping  # type: ignore[method-assign]
    return dog
