"""The audit log, on each backend: each listed change leaves one record (actor, time, source
address, before and after), administrators read it over the API (others get 403), and
`mihub audit export` (a real process) round-trips it as CSV and JSON lines."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import subprocess
import time
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select, update

from hub.app import audit
from hub.app.context import Hub
from hub.app.db import utcnow
from hub.app.models import ActionItem, AuditRecord, EmailSuppression, Notification, Review
from hub.http.auth import create_token, revoke_token
from hub.notifications.notify import materialize
from hub.notifications.suppression import lift
from hub.testing.harness import MIHUB
from tests.email_corpus import mail, raw
from tests.email_kit import make_hub
from tests.web_kit import CSRF


@pytest.fixture
def ahub(backend, example_policy):
    hub = make_hub(backend, example_policy)
    yield hub
    hub.db.dispose()


@pytest.fixture
def client(ahub):
    from hub import create_app

    return create_app({"TESTING": True}, hub=ahub).test_client()


def counts(hub) -> dict[str, int]:
    with hub.db.session(write=False) as session:
        rows = session.execute(
            select(AuditRecord.action, func.count()).group_by(AuditRecord.action)
        )
        return dict(rows.all())


def last(hub, action: str) -> AuditRecord:
    with hub.db.session(write=False) as session:
        return session.scalars(
            select(AuditRecord).where(AuditRecord.action == action).order_by(AuditRecord.id.desc())
        ).first()


def test_each_change_leaves_one_record(ahub, client, backend, tmp_path):
    hub, seen = ahub, {}

    def changed(action, n=1):
        now = counts(hub)
        assert now.get(action, 0) - seen.get(action, 0) == n, (action, now, seen)
        assert sum(now.values()) - sum(seen.values()) == n, (action, now, seen)  # nothing else
        seen.clear()
        seen.update(now)

    # tokens created and revoked (as `mihub token` does, with its actor)
    with hub.db.session() as session:
        anna = create_token(session, hub.policy, "anna", "ops", actor="root (command line)")
    changed("token-created")
    record = last(hub, "token-created")
    assert (record.actor, record.target, record.after["label"]) == (
        "root (command line)",
        "anna",
        "ops",
    )
    with hub.db.session() as session:
        chloe = create_token(session, hub.policy, "chloe")
        spare = create_token(session, hub.policy, "chloe")
    changed("token-created", 2)
    with hub.db.session() as session:
        assert revoke_token(session, spare, actor="root (command line)") == 1
    changed("token-revoked")
    assert last(hub, "token-revoked").before == {"revoked_at": None}
    api = {p: {"Authorization": f"Bearer {t}"} for p, t in (("anna", anna), ("chloe", chloe))}

    # a sign-in by one-time link, from the client's address, and the sign-out
    client.get("/login")
    with client.session_transaction() as cookie:
        cookie["csrf"] = CSRF
    client.post("/login/link", data={"email": "anna.schmidt@northwind.example", "csrf_token": CSRF})
    with hub.db.session(write=False) as session:
        payload = session.scalars(
            select(Notification.payload).where(Notification.template == "sign-in-link")
        ).first()
    text = materialize(payload, hub.settings)["text"]  # the token is put in at delivery
    link = re.search(r"/login/link/\S+", text).group(0)
    client.get(link)
    with client.session_transaction() as cookie:
        cookie["csrf"] = CSRF
    signed = client.post(
        link, data={"csrf_token": CSRF}, environ_base={"REMOTE_ADDR": "203.0.113.7"}
    )
    assert signed.status_code == 303
    changed("sign-in")
    record = last(hub, "sign-in")
    assert (record.actor, record.source, record.after) == (
        "anna",
        "203.0.113.7",
        {"method": "link"},
    )
    with client.session_transaction() as cookie:
        csrf = cookie["csrf"]
    assert client.post("/logout", data={"csrf_token": csrf}).status_code in (302, 303)
    changed("sign-out")

    # role changes and overrides of the classification, inside an incident
    created = client.post(
        "/api/v1/incidents",
        headers=api["anna"],
        json={"title": "Payroll is down", "services": ["payroll"], "impact": "outage"},
    ).get_json()
    ref = created["id"]
    seen.update(counts(hub))  # the declaration's own records (none expected, but not asserted)
    r = client.post(
        f"/api/v1/incidents/{ref}/roles",
        headers=api["anna"],
        json={"role": "communications_owner", "person": "julia"},
    )
    assert r.status_code == 200, r.get_json()
    changed("role-assigned")
    record = last(hub, "role-assigned")
    assert record.before == {"role": "communications_owner", "people": ["chloe"]}
    assert record.after == {"role": "communications_owner", "people": ["julia"]}
    assert record.incident_id == int(ref[4:])
    r = client.post(
        f"/api/v1/incidents/{ref}/classify",
        headers=api["anna"],
        json={"severity": "SEV2", "reason": "payroll runs tomorrow"},
    )
    assert r.status_code == 200, r.get_json()
    changed("reclassified")
    assert last(hub, "reclassified").before["severity"] == "SEV1"
    assert last(hub, "reclassified").after["severity"] == "SEV2"

    # a release from the quarantine
    held = client.post(
        "/intake/email",
        data=raw(mail("Help", "Hi", sender="Eve <eve@evil.example>")),
        content_type="message/rfc822",
        headers=api["anna"],
    ).get_json()
    assert held["outcome"] == "quarantined"
    seen.update(counts(hub))
    released = client.post(f"/api/v1/mail/messages/{held['id']}/release", headers=api["anna"])
    assert released.status_code == 200, released.get_json()
    changed("quarantine-released")
    assert last(hub, "quarantine-released").actor == "anna"

    # a suppression lifted
    with hub.db.session() as session:
        session.add(
            EmailSuppression(
                address="gone@northwind.example", status="5.1.1", reason="no such user"
            )
        )
    with hub.transaction() as session:
        assert lift(session, "Gone@northwind.example", actor="anna", now=utcnow())
    changed("suppression-lifted")
    assert last(hub, "suppression-lifted").before["status"] == "5.1.1"

    # an action item changed (its ticket link written back), then the review published
    with hub.db.session() as session:
        review = Review(incident_id=int(ref[4:]), state="draft")
        session.add(review)
        session.flush()
        item = ActionItem(review_id=review.id, title="Renew certificates", owner="elif")
        session.add(item)
        session.flush()
        item_id, review_id = item.id, review.id
    r = client.patch(
        f"/api/v1/action-items/{item_id}",
        headers=api["anna"],
        json={"ticket": "https://tickets.example.com/OPS-7", "status": "in_progress"},
    )
    assert r.status_code == 200, r.get_json()
    changed("action-item-changed")
    record = last(hub, "action-item-changed")
    assert record.before == {"status": "open", "ticket": None}
    assert record.after == {"status": "in_progress", "ticket": "https://tickets.example.com/OPS-7"}
    with hub.db.session() as session:
        session.get(Review, review_id).state = "approved"
    r = client.post(f"/api/v1/incidents/{ref}/review/publish", headers=api["anna"], json={})
    assert r.status_code in (200, 202), r.get_json()
    changed("review-published")

    # the policy file edited and reloaded
    policy_file = tmp_path / "policy.yaml"
    policy_file.write_text(Path(hub.settings["HUB_POLICY"]).read_text())
    watcher = Hub(hub.settings, db=hub.db)
    watcher.policies.path, watcher.policies.check_every = policy_file, 0
    watcher.policies._mtime = policy_file.stat().st_mtime
    assert watcher.policy is not None
    policy_file.write_text(policy_file.read_text() + "\n# edited\n")
    os.utime(policy_file, (time.time() + 5, time.time() + 5))
    assert watcher.policy is not None
    changed("policy-reloaded")
    assert last(hub, "policy-reloaded").after["file_owner"]
    other = Hub(hub.settings, db=hub.db)  # another process reloads the same file: no record
    other.record_policy_reload(policy_file)
    changed("policy-reloaded", 0)

    # the log is append-only (on SQLite the database itself refuses an update)
    if hub.db.is_sqlite:
        with pytest.raises(Exception, match="append-only"), hub.db.session() as session:
            session.execute(update(AuditRecord).values(actor="someone else"))

    # administrators read it; anyone else gets 403 with the reason
    doc = client.get("/api/v1/audit", headers=api["anna"]).get_json()
    assert [r["action"] for r in doc["records"]].count("role-assigned") == 1
    assert all(r["at"] and r["source"] for r in doc["records"])
    denied = client.get("/api/v1/audit", headers=api["chloe"])
    assert denied.status_code == 403 and "administrators" in denied.get_json()["error"]["message"]
    only = client.get("/api/v1/audit?action=sign-in", headers=api["anna"]).get_json()["records"]
    assert [r["action"] for r in only] == ["sign-in"]

    # `mihub audit export` round-trips what the API gives
    env = {
        **os.environ,
        "HUB_DATA_DIR": str(backend["data_dir"]),
        "HUB_DATABASE_URL": backend["database_url"],
        "HUB_QUEUE_URL": backend["queue_url"],
        "HUB_POLICY": hub.settings["HUB_POLICY"],
    }
    since = (utcnow() - timedelta(hours=1)).isoformat()

    def export(fmt):
        done = subprocess.run(
            [*MIHUB, "audit", "export", "--since", since, "--format", fmt],
            env=env, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        return done.stdout

    lines = [json.loads(line) for line in export("jsonl").splitlines()]
    assert lines == doc["records"]
    rows = list(csv.DictReader(io.StringIO(export("csv"))))
    assert len(rows) == len(lines)
    for row, want in zip(rows, lines, strict=True):
        assert int(row["id"]) == want["id"] and row["at"] == want["at"]
        assert (row["actor"] or None, row["action"], row["target"]) == (
            want["actor"],
            want["action"],
            want["target"],
        )
        for key in ("before", "after"):
            assert (json.loads(row[key]) if row[key] else None) == want[key]
    bad = subprocess.run(
        [*MIHUB, "audit", "export", "--since", "last week"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert bad.returncode == 2 and "--since" in bad.stderr and "Traceback" not in bad.stderr


def test_retention_purges_only_older_records(ahub):
    now = utcnow()
    with ahub.db.session() as session:
        audit.record(session, "sign-in", "anna", actor="anna", now=now - timedelta(days=400))
        audit.record(session, "sign-in", "anna", actor="anna", now=now - timedelta(days=300))
    with ahub.db.session() as session:
        assert audit.purge(session, ahub.settings.duration("HUB_AUDIT_RETENTION"), now) == 1
    with ahub.db.session(write=False) as session:
        assert len(audit.records(session)) == 1
