"""Storage: migrations match the models; times come back aware; policy reload keeps the last good."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from hub.app.db import Base, Database
from hub.app.models import Incident
from hub.incidents.search import search_structure


# SQLite's reflection leaves expression indexes out (ix_notifications_recipient_lower); Alembic
# then compares the plain ones, and PostgreSQL's run compares that one too.
@pytest.mark.filterwarnings("ignore:Skipped unsupported reflection of expression-based index")
@pytest.mark.filterwarnings("ignore:autogenerate skipping")
def test_migrations_match_models(backend):
    db = Database(backend["database_url"])
    with db.engine.connect() as conn:
        context = MigrationContext.configure(
            conn,  # the search index's tables and indexes are the database's own (0210)
            opts={"include_object": lambda obj, name, *_: not search_structure(name)},
        )
        diff = compare_metadata(context, Base.metadata)
    db.close()
    assert diff == [], f"models and migrations differ; add a migration: {diff}"


def test_outbox_payloads_are_compressed_with_lz4_where_postgresql_has_it(backend):
    if backend["name"] != "postgres":
        pytest.skip("a PostgreSQL column setting")
    from sqlalchemy import text

    db = Database(backend["database_url"])
    with db.engine.connect() as conn:
        methods = conn.scalar(
            text("SELECT enumvals FROM pg_settings WHERE name = 'default_toast_compression'")
        )
        method = conn.scalar(
            text(
                "SELECT attcompression FROM pg_attribute WHERE attrelid = 'notifications'::regclass"
                " AND attname = 'payload'"
            )
        )
    db.close()
    assert method == ("l" if "lz4" in (methods or []) else "")


def test_times_are_aware_utc(hub):
    when = datetime(2026, 3, 29, 1, 30, tzinfo=UTC)
    with hub.db.session() as session:
        session.add(
            Incident(title="t", state="open", severity="SEV4", created_at=when, updated_at=when)
        )
    with hub.db.session(write=False) as session:
        row = session.query(Incident).one()
        assert row.created_at == when and row.created_at.tzinfo is not None


def test_naive_times_are_refused(hub):
    with pytest.raises(Exception, match="naive datetime"), hub.db.session() as session:
        session.add(
            Incident(
                title="t",
                state="open",
                severity="SEV4",
                created_at=datetime(2026, 1, 1),
                updated_at=datetime(2026, 1, 1),
            )
        )
        session.flush()


def test_policy_reload_keeps_last_good(tmp_path, caplog):
    import os

    from hub.app.context import PolicyHolder
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


def test_service_reporters_migration_fills_from_stored_reports(tmp_path):
    """0007 fills `service_reporters` from the reports already stored: latest per pair."""
    from sqlalchemy import text

    from hub.app.migrate import upgrade

    url = f"sqlite:///{tmp_path / 'hub.db'}"
    upgrade(url, "0006")
    db = Database(url)
    rows = [
        ("Chloe", "|payroll|vpn|", "2026-03-01 10:00:00"),
        ("chloe", "|payroll|", "2026-03-01 11:00:00"),  # later, other case: one reporter
        ("ben", "|vpn|", "2026-03-01 09:00:00"),
        (None, "|vpn|", "2026-03-01 12:00:00"),  # no reporter: not counted
        ("ada", "", "2026-03-01 12:00:00"),
    ]  # no service: nothing to count
    with db.engine.begin() as conn:
        for reporter, tags, at in rows:
            conn.execute(
                text(
                    "INSERT INTO reports (source, reporter, title, text, services, "
                    "service_tags, at) VALUES ('api', :r, 't', '', '[]', :tags, :at)"
                ),
                {"r": reporter, "tags": tags, "at": at},
            )
    db.close()
    upgrade(url)
    db = Database(url)
    with db.engine.connect() as conn:
        got = conn.execute(
            text(
                "SELECT service, reporter, last_at FROM service_reporters "
                "ORDER BY service, reporter"
            )
        ).all()
    db.close()
    assert [(s, r, str(at)[:19]) for s, r, at in got] == [
        ("payroll", "chloe", "2026-03-01 11:00:00"),
        ("vpn", "ben", "2026-03-01 09:00:00"),
        ("vpn", "chloe", "2026-03-01 10:00:00"),
    ]


def test_note_reporters_keeps_the_latest_time_by_person(hub):
    """A report stored with an earlier time (a slow email) does not move a reporter back; an
    address of someone in the roster is kept as that person, so the count finds them once."""
    from datetime import timedelta

    from sqlalchemy import select

    from hub.app.models import ServiceReporter
    from hub.incidents.reports import note_reporters, reporter_count

    person = next(p for p in hub.policy.people.values() if p.email)
    t0 = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)
    with hub.db.session() as session:
        note_reporters(session, hub.policy, ("vpn", "payroll"), "Chloe", t0)
        note_reporters(session, hub.policy, ("vpn",), "chloe", t0 - timedelta(minutes=5))
        note_reporters(
            session, hub.policy, ("payroll", "payroll"), "ben", t0 + timedelta(minutes=1)
        )
        note_reporters(session, hub.policy, ("vpn",), person.email.upper(), t0)
        note_reporters(session, hub.policy, ("vpn",), person.key, t0 + timedelta(minutes=1))
    with hub.db.session(write=False) as session:
        rows = session.execute(
            select(
                ServiceReporter.service, ServiceReporter.reporter, ServiceReporter.last_at
            ).order_by(ServiceReporter.service, ServiceReporter.reporter)
        ).all()
        assert [tuple(r) for r in rows] == sorted(
            [
                ("payroll", "ben", t0 + timedelta(minutes=1)),
                ("payroll", "chloe", t0),
                ("vpn", "chloe", t0),
                ("vpn", person.key.lower(), t0 + timedelta(minutes=1)),
            ]
        )
        count = reporter_count(session, t0 + timedelta(minutes=2))
        hour = timedelta(hours=1)
        assert count("dave", ("vpn",), hour) == 3  # chloe, the person, dave
        assert count("chloe", ("vpn",), hour) == 2  # chloe once
        assert count(person.key, ("vpn", "payroll"), hour) == 3  # ben, chloe, the person
        assert count("dave", ("vpn",), timedelta(minutes=1, seconds=30)) == 2  # the person, dave
        assert count("dave", (), hour) == 1  # no services: never counted with others
        # outside every window: nobody else any more
        later = reporter_count(session, t0 + timedelta(days=2))
        assert later("dave", ("vpn", "payroll"), hour) == 1


def test_a_new_incident_is_written_once_and_fully_loaded(hub):
    """The create path INSERTs with Core and hands the rows to the session as loaded: nothing
    more is written at commit, and every column reads back after the session is gone."""
    from sqlalchemy import event, inspect

    from hub.core.classify import Report
    from hub.incidents import records
    from hub.incidents.reports import create_incident

    statements: list[str] = []
    listen = lambda *a: statements.append(a[2].split()[0])  # noqa: E731
    commit = lambda *a: statements.append("<commit>")  # noqa: E731
    event.listen(hub.db.engine, "before_cursor_execute", listen)
    event.listen(hub.db.engine, "commit", commit)
    try:
        now = datetime.now(UTC)
        report = Report(
            "Payroll is down",
            services=("payroll",),
            impact="outage",
            reporter="chloe",
            source="api",
        )
        with hub.transaction() as session:
            incident, created = create_incident(session, hub.policy, report, actor="chloe", now=now)
            assert created and incident.major and incident in session
            assert [t.kind for t in incident.timers] == ["mobilise"]
            assert incident.timers[0].incident is incident
            session.flush()
            written = list(statements)
            assert not session.dirty and not session.new
        # (a test hub mobilises at once after the commit, as an idle worker would)
        assert "UPDATE" not in written and statements[len(written)] == "<commit>"
        assert written[-5:] == ["INSERT"] * 5  # reporter, incident, report, timeline, timer
    finally:
        event.remove(hub.db.engine, "before_cursor_execute", listen)
        event.remove(hub.db.engine, "commit", commit)
    state = inspect(incident)
    assert state.detached and not state.expired_attributes
    assert incident.description == "" and incident.plan == {} and incident.summary is None
    assert incident.created_at == now and incident.ref.startswith("INC-")
    with hub.db.session(write=False) as session:
        again = records.get_incident(session, incident.ref)
        assert (again.state, again.severity, again.declared_at) == (
            incident.state,
            incident.severity,
            now,
        )
        assert [e.kind for e in again.timeline][:3] == ["reported", "classified", "state"]
        assert [r.reporter for r in again.reports] == ["chloe"]
