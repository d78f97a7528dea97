"""/healthz says why the hub cannot work; /readyz and /livez for orchestrators; /metrics' token."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import text

from hub import create_app
from hub.app.db import utcnow
from hub.app.models import Notification
from hub.http import readiness
from hub.testing.harness import free_port
from tests.conftest import build_hub


def _get(client, path, **kwargs):
    response = client.get(path, **kwargs)
    return response.status_code, response.get_json()


def _notification(session, n: int, **fields) -> None:
    session.add(
        Notification(
            key=f"health-test|{n}",
            channel="email",
            recipient="anna@example.com",
            template="page",
            **fields,
        )
    )


def test_all_well(client):
    status, doc = _get(client, "/healthz")
    assert status == 200, doc
    assert doc["status"] == "ok" and "reason" not in doc
    for name in ("database", "schema", "queue", "templates", "outbox", "publisher"):
        assert doc["checks"][name] == "ok", name
    assert _get(client, "/readyz")[0] == 200
    assert _get(client, "/livez") == (200, {"status": "ok"})


def test_templates_missing(client, monkeypatch, tmp_path):
    """What an install without its package data looked like: every notification failed."""
    monkeypatch.setattr(readiness.assets, "TEMPLATES", tmp_path)
    for path in ("/healthz", "/readyz"):
        status, doc = _get(client, path)
        assert status == 503 and doc["status"] == "error"
        assert doc["reason"].startswith(f"templates: error: templates missing under {tmp_path}")
    assert _get(client, "/livez")[0] == 200


def test_stuck_deliveries(client, hub):
    with hub.db.session() as session:
        _notification(session, 1, next_attempt_at=utcnow() - timedelta(minutes=6))
    status, doc = _get(client, "/healthz")
    assert status == 503
    assert doc["reason"] == (
        "outbox: error: 1 deliveries overdue by more than 5 minutes; is a worker running?"
    )
    assert _get(client, "/readyz")[0] == 200  # this web process can still serve


def test_failed_deliveries_beyond_the_limit(client, hub):
    with hub.db.session() as session:
        for n in range(readiness.FAILED_LIMIT - 1):
            _notification(session, n, status="failed", last_error="550 no such user")
    assert _get(client, "/healthz")[0] == 200  # a few failures: the room shows them
    with hub.db.session() as session:
        _notification(session, 99, status="failed", last_error="550 no such user")
    status, doc = _get(client, "/healthz")
    assert status == 503
    assert doc["checks"]["outbox"] == "error: 5 deliveries failed in the last 1 h (see /ops/outbox)"


def test_outbox_table_unusable(client, hub, backend):
    if backend["name"] != "sqlite":
        pytest.skip("dropping a table of the shared PostgreSQL schema would break other tests")
    with hub.db.session() as session:
        session.execute(text("DROP TABLE notifications"))
    status, doc = _get(client, "/healthz")
    assert status == 503
    assert doc["checks"]["outbox"].startswith("error: the outbox cannot be read: OperationalError")


def test_publisher_cannot_write(client, hub):
    (hub.settings.data_dir / "kb").write_text("a file where the knowledge base goes")
    status, doc = _get(client, "/healthz")
    assert status == 503
    assert doc["checks"]["publisher"].startswith(f"error: {hub.settings.data_dir / 'kb'} is not")


def test_schema_behind_the_code(client, hub):
    with hub.db.session() as session:
        head = session.execute(text("SELECT version_num FROM alembic_version")).scalar()
        session.execute(text("UPDATE alembic_version SET version_num = '0001'"))
    try:
        status, doc = _get(client, "/readyz")
        assert status == 503
        assert doc["checks"]["schema"] == (
            f"error: at revision 0001, the hub needs {head}: run mihub db upgrade"
        )
    finally:
        with hub.db.session() as session:
            session.execute(text("UPDATE alembic_version SET version_num = :v"), {"v": head})


def test_database_unreachable(example_policy, tmp_path):
    url = f"postgresql+psycopg://hub:pw-4711@127.0.0.1:{free_port()}/hub"
    backend = {"data_dir": tmp_path, "database_url": url, "queue_url": "memory://"}
    hub = build_hub(backend, example_policy)
    client = create_app({"TESTING": True}, hub=hub).test_client()
    status, doc = _get(client, "/readyz")
    assert status == 503 and doc["checks"]["database"].startswith("error: OperationalError")
    assert "pw-4711" not in str(doc)
    assert _get(client, "/healthz")[0] == 503
    assert _get(client, "/livez")[0] == 200
    hub.db.dispose()


def test_metrics_token(example_policy, backend):
    token = "metrics-token-0123456789"
    hub = build_hub(backend, example_policy, HUB_METRICS_TOKEN=token)
    client = create_app({"TESTING": True}, hub=hub).test_client()
    try:
        refused = client.get("/metrics")
        assert refused.status_code == 401
        assert refused.headers["WWW-Authenticate"].startswith("Bearer")
        assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
        scraped = client.get("/metrics", headers={"Authorization": f"Bearer {token}"})
        assert scraped.status_code == 200 and "mihub_incidents" in scraped.get_data(as_text=True)
    finally:
        hub.db.dispose()


def test_metrics_open_without_a_token(client):
    assert client.get("/metrics").status_code == 200


def test_schema_newer_than_the_code_is_ready(client, hub):
    """During an upgrade the old web servers keep serving after the workers migrated."""
    with hub.db.session() as session:
        head = session.execute(text("SELECT version_num FROM alembic_version")).scalar()
        session.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    try:
        status, doc = _get(client, "/readyz")
        assert status == 200
        assert doc["checks"]["schema"] == f"ok (at 9999, newer than this code's {head})"
    finally:
        with hub.db.session() as session:
            session.execute(text("UPDATE alembic_version SET version_num = :v"), {"v": head})
