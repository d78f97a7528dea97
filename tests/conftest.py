"""Fixtures: a hub on each backend (embedded SQLite, and PostgreSQL + Redis when reachable)."""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE_POLICY = ROOT / "policy.yaml"

# The queue and data dir are chosen at import time by tasks.queue: never the developer's ./var.
_TMP = Path(tempfile.mkdtemp(prefix="mihub-test-"))
os.environ.setdefault("HUB_DATA_DIR", str(_TMP / "var"))
os.environ.setdefault("HUB_QUEUE_URL", "memory://")
os.environ.setdefault("HUB_POLICY", str(EXAMPLE_POLICY))
# Each `mihub web` the suite starts runs two server processes (still more than one, as in
# production) rather than the default two per CPU: every process costs a second of CPU to
# start, and the suite starts over a hundred. Tests of the count itself set their own.
os.environ.setdefault("HUB_WEB_WORKERS", "2")

PG_URL = os.environ.get(
    "HUB_TEST_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
REDIS_URL = os.environ.get("HUB_TEST_QUEUE_URL", "redis://127.0.0.1:6379/15")
SCHEMA = f"mihub_test_{os.getpid()}"


def _reachable(url: str, default_port: int) -> str | None:
    from urllib.parse import urlsplit

    parts = urlsplit(url.replace("+psycopg", ""))
    try:
        socket.create_connection((parts.hostname, parts.port or default_port), 1).close()
        return None
    except OSError as exc:
        return f"{parts.hostname}:{parts.port or default_port} ({exc.strerror or exc})"


_SCALEOUT_MISSING = None
if os.environ.get("HUB_TEST_SCALEOUT", "auto") == "off":
    _SCALEOUT_MISSING = "HUB_TEST_SCALEOUT=off"
else:
    for what, url, port in (("PostgreSQL", PG_URL, 5432), ("Redis", REDIS_URL, 6379)):
        problem = _reachable(url, port)
        if problem:
            _SCALEOUT_MISSING = f"{what} not reachable at {problem}"
            break


def pytest_collection_modifyitems(config, items):
    """The browser modules go first (one worker takes them all, one after the other: see
    pytest_xdist_make_scheduler), then the modules that start real processes (`e2e`), so that
    the slowest work does not start last and leave the other workers idle (the order inside a
    module is kept)."""
    browser = {item.module.__name__ for item in items if item.get_closest_marker("browser")}
    slow = {item.module.__name__ for item in items if item.get_closest_marker("e2e")}
    items.sort(
        key=lambda item: (
            0 if item.module.__name__ in browser else 1 + (item.module.__name__ not in slow)
        )
    )


def pytest_xdist_make_scheduler(config, log):
    """`--dist loadgroup` (scripts/test): a module's tests stay on one worker (its module
    fixtures are set up once; the browser tests walk one incident through in order), unless the
    module is marked `spread`: its tests are independent and each may go to any worker; the
    browser modules are one group. Work is handed out in collection order (the browser group,
    then the `e2e` modules, first). pytest-xdist's own loadgroup reads `xdist_group` marks
    through a node id suffix that pytest 9.2 no longer carries, so the grouping is decided
    here, from the node ids."""
    if config.getvalue("dist") != "loadgroup":
        return None
    from xdist.scheduler import LoadScopeScheduling

    marks: dict[str, str] = {}

    def marked(path: str) -> str:
        if path not in marks:
            try:
                text = (Path(str(config.rootpath)) / path).read_text(encoding="utf-8")
            except OSError:
                text = ""
            marks[path] = text
        return marks[path]

    class ByModule(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            path = nodeid.split("::", 1)[0]
            text = marked(path)
            if "pytest.mark.browser" in text:
                # one group: a Chromium at a time (four at once, beside the rest, took the
                # machine to a load of 50 and every test on it slowed down)
                return "browser"
            return nodeid if "pytest.mark.spread" in text else path

    config.option.loadscopereorder = False  # keep the collection order (slow modules first)
    return ByModule(config, log)


def pytest_report_header(config):
    if _SCALEOUT_MISSING:
        return [
            f"scale-out part SKIPPED: {_SCALEOUT_MISSING}. Start PostgreSQL and Redis "
            "(or set HUB_TEST_DATABASE_URL / HUB_TEST_QUEUE_URL) to run it."
        ]
    return [f"scale-out part: PostgreSQL {PG_URL} (schema {SCHEMA}), Redis {REDIS_URL}"]


def pytest_terminal_summary(terminalreporter):
    if _SCALEOUT_MISSING:
        terminalreporter.write_line(
            f"NOTE: the scale-out (PostgreSQL + Redis) tests were skipped: {_SCALEOUT_MISSING}.",
            yellow=True,
        )


def pg_schema_url(schema: str = SCHEMA) -> str:
    """The PostgreSQL URL with search_path pinned to this run's schema."""
    sep = "&" if "?" in PG_URL else "?"
    return f"{PG_URL}{sep}options=-csearch_path%3D{schema}"


def _reset_pg_schema(schema: str = SCHEMA) -> None:
    from sqlalchemy import create_engine, text

    engine = create_engine(PG_URL)
    with engine.begin() as conn:
        conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    engine.dispose()


@pytest.fixture(scope="session")
def example_policy():
    from hub.policy.load import load_policy

    return load_policy(EXAMPLE_POLICY, env={})


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request, tmp_path):
    """A migrated, empty database: {'database_url', 'queue_url', 'data_dir'}."""
    from hub.app.migrate import upgrade

    data_dir = tmp_path / "var"
    data_dir.mkdir()
    if request.param == "sqlite":
        # Migrating costs far more than a test; copy a database migrated once per run.
        global _SQLITE_TEMPLATE
        if _SQLITE_TEMPLATE is None:
            _SQLITE_TEMPLATE = _TMP / "template.db"
            upgrade(f"sqlite:///{_SQLITE_TEMPLATE}")
        shutil.copyfile(_SQLITE_TEMPLATE, data_dir / "hub.db")
        return {
            "name": "sqlite",
            "database_url": f"sqlite:///{data_dir / 'hub.db'}",
            "queue_url": f"sqlite:///{data_dir / 'queue.db'}",
            "data_dir": data_dir,
        }
    if _SCALEOUT_MISSING:
        if os.environ.get("HUB_TEST_SCALEOUT") == "required":
            pytest.fail(f"scale-out part required but {_SCALEOUT_MISSING}")
        pytest.skip(f"scale-out part: {_SCALEOUT_MISSING}")
    global _PG_MIGRATED
    if not _PG_MIGRATED:
        _reset_pg_schema()
        upgrade(pg_schema_url())
        _PG_MIGRATED = True
    else:
        _truncate_pg()
    name = f"mihub-test-{uuid.uuid4().hex[:8]}"
    _QUEUE_NAMES.add(name)
    return {
        "name": "postgres",
        "database_url": pg_schema_url(),
        "queue_url": f"{REDIS_URL}?name={name}",
        "data_dir": data_dir,
    }


_SQLITE_TEMPLATE: Path | None = None
_PG_MIGRATED = False
_QUEUE_NAMES: set[str] = set()  # Redis queues this process named; their keys go at the end


def pytest_sessionfinish(session):
    """Leave nothing behind: this process's PostgreSQL schema and its Huey keys in Redis."""
    if _PG_MIGRATED:
        from sqlalchemy import create_engine, text

        engine = create_engine(PG_URL)
        try:
            with engine.begin() as conn:
                conn.execute(text("SET lock_timeout = '10s'"))
                conn.execute(text(f'DROP SCHEMA IF EXISTS "{SCHEMA}" CASCADE'))
        except Exception as exc:  # a connection still open elsewhere: say so, do not fail
            print(f"\nNOTE: schema {SCHEMA} was not dropped: {exc}")
        finally:
            engine.dispose()
    if _QUEUE_NAMES:
        import redis

        client = redis.Redis.from_url(REDIS_URL)
        try:
            for name in _QUEUE_NAMES:
                keys = list(client.scan_iter(f"huey.*.{name.replace('-', '')}"))
                if keys:
                    client.delete(*keys)
        finally:
            client.close()


def _truncate_pg(schema: str = SCHEMA) -> None:
    """Empty every table of the run's schema (migrated once), resetting the id sequences."""
    from sqlalchemy import create_engine, text

    engine = create_engine(PG_URL)
    with engine.begin() as conn:
        tables = (
            conn.execute(
                text(
                    "SELECT tablename FROM pg_tables WHERE schemaname = :s AND tablename <> "
                    "'alembic_version'"
                ),
                {"s": schema},
            )
            .scalars()
            .all()
        )
        if tables:
            names = ", ".join(f'"{schema}"."{t}"' for t in tables)
            conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    engine.dispose()


def record_wakeups(the_hub) -> None:
    """Record every wake-up in `the_hub.enqueued` instead of queueing it, except that a
    declaration's mobilisation runs at once, as an idle worker would run it right after the
    commit (hub.incidents.staffing.schedule_mobilisation): tests then see roles, pages and timers."""
    the_hub.enqueued = []

    def enqueue(jobs):
        the_hub.enqueued.extend(jobs)
        for name, ident in jobs:
            if name == "fire_timer":
                mobilise_now(the_hub, ident)

    the_hub.enqueue = enqueue


def mobilise_now(the_hub, timer_id: int) -> None:
    """Fire a pending `mobilise` timer at its due time (the moment of the declaration)."""
    from hub.app.models import Timer
    from hub.incidents.firing import fire_timer_now

    with the_hub.db.session(write=False) as session:
        timer = session.get(Timer, timer_id)
        due = timer.due_at if timer is not None and timer.kind == "mobilise" else None
    if due is not None:
        fire_timer_now(the_hub, timer_id, due)


def build_hub(backend, policy, **overrides):
    """A Hub on a `backend` with `policy` (settings: the backend's URLs, the example policy
    file, then `overrides`); its wake-ups are recorded, not queued."""
    from hub.app.context import Hub
    from hub.app.settings import load_settings

    settings = load_settings(
        overrides={
            "HUB_DATA_DIR": str(backend["data_dir"]),
            "HUB_DATABASE_URL": backend["database_url"],
            "HUB_QUEUE_URL": backend["queue_url"],
            "HUB_POLICY": str(EXAMPLE_POLICY),
            **overrides,
        }
    )
    the_hub = Hub(settings, policy=policy)
    record_wakeups(the_hub)
    return the_hub


@pytest.fixture
def hub(backend, example_policy):
    the_hub = build_hub(backend, example_policy)
    yield the_hub
    the_hub.db.dispose()


@pytest.fixture
def wired(hub, monkeypatch, example_policy):
    """The test hub with Teams webhooks in its policy and stub renderers."""
    from workflow_kit import make_wired

    return make_wired(hub, monkeypatch, example_policy)


@pytest.fixture
def no_internet():
    """Sockets connect to loopback only; a module asks for it with
    `pytestmark = pytest.mark.usefixtures("no_internet")`."""
    from hub.testing.fakes.base import loopback_only

    with loopback_only():
        yield


@pytest.fixture
def app(hub):
    from hub import create_app

    return create_app({"TESTING": True}, hub=hub)


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def make_token(hub):
    """make_token(person) -> a live API token for that person."""
    from hub.http.auth import create_token

    def make(person: str) -> str:
        with hub.db.session() as session:
            return create_token(session, hub.policy, person, "test")

    return make


@pytest.fixture
def api_caller(make_token):
    """api_caller(client) -> call(method, path, person="anna", json=None) -> (status, JSON),
    as `person` with a token of their own."""

    def for_client(client):
        tokens: dict[str, str] = {}

        def call(method, path, person="anna", json=None):
            if person not in tokens:
                tokens[person] = make_token(person)
            headers = {"Authorization": f"Bearer {tokens[person]}"}
            r = client.open(path, method=method, json=json, headers=headers)
            return r.status_code, r.get_json()

        return call

    return for_client


@pytest.fixture
def live_server(app):
    """The app behind the production WSGI server (waitress) on 127.0.0.1, in a thread."""
    from hub.runner import serving_in_thread

    with serving_in_thread(app) as url:
        yield url
