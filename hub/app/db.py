"""Engine and sessions: SQLite (WAL) by default, PostgreSQL by URL."""

from __future__ import annotations

import errno
import logging
import os
import threading
from contextlib import contextmanager, nullcontext
from datetime import UTC, datetime
from pathlib import Path

try:
    import fcntl
except ImportError:  # Windows: threads of one process still queue; processes use busy_timeout
    fcntl = None

from sqlalchemy import DateTime, create_engine, event, insert, inspect
from sqlalchemy.engine import Engine
from sqlalchemy.orm import (
    DeclarativeBase,
    Session,
    make_transient_to_detached,
    object_session,
    sessionmaker,
)
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.types import TypeDecorator

from hub.app import dbwatch


class UTCDateTime(TypeDecorator):
    """Timezone-aware UTC datetimes on every backend (SQLite keeps no offset)."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the database; pass an aware UTC time")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value, dialect):
        return None if value is None else value.replace(tzinfo=UTC)


class Base(DeclarativeBase):
    pass


MAX_ID = 2**31 - 1  # the largest id a row can have (PostgreSQL's integer)


def row_id(text: str) -> int | None:
    """A row id from text: digits only and within the column's range, else None (a URL's
    `INC-99999999999999999999` is no incident, not an overflow in the database driver)."""
    text = str(text).strip()
    if not (text.isascii() and text.isdecimal()) or len(text) > 10 or int(text) > MAX_ID:
        return None
    return int(text)


def utcnow() -> datetime:
    """The current time, aware, in UTC."""
    return datetime.now(UTC)


def children(obj, name: str) -> list:
    """`obj`'s collection `name`, loaded without flushing its session first.

    A child is always added through the relationship (`parent.timers.append(t)`,
    `Child(parent=...)`): the session keeps such an addition with the collection and merges
    it into the collection when that is loaded, so the load need not see the session's
    pending rows, and the flush they would cost is left to the commit (the email worker
    otherwise flushed once per message, for the incident's timers or roles)."""
    if name in obj.__dict__:
        return getattr(obj, name)
    session = object_session(obj)
    if session is None:
        return getattr(obj, name)
    with session.no_autoflush:
        return getattr(obj, name)


def new_loaded(cls, **values):
    """A new, not yet inserted instance of a mapped class for `insert_loaded`, its column
    values set as if loaded (the declarative constructor fires an attribute event for every
    column). Columns only, foreign keys included: a relationship given here would not fill
    its foreign key; set it with `set_committed_value` after `insert_loaded`. Collections may
    be given empty, as known to be empty."""
    mapper = cls.__mapper__
    obj = mapper.class_manager.new_instance()
    for key, value in values.items():
        if key in mapper.relationships:
            if value:
                raise ValueError(f"new_loaded({cls.__name__}): give {key} empty or not at all")
            set_committed_value(obj, key, value)
        elif key in mapper.columns:
            obj.__dict__[key] = value
        else:
            raise TypeError(f"new_loaded({cls.__name__}): no column {key!r}")
    return obj


def insert_loaded(session: Session, *objects) -> None:
    """INSERT new objects' rows with Core, then give them to the session as if loaded.

    For hot paths that create rows the same transaction may still act on (a new incident):
    the ORM's unit of work costs several times a plain INSERT. Each object's columns are
    completed with their defaults first, so nothing is left to load later. One object per
    table and call, each with its foreign keys set (a child needs its parent's id: insert the
    parent first, in its own call); objects made with `new_loaded`, whose collections are
    empty, so the session has nothing of theirs to insert again.
    """
    connection = session.connection()
    for obj in objects:
        state = inspect(obj)
        table = state.mapper.local_table
        given = state.dict  # the instance's own values: history is reset below anyway
        values = {}
        for column in table.columns:
            if column.key in given:
                values[column.key] = given[column.key]
            elif column.primary_key:
                continue  # the database assigns it
            elif column.default is None:
                values[column.key] = given[column.key] = None
            elif column.default.is_callable:
                values[column.key] = given[column.key] = column.default.arg(None)
            else:
                values[column.key] = given[column.key] = column.default.arg
        if table not in _INSERTS:
            _INSERTS[table] = insert(table)
        result = connection.execute(_INSERTS[table], values)
        for column, value in zip(
            table.primary_key.columns, result.inserted_primary_key, strict=True
        ):
            given[column.key] = value
    for obj in objects:
        make_transient_to_detached(obj)
    for obj in objects:
        session.add(obj)


_INSERTS: dict = {}  # by table


def _lock_path(url: str) -> Path | None:
    """`<database file>.writer-lock` beside a file database; None for an in-memory one."""
    path = url.split("///", 1)[-1] if "///" in url else ""
    if not path or path == ":memory:" or path.startswith("file:"):
        return None
    return Path(path + ".writer-lock")


def _event_of(key: str | None) -> str | None:
    return key.rsplit("|", 2)[0] if key else key


def make_engine(url: str) -> Engine:
    """An engine for the URL; SQLite gets WAL, a busy timeout and foreign keys."""
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):
            # Python's sqlite3 opens transactions lazily; take the write lock at BEGIN instead,
            # so concurrent writers queue on busy_timeout rather than failing with "locked".
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()
            # The event of an outbox key (`event|recipient|channel`), for summaries counted in
            # SQL (hub.notifications.delivery_report); PostgreSQL uses regexp_replace.
            dbapi_conn.create_function("hub_event_of", 1, _event_of, deterministic=True)

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn):
            # Writers take the lock at BEGIN so they queue on busy_timeout; a deferred
            # transaction that reads first and writes later can fail with "locked" instead.
            if conn.get_execution_options().get("hub_statement_reads"):
                return  # Database.reading(): each statement is its own read transaction
            mode = "IMMEDIATE" if conn.get_execution_options().get("hub_write") else "DEFERRED"
            conn.exec_driver_sql(f"BEGIN {mode}")

        return engine
    engine = create_engine(
        url,
        pool_size=20,
        max_overflow=20,
        pool_pre_ping=True,
        pool_timeout=5,  # all connections busy for 5 s: answer 503 rather than queue on
        # a URL's own connect_timeout wins
        connect_args={} if "connect_timeout" in url else {"connect_timeout": CONNECT_TIMEOUT},
    )
    dbwatch.watch(engine, STATEMENT_TIMEOUT)
    return engine


CONNECT_TIMEOUT = 5  # seconds to establish a PostgreSQL connection
# Seconds a statement may wait for an answer before its connection is dropped (hub/app/dbwatch.py).
STATEMENT_TIMEOUT = 30.0


log = logging.getLogger("hub.db")


class WriterLock:
    """One SQLite writer at a time: this process's threads queue on a lock, processes on flock(2).

    Left to SQLite's busy handler, a waiting writer sleeps in steps of up to 100 ms and
    throughput collapses as soon as two processes write (web workers, the queue worker, the
    SMTP intake). flock(2) wakes the next writer as soon as the lock is let go, and the kernel
    drops it if its holder dies. The lock file is opened once per process: a descriptor
    inherited across fork() shares its lock with the parent.
    """

    def __init__(self, path: Path | None):
        self._threads = threading.Lock()
        self._path = path
        self._fd: int | None = None
        self._pid = 0

    def _file(self) -> int | None:
        if self._path is None or fcntl is None:
            return None
        if self._pid != os.getpid():
            self._pid, self._fd = os.getpid(), None  # an inherited descriptor shares the lock
            try:  # read-only is enough for flock; readable by whoever can read the database
                self._fd = os.open(self._path, os.O_RDONLY | os.O_CREAT, 0o644)
                fcntl.flock(self._fd, fcntl.LOCK_SH | fcntl.LOCK_NB)  # can this filesystem lock?
                fcntl.flock(self._fd, fcntl.LOCK_UN)
            except OSError as exc:
                if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN):
                    log.warning(
                        "cannot use the writer lock %s (%s); writers of several "
                        "processes will wait on SQLite's busy timeout instead",
                        self._path,
                        exc,
                    )
                    if self._fd is not None:
                        os.close(self._fd)
                    self._fd = None
        return self._fd

    def close(self) -> None:
        """Let go of this process's lock file descriptor (Database.dispose)."""
        if self._fd is not None and self._pid == os.getpid():
            os.close(self._fd)
        self._fd, self._pid = None, 0

    def __enter__(self):
        self._threads.acquire()
        try:
            fd = self._file()
            if fd is not None:
                fcntl.flock(fd, fcntl.LOCK_EX)
        except BaseException:
            self._threads.release()
            raise
        return self

    def __exit__(self, *exc):
        try:
            if self._fd is not None and self._pid == os.getpid():
                fcntl.flock(self._fd, fcntl.LOCK_UN)
        finally:
            self._threads.release()


class Database:
    """One engine and session factory per process."""

    def __init__(self, url: str):
        self.url = url
        self.engine = make_engine(url)
        self.sessionmaker = sessionmaker(self.engine, expire_on_commit=False)
        # SQLite has one writer at a time: writers queue on a lock rather than on SQLite's
        # sleeping busy handler (WriterLock says why).
        self._write_lock = WriterLock(_lock_path(url)) if self.is_sqlite else None

    @contextmanager
    def session(self, write: bool = True):
        """A session in one transaction: committed on success, rolled back on error."""
        guard = self._write_lock if (write and self._write_lock) else nullcontext()
        with guard, self.sessionmaker() as session, session.begin():
            session.connection(execution_options={"hub_write": write})
            yield session

    @contextmanager
    def writing(self):
        """A plain connection in one write transaction, without an ORM session, committed on
        success: for a hot path whose whole work is an INSERT (an alert notification kept)."""
        guard = self._write_lock or nullcontext()
        with guard, self.engine.connect() as connection:
            connection.execution_options(hub_write=True)
            with connection.begin():
                yield connection

    @contextmanager
    def reading(self):
        """A plain connection for a few independent reads, without an ORM session (the API's
        hot path: the token lookup, the classification's query). Each statement reads in a
        transaction of its own, with no BEGIN and COMMIT around them: on PostgreSQL that
        saves two round trips per use, and psycopg keeps its prepared statements, which it
        drops at every ROLLBACK (the pool's reset of a read-only transaction)."""
        with self.engine.connect() as connection:
            if self.is_sqlite:
                yield connection.execution_options(hub_statement_reads=True)
            else:
                yield connection.execution_options(isolation_level="AUTOCOMMIT")

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    def dispose(self) -> None:
        self.engine.dispose()
        if self._write_lock is not None:
            self._write_lock.close()

    def close(self) -> None:
        """Dispose of the engine for good: its statement watchdog's thread ends too (after
        `dispose` the engine may still be used, e.g. by a forked process)."""
        self.dispose()
        dbwatch.unwatch(self.engine)
