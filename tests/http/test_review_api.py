"""The review, problem and action-item API, and the end-to-end path to the published page."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from hub.app.db import utcnow
from hub.reviews.publish.jobs import PublishFailed, open_review_now, publish_now, refresh_now
from hub.reviews.publish.site import paths_for
from hub.testing.fakes.base import loopback_only
from tests.review_factory import TEXTS


@pytest.fixture
def auth(make_token):
    """Tokens: anna (MIM, admin), david (PM), chloe (comms), elif (tech lead), julia (nobody)."""
    return {
        p: {"Authorization": f"Bearer {make_token(p)}"}
        for p in ("anna", "david", "chloe", "elif", "julia")
    }


def _resolved(client, hub, auth, title="Payroll is down") -> str:
    ref = client.post(
        "/api/v1/incidents",
        headers=auth["chloe"],
        json={"title": title, "services": ["payroll"], "impact": "outage"},
    ).get_json()["id"]
    assert (
        client.post(
            f"/api/v1/incidents/{ref}/acknowledge", headers=auth["anna"], json={}
        ).status_code
        == 200
    )
    assert (
        client.post(
            f"/api/v1/incidents/{ref}/updates",
            headers=auth["anna"],
            json={"text": "Rolling back release 4.2"},
        ).status_code
        == 200
    )
    r = client.post(
        f"/api/v1/incidents/{ref}/resolve",
        headers=auth["anna"],
        json={"summary": "Rolled back release 4.2"},
    )
    assert r.status_code == 200 and r.get_json()["state"] == "resolved"
    number = int(ref.removeprefix("INC-"))
    assert ("open_review", number) in hub.enqueued  # the task the worker would run
    assert open_review_now(hub, number, utcnow())
    return ref


def _ready(client, ref, auth, **extra):
    body = {
        **TEXTS,
        "tags": ["software"],
        "action_items": [
            {
                "title": "Load-test pool settings",
                "owner": "elif",
                "due": "2026-01-10",
                "priority": "P1",
                "ticket": "https://tickets.example/OPS-1",
            }
        ],
        **extra,
    }
    r = client.put(f"/api/v1/incidents/{ref}/review", headers=auth["david"], json=body)
    assert r.status_code == 200, r.get_json()
    return r.get_json()


def test_resolve_edit_approve_publish_end_to_end(client, hub, auth):
    ref = _resolved(client, hub, auth)
    r = client.get(f"/api/v1/incidents/{ref}/review", headers=auth["david"])
    doc = r.get_json()
    assert r.status_code == 200 and doc["state"] == "draft" and doc["problem_manager"] == "david"
    kinds = [e["kind"] for e in doc["timeline"]]
    for kind in (
        "reported",
        "classified",
        "declared",
        "paged",
        "acknowledged",
        "update",
        "resolved",
    ):
        assert kind in kinds
    assert doc["metrics"]["ack_sla"]["met"] is True and doc["due_at"] and doc["version"] == 1
    assert (
        client.put(
            f"/api/v1/incidents/{ref}/review", headers=auth["julia"], json={"summary": "x"}
        ).status_code
        == 403
    )
    doc = _ready(client, ref, auth, version=1)
    assert doc["version"] == 2 and doc["missing"] == [] and doc["action_items"][0]["overdue"]
    r = client.post(f"/api/v1/incidents/{ref}/review/submit", headers=auth["david"], json={})
    assert r.status_code == 200 and r.get_json()["state"] == "in_review"
    r = client.post(f"/api/v1/incidents/{ref}/review/approve", headers=auth["david"], json={})
    assert r.status_code == 403 and "Major Incident Manager" in r.get_json()["error"]["message"]
    r = client.post(f"/api/v1/incidents/{ref}/review/approve", headers=auth["anna"], json={})
    assert r.status_code == 202 and r.get_json()["state"] == "approved"
    review_id = next(i for name, i in reversed(hub.enqueued) if name == "publish")
    with loopback_only():
        assert publish_now(hub, review_id, utcnow()) == "published"
    doc = client.get(f"/api/v1/incidents/{ref}/review", headers=auth["chloe"]).get_json()
    assert doc["state"] == "published" and doc["site_url"].endswith(f"/kb/reviews/{ref}/")
    page = paths_for(hub.settings.data_dir).site / "reviews" / ref / "index.html"
    assert TEXTS["trigger"] in page.read_text()
    with client.get(f"/kb/reviews/{ref}/", headers=auth["chloe"]) as served:
        assert served.status_code == 200 and TEXTS["trigger"].encode() in served.data
    assert refresh_now(hub, utcnow()) == "fresh"  # nothing changed since the build
    backlog = paths_for(hub.settings.data_dir).site / "action-items" / "index.html"
    assert "Load-test pool settings" in backlog.read_text()
    item = doc["action_items"][0]["id"]
    r = client.patch(f"/api/v1/action-items/{item}", headers=auth["elif"], json={"status": "done"})
    assert r.status_code == 200 and ("refresh_site", review_id) in hub.enqueued
    with loopback_only():
        assert refresh_now(hub, utcnow()) == "rebuilt"
    backlog = paths_for(hub.settings.data_dir).site / "action-items" / "index.html"
    assert "Load-test pool settings" not in backlog.read_text()
    incident = client.get(f"/api/v1/incidents/{ref}", headers=auth["anna"]).get_json()
    assert incident["state"] == "review_published"
    assert any("published" in e["text"] for e in incident["timeline"] if e["kind"] == "review")
    r = client.post(
        f"/api/v1/incidents/{ref}/close", headers=auth["anna"], json={"reason": "review published"}
    )
    assert r.status_code == 200 and r.get_json()["state"] == "closed"


def test_a_failed_build_fails_the_task_and_shows_on_the_review(client, hub, auth, monkeypatch):
    from hub.reviews.publish import jobs as publishing
    from hub.reviews.publish.build import SiteBuildError

    ref = _resolved(client, hub, auth)
    _ready(client, ref, auth)
    client.post(f"/api/v1/incidents/{ref}/review/submit", headers=auth["david"], json={})
    client.post(f"/api/v1/incidents/{ref}/review/approve", headers=auth["anna"], json={})

    def broken(*args, **kwargs):
        raise SiteBuildError("the knowledge base build failed: Aborted with 1 warnings")

    monkeypatch.setattr(publishing.site, "publish_site", broken)
    review_id = next(i for name, i in reversed(hub.enqueued) if name == "publish")
    with pytest.raises(PublishFailed, match="Aborted with 1 warnings"):
        publish_now(hub, review_id, utcnow())
    doc = client.get(f"/api/v1/incidents/{ref}/review", headers=auth["anna"]).get_json()
    assert doc["state"] == "approved" and "Aborted" in doc["publish_error"]
    hub.enqueued.clear()
    r = client.post(f"/api/v1/incidents/{ref}/review/publish", headers=auth["anna"], json={})
    assert r.status_code == 202 and ("publish", review_id) in hub.enqueued
    assert r.get_json()["publish_error"] is None


@pytest.mark.parametrize(
    "body, status, message",
    [
        ({"nope": 1}, 422, "unknown field(s): nope"),
        ({"summary": 5}, 422, "field 'summary' must be a string"),
        ({"action_items": [{"owner": "elif"}]}, 422, "action_items[0]: field 'title' is required"),
        ({"action_items": ["x"]}, 422, "must be a list of objects"),
        ({"timeline": [{"at": "10:00", "text": "x"}]}, 422, "timeline[0].at"),
        ({"tags": ["blame"]}, 422, "tag(s) not allowed: blame"),
    ],
)
def test_review_edits_are_validated(client, hub, auth, body, status, message):
    ref = _resolved(client, hub, auth)
    r = client.put(f"/api/v1/incidents/{ref}/review", headers=auth["david"], json=body)
    assert r.status_code == status and message in r.get_json()["error"]["message"]


def test_no_review_before_resolution_and_steps_in_order(client, hub, auth):
    ref = client.post(
        "/api/v1/incidents",
        headers=auth["chloe"],
        json={"title": "ERP down", "services": ["erp"], "impact": "outage"},
    ).get_json()["id"]
    r = client.get(f"/api/v1/incidents/{ref}/review", headers=auth["anna"])
    assert r.status_code == 404 and r.get_json()["error"]["code"] == "no_review"
    ref = _resolved(client, hub, auth)
    r = client.post(f"/api/v1/incidents/{ref}/review/approve", headers=auth["anna"], json={})
    assert r.status_code == 409 and "it is draft" in r.get_json()["error"]["message"]
    r = client.post(f"/api/v1/incidents/{ref}/review/submit", headers=auth["david"], json={})
    assert r.status_code == 422 and r.get_json()["error"]["details"]["missing"]
    assert client.get(f"/api/v1/incidents/{ref}/review").status_code == 401


def test_action_items_across_reviews(client, hub, auth):
    ref = _resolved(client, hub, auth)
    doc = _ready(client, ref, auth)
    item = doc["action_items"][0]["id"]
    listed = client.get("/api/v1/action-items?overdue=true", headers=auth["julia"]).get_json()
    assert [(i["id"], i["incident"], i["overdue"]) for i in listed["action_items"]] == [
        (item, ref, True)
    ]
    r = client.patch(f"/api/v1/action-items/{item}", headers=auth["julia"], json={"status": "done"})
    assert r.status_code == 403
    r = client.patch(f"/api/v1/action-items/{item}", headers=auth["elif"], json={"status": "done"})
    assert r.status_code == 200 and r.get_json()["status"] == "done" and r.get_json()["done_at"]
    assert client.get("/api/v1/action-items", headers=auth["julia"]).get_json() == {
        "action_items": []
    }
    done = client.get("/api/v1/action-items?status=done", headers=auth["julia"]).get_json()
    assert [i["id"] for i in done["action_items"]] == [item]
    r = client.get("/api/v1/action-items?status=bogus", headers=auth["julia"])
    assert r.status_code == 422


def test_problems(client, hub, auth):
    ref = _resolved(client, hub, auth)
    assert (
        client.post("/api/v1/problems", headers=auth["julia"], json={"title": "x"}).status_code
        == 403
    )
    r = client.post(
        "/api/v1/problems",
        headers=auth["david"],
        json={"title": "Pool exhaustion under load", "incidents": [ref]},
    )
    assert r.status_code == 201, r.get_json()
    prb = r.get_json()["id"]
    r = client.put(f"/api/v1/problems/{prb}", headers=auth["david"], json={"state": "known_error"})
    assert r.status_code == 422 and "workaround" in r.get_json()["error"]["message"]
    r = client.put(
        f"/api/v1/problems/{prb}",
        headers=auth["david"],
        json={"state": "known_error", "workaround": "Restart the pool"},
    )
    assert r.get_json()["known_error"] is True and r.get_json()["incidents"] == [ref]
    listed = client.get("/api/v1/problems?state=known_error", headers=auth["julia"]).get_json()
    assert [p["id"] for p in listed["problems"]] == [prb]
    review = client.get(f"/api/v1/incidents/{ref}/review", headers=auth["julia"]).get_json()
    assert review["problems"] == [prb]
    assert client.get("/api/v1/problems/PRB-999", headers=auth["julia"]).status_code == 404


def test_openapi_documents_the_nested_review_body(client, auth):
    doc = client.get("/api/v1/openapi.json").get_json()
    put = doc["paths"]["/api/v1/incidents/{ref}/review"]["put"]
    schema = put["requestBody"]["content"]["application/json"]["schema"]
    items = schema["properties"]["action_items"]
    assert items["type"] == "array" and items["items"]["required"] == ["title"]
    assert {"submit", "approve", "reject", "publish"} <= {
        p.rsplit("/", 1)[-1] for p in doc["paths"] if "/review/" in p
    }


def test_every_documented_operation_answers_only_documented_statuses(client, hub, app, auth):
    """Exercise every operation of the OpenAPI document, in success and in the usual errors,
    and check each real status is one the document lists for that operation."""
    from tests.email_corpus import mail, raw

    doc = client.get("/api/v1/openapi.json").get_json()
    adapter = app.url_map.bind("localhost")
    seen: dict[tuple[str, str], set[str]] = {}

    def call(method, url, who=None, **kw):
        headers = {**(auth[who] if who else {}), **kw.pop("headers", {})}
        r = client.open(url, method=method.upper(), headers=headers, **kw)
        rule, _args = adapter.match(url.split("?")[0], method=method.upper(), return_rule=True)
        path = re.sub(r"<(?:[^:>]+:)?([^>]+)>", r"{\1}", rule.rule)  # as the document
        seen.setdefault((path, method), set()).add(str(r.status_code))
        return r

    # incidents
    assert call("post", "/api/v1/incidents", json={"title": "x"}).status_code == 401
    assert call("post", "/api/v1/incidents", "chloe", json={"title": 5}).status_code == 422
    assert (
        call(
            "post", "/api/v1/incidents", "chloe", data=b"{x", content_type="application/json"
        ).status_code
        == 400
    )
    assert (
        call(
            "post", "/api/v1/incidents", "chloe", data=b"{}", content_type="text/plain"
        ).status_code
        == 415
    )
    body = {"title": "Payroll is down", "services": ["payroll"], "impact": "outage"}
    ref = call("post", "/api/v1/incidents", "chloe", json=body).get_json()["id"]
    assert call("post", "/api/v1/incidents", "elif", json=body).status_code == 200  # joined
    assert call("get", "/api/v1/incidents", "julia").status_code == 200
    assert call("get", "/api/v1/incidents?foo=1", "julia").status_code == 422
    assert call("get", f"/api/v1/incidents/{ref}", "julia").status_code == 200
    assert call("get", "/api/v1/incidents/INC-999", "julia").status_code == 404
    first, joined = (
        r["id"]
        for r in client.get(f"/api/v1/incidents/{ref}", headers=auth["anna"]).get_json()["reports"]
    )
    split = f"/api/v1/incidents/{ref}/reports/{{}}/split"
    assert call("post", split.format(joined), "julia", json={}).status_code == 403
    assert call("post", split.format(first), "anna", json={}).status_code == 409
    assert call("post", split.format(joined), "anna", json={"reason": "x"}).status_code == 200
    assert call("post", split.format(joined), "anna", json={}).status_code == 404
    assert call("post", f"/api/v1/incidents/{ref}/acknowledge", "julia", json={}).status_code == 403
    assert call("post", f"/api/v1/incidents/{ref}/acknowledge", "anna", json={}).status_code == 200
    assert (
        call(
            "post", f"/api/v1/incidents/{ref}/updates", "anna", json={"text": "Rolling back"}
        ).status_code
        == 200
    )
    assert (
        call(
            "post",
            f"/api/v1/incidents/{ref}/roles",
            "anna",
            json={"role": "tech_lead", "person": "elif"},
        ).status_code
        == 200
    )
    severity = client.get(f"/api/v1/incidents/{ref}", headers=auth["anna"]).get_json()["severity"]
    assert (
        call(
            "post",
            f"/api/v1/incidents/{ref}/classify",
            "anna",
            json={"severity": severity.lower(), "reason": "confirmed"},
        ).status_code
        == 200
    )
    # checklist tasks and the audit log
    assert call("get", f"/api/v1/incidents/{ref}/tasks", "julia").status_code == 200
    assert call("post", f"/api/v1/incidents/{ref}/tasks/1", "julia", json={}).status_code == 403
    assert call("post", f"/api/v1/incidents/{ref}/tasks/1", "anna", json={}).status_code == 200
    assert call("post", f"/api/v1/incidents/{ref}/tasks/99", "anna", json={}).status_code == 404
    bad = call("post", f"/api/v1/incidents/{ref}/tasks/1", "anna", json={"done": "yes"})
    assert bad.status_code == 422
    assert call("get", "/api/v1/audit", "anna").status_code == 200
    assert call("get", "/api/v1/audit", "julia").status_code == 403
    assert call("get", "/api/v1/audit?since=yesterday", "anna").status_code == 422
    assert (
        call(
            "post", f"/api/v1/incidents/{ref}/resolve", "anna", json={"summary": "Rolled back"}
        ).status_code
        == 200
    )
    assert (
        call(
            "post", f"/api/v1/incidents/{ref}/resolve", "anna", json={"summary": "again"}
        ).status_code
        == 409
    )
    minor = {"title": "Printer jam", "impact": "minor", "correlate": False}
    spare = [
        call("post", "/api/v1/incidents", "chloe", json=minor).get_json()["id"] for _ in range(3)
    ]
    assert (
        call(
            "post", f"/api/v1/incidents/{spare[0]}/cancel", "chloe", json={"reason": "false alarm"}
        ).status_code
        == 200
    )
    assert (
        call(
            "post",
            f"/api/v1/incidents/{spare[1]}/merge",
            "anna",
            json={"into": spare[2], "reason": "same"},
        ).status_code
        == 200
    )
    assert (
        call(
            "post", f"/api/v1/incidents/{spare[2]}/close", "anna", json={"reason": "not yet"}
        ).status_code
        == 409
    )
    # the review
    assert open_review_now(hub, int(ref.removeprefix("INC-")), utcnow())
    review = f"/api/v1/incidents/{ref}/review"
    assert call("get", review, "julia").status_code == 200
    assert call("get", "/api/v1/incidents/INC-999/review", "julia").status_code == 404
    assert call("put", review, "julia", json={"summary": "x"}).status_code == 403
    ready = {
        **TEXTS,
        "tags": ["software"],
        "action_items": [
            {"title": "Load-test pool settings", "owner": "elif", "due": "2026-01-10"}
        ],
    }
    assert call("put", review, "david", json=ready).status_code == 200
    items = call("get", "/api/v1/action-items", "julia").get_json()["action_items"]
    assert call("get", "/api/v1/action-items?overdue=maybe", "julia").status_code == 422
    item = items[0]["id"]
    assert (
        call("patch", f"/api/v1/action-items/{item}", "julia", json={"status": "done"}).status_code
        == 403
    )
    assert (
        call("patch", f"/api/v1/action-items/{item}", "elif", json={"status": "done"}).status_code
        == 200
    )
    assert (
        call("patch", "/api/v1/action-items/99999", "elif", json={"status": "done"}).status_code
        == 404
    )
    export = f"/api/v1/action-items/{item}/export"  # to a ticket system, through the outbox
    assert call("post", export, "elif").status_code == 409  # off: no HUB_TICKET_WEBHOOK_URL
    hub.settings.values.update(
        HUB_TICKET_WEBHOOK_URL="https://tickets.example.test/hook", HUB_TICKET_WEBHOOK_SECRET="s"
    )
    assert call("post", export).status_code == 401
    assert call("post", export, "julia").status_code == 403
    assert call("post", export, "elif").status_code == 202
    assert call("post", "/api/v1/action-items/99999/export", "elif").status_code == 404
    hub.settings.values["HUB_TICKET_WEBHOOK_URL"] = None
    assert call("post", f"{review}/approve", "anna", json={}).status_code == 409
    assert call("post", f"{review}/submit", "david", json={}).status_code == 200
    assert call("post", f"{review}/reject", "anna", json={"reason": "more"}).status_code == 200
    assert call("post", f"{review}/submit", "david", json={}).status_code == 200
    assert call("post", f"{review}/approve", "david", json={}).status_code == 403
    assert call("post", f"{review}/approve", "anna", json={}).status_code == 202
    assert call("post", f"{review}/publish", "anna", json={}).status_code == 202
    # problems and action items
    assert call("post", "/api/v1/problems", "julia", json={"title": "x"}).status_code == 403
    assert (
        call(
            "post", "/api/v1/problems", "david", json={"title": "x", "incidents": ["INC-999"]}
        ).status_code
        == 404
    )
    prb = call(
        "post", "/api/v1/problems", "david", json={"title": "Pool exhaustion", "incidents": [ref]}
    ).get_json()["id"]
    assert call("get", "/api/v1/problems", "julia").status_code == 200
    assert call("get", "/api/v1/problems?state=bogus", "julia").status_code == 422
    assert call("get", f"/api/v1/problems/{prb}", "julia").status_code == 200
    assert call("get", "/api/v1/problems/PRB-999", "julia").status_code == 404
    assert call("put", f"/api/v1/problems/{prb}", "julia", json={"title": "y"}).status_code == 403
    assert (
        call("put", f"/api/v1/problems/{prb}", "david", json={"state": "known_error"}).status_code
        == 422
    )
    assert call("put", f"/api/v1/problems/{prb}", "david", json={"title": "y"}).status_code == 200
    # stored mail
    held = call(
        "post",
        "/intake/email",
        "julia",
        data=raw(mail(sender="Eve <eve@evil.example>")),
        content_type="message/rfc822",
    )
    assert held.status_code == 202, held.get_json()
    ident = held.get_json()["id"]
    assert (
        call("post", "/intake/email", "julia", data=b"x", content_type="text/plain").status_code
        == 415
    )
    assert (
        call("post", "/intake/email", "julia", data=b" ", content_type="message/rfc822").status_code
        == 400
    )
    assert call("get", "/api/v1/mail/quarantine", "julia").status_code == 403
    assert call("get", "/api/v1/mail/quarantine", "anna").status_code == 200
    assert call("get", "/api/v1/mail/messages?queued_as=nope", "anna").status_code == 200
    assert call("get", "/api/v1/mail/messages", "anna").status_code == 422
    assert call("get", "/api/v1/mail/messages?queued_as=x", "julia").status_code == 403
    assert call("get", f"/api/v1/mail/messages/{ident}", "julia").status_code == 403
    assert call("get", f"/api/v1/mail/messages/{ident}", "anna").status_code == 200
    assert call("get", "/api/v1/mail/messages/99999", "anna").status_code == 404
    assert call("post", f"/api/v1/mail/messages/{ident}/reprocess", "anna").status_code in (
        200,
        409,
    )
    assert call("post", f"/api/v1/mail/messages/{ident}/discard", "julia").status_code == 403
    assert call("post", f"/api/v1/mail/messages/{ident}/release", "anna").status_code == 200
    assert call("post", f"/api/v1/mail/messages/{ident}/discard", "anna").status_code == 409
    # monitoring alerts
    from hub.intake.alerts.sources import create_source_token
    from tests.alerts_kit import am_alert, am_group

    with hub.db.session() as session:
        source = {"Authorization": f"Bearer {create_source_token(session, 'am-test')}"}
    firing = am_group("g", [am_alert("f1", "Payroll 5xx", service="payroll", severity="critical")])
    sent = call("post", "/intake/alerts/alertmanager", headers=source, json=firing)
    assert sent.status_code == 202, sent.get_json()
    assert call("post", "/intake/alerts/grafana", json=firing).status_code == 401
    assert (
        call(
            "post", "/intake/alerts/alertmanager", headers=source, data=b"{x",
            content_type="application/json",
        ).status_code
        == 400
    )  # fmt: skip
    assert call("post", "/intake/alerts/azure-monitor", headers=source, json={}).status_code == 422
    big = {**firing, "commonAnnotations": {"description": "x" * 2_000_000}}
    assert call("post", "/intake/alerts/grafana", headers=source, json=big).status_code == 413
    hub.settings.values["HUB_ALERTS_RATE"] = "1"
    app.extensions.pop("hub.alert_rates", None)
    statuses = {
        call("post", "/intake/alerts/alertmanager", headers=source, json=firing).status_code
        for _ in range(4)
    }
    assert 429 in statuses
    from hub.intake.alerts import ingest

    incident = ingest.process(hub, sent.get_json()["id"], utcnow()).incident  # as the worker
    assert call("get", f"/api/v1/incidents/{incident}/alerts", "julia").status_code == 200
    assert call("get", "/api/v1/incidents/INC-999/alerts", "julia").status_code == 404
    assert call("get", f"/api/v1/incidents/{incident}/alerts").status_code == 401
    # on-call schedules
    soon = utcnow() + timedelta(hours=1)
    span = {
        "person": "chloe",
        "start": soon.isoformat(),
        "end": (soon + timedelta(hours=2)).isoformat(),
    }
    assert call("get", "/api/v1/schedules", "julia").status_code == 200
    assert call("get", "/api/v1/schedules?x=1", "julia").status_code == 422
    assert call("get", "/api/v1/schedules/mim", "julia").status_code == 200
    assert call("get", "/api/v1/schedules/nope", "julia").status_code == 404
    assert call("get", "/api/v1/schedules/mim/overrides", "julia").status_code == 200
    assert call("get", "/api/v1/schedules/nope/overrides", "julia").status_code == 404
    overrides = "/api/v1/schedules/mim/overrides"
    assert call("post", overrides, "david", json=span).status_code == 403  # not in the schedule
    assert call("post", overrides, "chloe", json={**span, "end": "x"}).status_code == 422
    taken = call("post", overrides, "chloe", json=span)
    assert taken.status_code == 201
    offer = call("post", overrides, "chloe", json={**span, "person": "julia"}).get_json()
    accept = f"{overrides}/{offer['id']}/accept"
    assert call("post", accept, "chloe").status_code == 403
    assert call("post", accept, "julia").status_code == 200
    assert call("post", accept, "julia").status_code == 409
    assert call("post", f"{overrides}/999999/accept", "julia").status_code == 404
    one = f"{overrides}/{taken.get_json()['id']}"
    assert call("delete", one, "julia").status_code == 403
    assert call("delete", one, "chloe").status_code == 200
    assert call("delete", one, "chloe").status_code == 404
    assert call("post", "/api/v1/schedules/mim/feed/revoke", "julia").status_code == 403
    assert call("post", "/api/v1/schedules/mim/feed/revoke", "anna").status_code == 200
    assert call("post", "/api/v1/schedules/nope/feed/revoke", "anna").status_code == 404
    assert call("post", "/api/v1/people/julia/oncall-feed/revoke", "chloe").status_code == 403
    assert call("post", "/api/v1/people/julia/oncall-feed/revoke", "julia").status_code == 200
    assert call("post", "/api/v1/people/nobody/oncall-feed/revoke", "anna").status_code == 404
    assert call("get", "/api/v1/mail/suppressions", "julia").status_code == 403
    assert call("get", "/api/v1/mail/suppressions", "anna").status_code == 200
    assert call("get", "/api/v1/mail/suppressions?x=1", "anna").status_code == 422
    assert call("post", "/api/v1/mail/suppressions/a@b.example/lift", "anna").status_code == 404
    assert call("post", "/api/v1/mail/suppressions/a@b.example/lift", "julia").status_code == 403
    assert (
        call(
            "post", "/intake/email?x=1", "julia", data=b"x", content_type="message/rfc822"
        ).status_code
        == 422
    )
    # drafts awaiting approval (tests/incidents/test_drafts.py approves real ones)
    drafts = f"/api/v1/incidents/{ref}/drafts/999999/approve"
    assert call("post", drafts, "anna", json={}).status_code in (403, 404)
    assert call("post", drafts, "anna", json={"text": 5}).status_code == 422
    discard = f"/api/v1/incidents/{ref}/drafts/999999/discard"
    assert call("post", discard, "anna", json={}).status_code == 404
    assert call("post", discard, "anna", json={"text": "x"}).status_code == 422
    # the status page's JSON and maintenance windows
    assert call("get", "/api/v1/status", "julia").status_code == 200
    assert call("get", "/api/v1/status?view=nope", "julia").status_code == 422
    assert call("get", "/api/v1/status/maintenance", "julia").status_code == 200
    soon = datetime.now(UTC) + timedelta(hours=1)
    window = {
        "services": ["payroll"],
        "start": soon.isoformat(),
        "end": (soon + timedelta(hours=1)).isoformat(),
        "text": "Database upgrade",
    }
    maintenance = "/api/v1/status/maintenance"
    assert call("post", maintenance, "julia", json=window).status_code == 403
    assert call("post", maintenance, "anna", json={**window, "end": "x"}).status_code == 422
    made = call("post", maintenance, "anna", json=window)
    assert made.status_code == 201, made.get_json()
    assert call("delete", f"{maintenance}/{made.get_json()['id']}", "julia").status_code == 403
    assert call("delete", f"{maintenance}/{made.get_json()['id']}", "anna").status_code == 200
    assert call("delete", f"{maintenance}/999999", "anna").status_code == 404
    # Teams (not configured here), health, metrics, the document itself
    call("post", "/intake/teams", data=b"{}", content_type="application/json")
    call("post", "/intake/bot", data=b"{}", content_type="application/json")
    assert call("get", "/healthz").status_code == 200
    assert call("get", "/readyz").status_code == 200
    assert call("get", "/livez").status_code == 200
    assert call("get", "/metrics").status_code == 200
    assert call("get", "/api/v1/openapi.json").status_code == 200
    # the live event streams are for signed-in people (tests/web/test_live.py streams them)
    assert call("get", "/events").status_code == 302
    assert call("get", f"/incidents/{ref}/events").status_code == 302

    documented = {(p, m) for p, ops in doc["paths"].items() for m in ops}
    assert set(seen) == documented, documented ^ set(seen)  # every operation exercised
    wrong = {
        (p, m): sorted(s - set(doc["paths"][p][m]["responses"]))
        for (p, m), s in seen.items()
        if s - set(doc["paths"][p][m]["responses"])
    }
    assert wrong == {}
    for (path, method), statuses in seen.items():  # a success status is among them
        success = {s for s in doc["paths"][path][method]["responses"] if s.startswith("2")}
        assert success, (path, method)
        if statuses & {"200", "201", "202"}:
            assert statuses & success, (path, method, statuses)


def test_openapi_documents_healthz_503_and_the_action_item_filters(client, hub, monkeypatch):
    doc = client.get("/api/v1/openapi.json").get_json()
    assert set(doc["paths"]["/healthz"]["get"]["responses"]) >= {"200", "503"}

    def broken(*_a, **_k):
        raise RuntimeError("database down")

    monkeypatch.setattr(hub.db, "session", broken)
    assert client.get("/healthz").status_code == 503
    items = doc["paths"]["/api/v1/action-items"]["get"]
    params = {p["name"]: p["schema"] for p in items["parameters"]}
    assert params["status"]["items"]["enum"] == ["open", "in_progress", "done", "cancelled"]
    assert params["status"]["default"] == ["open", "in_progress"]
    assert params["overdue"] == {"type": "boolean"} and params["owner"] == {"type": "string"}
    messages = doc["paths"]["/api/v1/mail/messages"]["get"]
    assert [(p["name"], p["required"]) for p in messages["parameters"]] == [("queued_as", True)]
    for path, method, status in [
        ("/api/v1/incidents/{ref}/review/approve", "post", "202"),
        ("/api/v1/incidents/{ref}/review/publish", "post", "202"),
        ("/api/v1/problems", "post", "201"),
        ("/api/v1/problems", "post", "403"),
        ("/api/v1/mail/quarantine", "get", "403"),
        ("/api/v1/mail/messages/{ident}", "get", "403"),
    ]:
        assert status in doc["paths"][path][method]["responses"], (path, method, status)
    for path, method in [
        ("/api/v1/incidents/{ref}/review/approve", "post"),
        ("/api/v1/problems", "post"),
        ("/intake/email", "post"),
    ]:
        assert "200" not in doc["paths"][path][method]["responses"], (path, method)


def test_action_item_and_problem_filters_are_strict(client, hub, auth):
    ref = _resolved(client, hub, auth)
    item = _ready(client, ref, auth)["action_items"][0]["id"]
    for query, code in [
        ("overdue=maybe", "invalid_value"),
        ("status=open,bogus", "invalid_value"),
        ("owners=elif", "unknown_parameter"),
        ("due=today", "unknown_parameter"),
    ]:
        r = client.get(f"/api/v1/action-items?{query}", headers=auth["julia"])
        assert r.status_code == 422 and r.get_json()["error"]["code"] == code, query
    r = client.get("/api/v1/action-items?foo=1", headers=auth["julia"])
    assert r.get_json()["error"]["message"] == (
        "unknown query parameter(s): foo; allowed: status, owner, overdue"
    )

    def ids(query):
        r = client.get(f"/api/v1/action-items?{query}", headers=auth["julia"])
        assert r.status_code == 200, r.get_json()
        return [i["id"] for i in r.get_json()["action_items"]]

    assert ids("") == ids("status=") == ids("overdue=true") == ids("overdue=TRUE") == [item]
    assert ids("owner=elif") == [item] and ids("owner=david") == []
    assert ids("status=done") == [] and ids("status=done&status=open") == [item]
    r = client.get("/api/v1/problems?sort=id", headers=auth["julia"])
    assert r.status_code == 422
    assert r.get_json()["error"]["message"] == ("unknown query parameter(s): sort; allowed: state")
    r = client.get("/api/v1/problems?state=open&state=nope", headers=auth["julia"])
    assert r.status_code == 422 and "unknown state 'nope'" in r.get_json()["error"]["message"]
