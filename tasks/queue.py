"""The one Huey instance, made from HUB_QUEUE_URL (SqliteHuey by default, RedisHuey for redis://)."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from huey import Huey, MemoryHuey, RedisHuey, SqliteHuey
from huey.storage import SqliteStorage

from hub.app.settings import load_settings


class _SqliteStorage(SqliteStorage):
    """Huey's SQLite storage with synchronous=NORMAL, as the hub's database: no fsync per
    enqueue. Huey's messages are only wake-ups; the timers and the outbox in the database
    are the record, and a wake-up lost with the machine's power is found by the timer pump."""

    def _create_connection(self):
        conn = super()._create_connection()
        conn.execute("pragma synchronous=NORMAL")
        return conn


def make_huey(url: str) -> Huey:
    """A Huey for the URL: `sqlite:///path`, `redis://host:port/db[?name=x]`, `memory://`."""
    parts = urlsplit(url)
    name = parse_qs(parts.query).get("name", ["mihub"])[0]
    if parts.scheme == "sqlite":
        path = url.split("///", 1)[1].split("?", 1)[0]
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        return SqliteHuey(
            name=name, filename=path, results=False, timeout=30, storage_class=_SqliteStorage
        )
    if parts.scheme in ("redis", "rediss"):
        base = url.split("?", 1)[0]
        # Huey's blocking read waits 1 s; a Redis that stops answering fails a call after 5 s
        # instead of never (the web does not wait even that long: tasks/handoff.py).
        from redis import ConnectionPool

        pool = ConnectionPool.from_url(
            base, socket_connect_timeout=2, socket_timeout=5, health_check_interval=30
        )
        return RedisHuey(name=name, connection_pool=pool, results=False)
    if parts.scheme == "memory":
        return MemoryHuey(name=name, results=False)
    raise ValueError(
        f"HUB_QUEUE_URL: unsupported scheme {parts.scheme!r} "
        "(use sqlite:///path or redis://host:6379/0)"
    )


huey = make_huey(load_settings().queue_url)
