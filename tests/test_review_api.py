"""The review, problem and action-item API, and the end-to-end path to the published page."""

from __future__ import annotations

import pytest

from hub.db import utcnow
from hub.fakes.base import loopback_only
from hub.publish.site import paths_for
from tasks.publishing import PublishFailed, open_review_now, publish_now, refresh_now
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
    with client.get(f"/kb/reviews/{ref}/") as served:
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
    from hub.publish.build import SiteBuildError
    from tasks import publishing

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
