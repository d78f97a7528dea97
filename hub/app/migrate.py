"""Database migrations with Alembic (`mihub db upgrade`; `mihub run` migrates on start)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

from hub.app.db import make_engine

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def alembic_config(url: str) -> Config:
    """An Alembic config for the hub's migrations and this database URL."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(url: str, revision: str = "head") -> None:
    """Bring the database to `revision` (creates it if new)."""
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            connection = connection.execution_options(hub_write=True)  # SQLite: BEGIN IMMEDIATE
            connection.begin()
            if connection.dialect.name == "postgresql":
                # Several web and worker processes may start at once: one migrates, the rest wait.
                connection.exec_driver_sql("SELECT pg_advisory_xact_lock(7243001)")
            cfg = alembic_config(url)
            cfg.attributes["connection"] = connection
            command.upgrade(cfg, revision)
            connection.commit()
    finally:
        engine.dispose()


def current_revision(url: str) -> str | None:
    """The revision the database is at (None if never migrated)."""
    from alembic.runtime.migration import MigrationContext

    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()
    finally:
        engine.dispose()
