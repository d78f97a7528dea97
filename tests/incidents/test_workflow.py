"""The major-incident workflow through the REST API: pages, notices, timers, acknowledgement."""

from __future__ import annotations

import pytest
from workflow_kit import (
    T0,
    fire_due,
    minutes,
    notes,
    pending_timers,
    timeline,
)

AUDIENCE_MAIL = {
    "exec-team@northwind.example",
    "it-staff@northwind.example",
    "servicedesk@northwind.example",
    "all-staff@northwind.example",
}


@pytest.fixture
def api(wired, api_caller):
    """call(method, path, person, json) → (status, document) against the wired hub."""
    from hub import create_app

    return api_caller(create_app({"TESTING": True}, hub=wired).test_client())


def _declare(api, services=("payroll",)) -> tuple[str, int]:
    status, doc = api(
        "POST",
        "/api/v1/incidents",
        "ivan",
        {"title": "Payroll is down", "services": list(services), "impact": "outage"},
    )
    assert status == 201 and doc["major"] and doc["severity"] == "SEV1", doc
    return doc["id"], int(doc["id"].split("-")[1])


def test_declaration_pages_responders_and_notifies_stakeholders(api, wired):
    ref, iid = _declare(api)
    pages = notes(wired, iid, template="page")
    assert {(r.channel, r.recipient) for r in pages} == {
        ("email", "anna.schmidt@northwind.example"),
        ("teams", "anna"),
        ("email", "elif.yilmaz@northwind.example"),
        ("teams", "elif"),
        ("email", "chloe.martin@northwind.example"),
        ("teams", "chloe"),
    }
    roles = {r.recipient: r.payload["page"]["role"] for r in pages if r.channel == "email"}
    assert roles == {
        "anna.schmidt@northwind.example": "major_incident_manager",
        "elif.yilmaz@northwind.example": "tech_lead",
        "chloe.martin@northwind.example": "communications_owner",
    }
    notice = notes(wired, iid, template="incident-declared")
    assert {r.recipient for r in notice if r.channel == "email"} == AUDIENCE_MAIL
    assert {r.payload["url"].split("?")[0] for r in notice if r.channel == "teams"} == {
        "https://hooks.example.test/exec",
        "https://hooks.example.test/it",
        "https://hooks.example.test/sd",
        "https://hooks.example.test/oncall",
    }
    mail = [r for r in notice if r.channel == "email"]
    assert mail[0].payload["next"] is not None  # states when the next update is due
    assert all(r.payload["envelope"]["next"] for r in notice if r.channel == "teams")
    assert all(r.status == "pending" for r in pages + notice)
    queued = {i for name, i in wired.enqueued if name == "deliver"}
    assert queued == {r.id for r in notes(wired, iid)}
    first_page = min(r.id for r in pages)
    assert first_page < min(r.id for r in notice)  # pages go out first
    status, doc = api("GET", f"/api/v1/incidents/{ref}")
    assert {t["kind"] for t in doc["timers"]} == {
        "escalate",
        "sla-ack",
        "sla-resolve",
        "update-reminder",
        "update-due",
        "task-late",  # the checklists' deadlines
    }
    assert all(t["remaining_s"] > 0 for t in doc["timers"])
    assert {e["kind"] for e in doc["timeline"]} >= {"paged", "notified"}
    assert any("bridge" in e["text"] for e in doc["timeline"] if e["kind"] == "notified")


def test_acknowledgements_cancel_escalation(api, wired):
    ref, iid = _declare(api)
    status, doc = api("POST", f"/api/v1/incidents/{ref}/acknowledge", "anna", {})
    assert status == 200 and doc["state"] == "mobilised"
    kinds = [t["kind"] for t in doc["timers"]]
    assert kinds.count("escalate") == 1 and "sla-ack" not in kinds  # tech lead #2 still due
    status, doc = api("POST", f"/api/v1/incidents/{ref}/acknowledge", "elif", {})
    assert "escalate" not in [t["kind"] for t in doc["timers"]]
    assert not [k for k in pending_timers(wired, iid) if k.startswith("escalate:")]


def test_reassigned_role_pages_the_new_holder(api, wired):
    ref, iid = _declare(api)
    status, _ = api(
        "POST",
        f"/api/v1/incidents/{ref}/roles",
        "anna",
        {"role": "communications_owner", "person": "grace"},
    )
    assert status == 200
    paged = notes(wired, iid, template="page")
    grace = [r for r in paged if r.recipient in ("grace", "grace.liu@northwind.example")]
    assert len(grace) == 2 and grace[0].key.startswith(f"assign:{ref}:")
    mail = next(r for r in grace if r.channel == "email")
    assert mail.payload["page"] == {
        "role": "communications_owner",
        "role_label": "Communications Owner",
        "step": None,
        "action": "acknowledge",
    }


def test_update_goes_to_stakeholders_and_restarts_the_cadence(api, wired):
    ref, iid = _declare(api)
    status, doc = api(
        "POST",
        f"/api/v1/incidents/{ref}/updates",
        "chloe",
        {"text": "Failover to the standby cluster in progress"},
    )
    assert status == 200
    sent = notes(wired, iid, template="stakeholder-update")
    assert {r.recipient for r in sent if r.channel == "email"} == AUDIENCE_MAIL
    mail = [r for r in sent if r.channel == "email"]
    assert mail[0].payload["update"]["author_name"] == "Chloe Martin"
    assert sent[0].channel == "teams"  # cards first: they must not wait behind a long list
    due = [t for t in doc["timers"] if t["kind"] == "update-due"]
    assert len(due) == 1 and 29 * 60 < due[0]["remaining_s"] <= 30 * 60


def test_resolution_notifies_everyone_and_stops_the_clock(api, wired):
    ref, iid = _declare(api)
    status, doc = api(
        "POST",
        f"/api/v1/incidents/{ref}/resolve",
        "anna",
        {"summary": "Rolled back the faulty release"},
    )
    assert status == 200 and doc["state"] == "resolved"
    assert {t["kind"] for t in doc["timers"]} == {"sla-review"}
    resolved = {r.recipient for r in notes(wired, iid, template="resolved")}
    assert resolved >= AUDIENCE_MAIL and "elif.yilmaz@northwind.example" in resolved


def test_downgrade_stops_the_workflow(api, wired):
    ref, iid = _declare(api)
    status, doc = api(
        "POST",
        f"/api/v1/incidents/{ref}/classify",
        "anna",
        {"severity": "SEV3", "reason": "only one team affected"},
    )
    assert status == 200 and doc["major"] is False
    assert doc["timers"] == []
    told = notes(wired, iid, template="stakeholder-update", channel="email")
    assert {r.recipient for r in told} == AUDIENCE_MAIL
    assert "no longer" in told[0].payload["update"]["text"]


def test_real_templates_render_every_notification(wired, monkeypatch):
    """With the real mail and card renderers, nothing the workflow sends fails to render."""
    pytest.importorskip("hub.channels.email.compose")
    pytest.importorskip("hub.channels.teams.cards")
    from workflow_kit import act, declare

    import hub.channels.email.channel
    from hub.incidents import operations as ops

    monkeypatch.undo()  # the real renderers
    assert hub.channels.email.channel.render_email.__module__ == "hub.channels.email.channel"
    iid = declare(wired)
    fire_due(wired, T0 + minutes(15))  # escalation, reminder, no-change, ack SLA marks
    act(wired, iid, ops.post_update, "Vendor engaged", now=T0 + minutes(16), actor="chloe")
    act(wired, iid, ops.resolve, "Fixed", now=T0 + minutes(20), actor="anna")
    failed = [(r.template, r.channel, r.last_error) for r in notes(wired, iid, status="failed")]
    assert failed == []
    templates = {r.template for r in notes(wired, iid)}
    assert templates >= {
        "page",
        "escalation",
        "incident-declared",
        "update-reminder",
        "no-change-update",
        "sla-warning",
        "sla-breach",
        "stakeholder-update",
        "resolved",
    }
    assert timeline(wired, iid, "escalated")
