"""Storage: migrations match the models; times come back aware; policy reload keeps the last good."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from hub.db import Base, Database
from hub.models import Incident


def test_migrations_match_models(backend):
    db = Database(backend["database_url"])
    with db.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    db.dispose()
    assert diff == [], f"models and migrations differ; add a migration: {diff}"


def test_times_are_aware_utc(hub):
    when = datetime(2026, 3, 29, 1, 30, tzinfo=UTC)
    with hub.db.session() as session:
        session.add(Incident(title="t", state="open", severity="SEV4", created_at=when,
                             updated_at=when))
    with hub.db.session(write=False) as session:
        row = session.query(Incident).one()
        assert row.created_at == when and row.created_at.tzinfo is not None


def test_naive_times_are_refused(hub):
    with pytest.raises(Exception, match="naive datetime"), hub.db.session() as session:
        session.add(Incident(title="t", state="open", severity="SEV4",
                             created_at=datetime(2026, 1, 1), updated_at=datetime(2026, 1, 1)))
        session.flush()


def test_policy_reload_keeps_last_good(tmp_path, caplog):
    import os

    from hub.context import PolicyHolder
    from tests.conftest import EXAMPLE_POLICY

    path = tmp_path / "policy.yaml"
    good = EXAMPLE_POLICY.read_text()
    path.write_text(good)
    holder = PolicyHolder(path, check_every=0)
    first = holder.current
    path.write_text(good.replace("default_severity:", "default_severity_typo:"))
    os.utime(path, (1, 1))
    assert holder.current is first  # bad edit: the last good policy stays
    assert holder.last_error and "default_severity" in holder.last_error
    path.write_text(good.replace("Europe/Berlin", "Europe/Paris", 1))
    os.utime(path, (2, 2))
    assert holder.current.timezone == "Europe/Paris"
    assert holder.last_error is None
