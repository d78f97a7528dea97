"""The REST API as DESIGN.md states it, in-process on each backend."""

from __future__ import annotations

import pytest


@pytest.fixture
def people(example_policy):
    p = example_policy
    return {
        "mim": p.roles["major_incident_manager"][0],
        "mim2": p.roles["major_incident_manager"][1],
        "comms": p.roles["communications_owner"][0],
        "outsider": next(k for k in p.people if not any(k in r for r in p.roles.values())
                         and not any(k in s.tech_lead for s in p.services.values())),
    }


@pytest.fixture
def auth(make_token, people):
    return {role: {"Authorization": f"Bearer {make_token(key)}"} for role, key in people.items()}


def _critical_service(policy):
    return next(k for k, s in policy.services.items() if s.critical)


def test_create_major_incident(client, auth, example_policy):
    svc = _critical_service(example_policy)
    r = client.post("/api/v1/incidents", headers=auth["comms"], json={
        "title": f"{svc} is down", "services": [svc], "impact": "outage"})
    assert r.status_code == 201, r.get_json()
    doc = r.get_json()
    assert doc["id"].startswith("INC-")
    assert doc["major"] is True
    assert doc["severity"] in example_policy.severities
    assert example_policy.severities[doc["severity"]].major
    assert doc["state"] == "declared"
    assert doc["rule"] != "default" and doc["reasons"]


def test_create_minor_incident_is_open(client, auth):
    r = client.post("/api/v1/incidents", headers=auth["comms"], json={
        "title": "Printer on floor 3 jams", "impact": "minor", "affected_users": 2})
    assert r.status_code == 201
    doc = r.get_json()
    assert doc["major"] is False and doc["state"] == "open" and doc["rule"] == "default"


def test_show_has_timeline_roles_timers_notifications(client, auth, example_policy, people):
    svc = _critical_service(example_policy)
    ref = client.post("/api/v1/incidents", headers=auth["comms"], json={
        "title": "down", "services": [svc], "impact": "outage"}).get_json()["id"]
    doc = client.get(f"/api/v1/incidents/{ref}", headers=auth["comms"]).get_json()
    kinds = [e["kind"] for e in doc["timeline"]]
    assert kinds[:2] == ["reported", "classified"]
    assert "state" in kinds
    roles = {r["role"]: r["person"] for r in doc["roles"]}
    assert roles["major_incident_manager"] == people["mim"]
    assert roles["tech_lead"] in example_policy.services[svc].tech_lead
    for key in ("timers", "notifications"):
        assert isinstance(doc[key], list)
    for entry in doc["timeline"]:
        assert entry["at"].endswith("+00:00")


def test_acknowledge_mobilises_and_outsider_is_refused(client, auth, example_policy):
    svc = _critical_service(example_policy)
    ref = client.post("/api/v1/incidents", headers=auth["comms"], json={
        "title": "down", "services": [svc], "impact": "outage"}).get_json()["id"]
    r = client.post(f"/api/v1/incidents/{ref}/acknowledge", headers=auth["outsider"], json={})
    assert r.status_code == 403
    assert r.get_json()["error"]["code"] == "forbidden"
    r = client.post(f"/api/v1/incidents/{ref}/acknowledge", headers=auth["mim"], json={})
    assert r.status_code == 200, r.get_json()
    doc = r.get_json()
    assert doc["state"] == "mobilised"
    assert doc["acknowledged"] == ["major_incident_manager"]
    mim = next(x for x in doc["roles"] if x["role"] == "major_incident_manager")
    assert mim["acknowledged_at"]


def test_update_assign_classify_resolve(client, auth, example_policy, people):
    ref = client.post("/api/v1/incidents", headers=auth["comms"], json={
        "title": "Slow VPN", "impact": "degraded"}).get_json()["id"]
    r = client.post(f"/api/v1/incidents/{ref}/updates", headers=auth["comms"],
                    json={"text": "Investigating the concentrator"})
    assert r.status_code == 200
    assert r.get_json()["timeline"][-1]["text"] == "Investigating the concentrator"
    top = next(iter(example_policy.severities))
    r = client.post(f"/api/v1/incidents/{ref}/classify", headers=auth["mim"],
                    json={"severity": top, "reason": "CEO cannot work"})
    assert r.status_code == 200
    doc = r.get_json()
    assert doc["severity"] == top and doc["major"] is True and doc["state"] == "declared"
    assert doc["rule"] == "manual"
    r = client.post(f"/api/v1/incidents/{ref}/roles", headers=auth["mim"],
                    json={"role": "communications_owner", "person": people["mim2"]})
    assert r.status_code == 200
    comms = [x for x in r.get_json()["roles"] if x["role"] == "communications_owner"]
    assert [c["person"] for c in comms] == [people["mim2"]]
    r = client.post(f"/api/v1/incidents/{ref}/resolve", headers=auth["mim"],
                    json={"summary": "Restarted the concentrator"})
    assert r.status_code == 200 and r.get_json()["state"] == "resolved"
    r = client.post(f"/api/v1/incidents/{ref}/resolve", headers=auth["mim"],
                    json={"summary": "again"})
    assert r.status_code == 409
    assert "resolved" in r.get_json()["error"]["message"]


def test_list_newest_first_and_filter(client, auth):
    ids = [client.post("/api/v1/incidents", headers=auth["comms"], json={
        "title": f"thing {i}", "impact": "minor", "correlate": False}).get_json()["id"]
        for i in range(3)]
    client.post(f"/api/v1/incidents/{ids[0]}/resolve", headers=auth["comms"],
                json={"summary": "ok"})
    listed = client.get("/api/v1/incidents", headers=auth["comms"]).get_json()["incidents"]
    assert [i["id"] for i in listed] == list(reversed(ids))
    open_ = client.get("/api/v1/incidents?state=open", headers=auth["comms"]).get_json()
    assert [i["id"] for i in open_["incidents"]] == [ids[2], ids[1]]


@pytest.mark.parametrize("body, status, code", [
    (b"{not json", 400, "malformed_json"),
    (b"[1, 2]", 400, "malformed_json"),
    (b'{"description": "no title"}', 422, "missing_field"),
    (b'{"title": 5}', 422, "wrong_type"),
    (b'{"title": "x", "affected_users": "many"}', 422, "wrong_type"),
    (b'{"title": "x", "affected_users": true}', 422, "wrong_type"),
    (b'{"title": "x", "colour": "red"}', 422, "unknown_field"),
    (b'{"title": "x", "impact": "apocalypse"}', 422, "invalid_value"),
    (b'{"title": "x", "services": [1]}', 422, "wrong_type"),
    (b'{"title": "   "}', 422, "missing_field"),
])
def test_bad_create_bodies(client, auth, body, status, code):
    r = client.post("/api/v1/incidents", headers={**auth["comms"],
                    "Content-Type": "application/json"}, data=body)
    assert r.status_code == status, r.get_json()
    assert r.get_json()["error"]["code"] == code
    assert r.get_json()["error"]["message"]
    listed = client.get("/api/v1/incidents", headers=auth["comms"]).get_json()["incidents"]
    assert listed == []  # nothing half-written


def test_oversized_body_is_413(client, auth, app):
    limit = app.config["MAX_CONTENT_LENGTH"]
    r = client.post("/api/v1/incidents", headers={**auth["comms"],
                    "Content-Type": "application/json"},
                    data=b'{"title": "' + b"x" * (limit + 10) + b'"}')
    assert r.status_code == 413
    assert r.get_json()["error"]["code"] == "request_entity_too_large"


@pytest.mark.parametrize("header", [None, "Bearer", "Bearer nope", "Basic abc", "bearer "])
def test_missing_or_wrong_token_is_401(client, header):
    headers = {"Authorization": header} if header else {}
    r = client.get("/api/v1/incidents", headers=headers)
    assert r.status_code == 401
    assert r.get_json()["error"]["code"] == "unauthorized"


def test_revoked_token_is_401(client, hub, make_token, people):
    from hub.auth import revoke_token

    token = make_token(people["comms"])
    headers = {"Authorization": f"Bearer {token}"}
    assert client.get("/api/v1/incidents", headers=headers).status_code == 200
    with hub.db.session() as session:
        assert revoke_token(session, token) == 1
    assert client.get("/api/v1/incidents", headers=headers).status_code == 401


@pytest.mark.parametrize("ref", ["INC-999", "999", "nonsense", "INC-x"])
def test_unknown_incident_is_404(client, auth, ref):
    r = client.get(f"/api/v1/incidents/{ref}", headers=auth["comms"])
    assert r.status_code == 404
    assert r.get_json()["error"]["code"] == "not_found"


def test_unknown_severity_and_empty_reason(client, auth):
    ref = client.post("/api/v1/incidents", headers=auth["comms"], json={
        "title": "x", "impact": "minor"}).get_json()["id"]
    r = client.post(f"/api/v1/incidents/{ref}/classify", headers=auth["mim"],
                    json={"severity": "SEV99", "reason": "because"})
    assert r.status_code == 422 and "SEV99" in r.get_json()["error"]["message"]
    r = client.post(f"/api/v1/incidents/{ref}/classify", headers=auth["mim"],
                    json={"severity": "SEV1", "reason": " "})
    assert r.status_code == 422


def test_correlated_reports_attach_and_promote(client, make_token, example_policy):
    """Reporters of the same service inside the window join one incident and can promote it."""
    rule = next((c for c in example_policy.major_criteria if c.reporters_at_least), None)
    if rule is None:
        pytest.skip("the example policy has no reporters_at_least rule")
    svc = next(k for k, s in example_policy.services.items() if not s.critical)
    reporters = list(example_policy.people)[: rule.reporters_at_least]
    refs = []
    for person in reporters:
        headers = {"Authorization": f"Bearer {make_token(person)}"}
        r = client.post("/api/v1/incidents", headers=headers, json={
            "title": f"{svc} acting up", "services": [svc], "impact": "minor"})
        assert r.status_code in (200, 201)
        refs.append(r.get_json())
    assert len({d["id"] for d in refs}) == 1
    assert [d["correlated"] for d in refs] == [False] + [True] * (len(reporters) - 1)
    assert refs[-1]["severity"] == rule.severity
    assert refs[-1]["major"] is example_policy.severities[rule.severity].major


def test_merge_and_cancel(client, auth):
    a = client.post("/api/v1/incidents", headers=auth["comms"], json={
        "title": "a", "impact": "minor", "correlate": False}).get_json()["id"]
    b = client.post("/api/v1/incidents", headers=auth["comms"], json={
        "title": "b", "impact": "minor", "correlate": False}).get_json()["id"]
    r = client.post(f"/api/v1/incidents/{b}/merge", headers=auth["comms"], json={"into": a})
    assert r.status_code == 200 and r.get_json()["state"] == "merged"
    assert r.get_json()["merged_into"] == a
    r = client.post(f"/api/v1/incidents/{a}/cancel", headers=auth["comms"],
                    json={"reason": "false alarm"})
    assert r.get_json()["state"] == "cancelled"
    r = client.post(f"/api/v1/incidents/{a}/updates", headers=auth["comms"], json={"text": "x"})
    assert r.status_code == 409


def test_healthz_and_metrics(client, auth):
    client.post("/api/v1/incidents", headers=auth["comms"], json={"title": "x", "impact": "minor"})
    r = client.get("/healthz")
    assert r.status_code == 200
    assert r.get_json()["checks"]["database"] == "ok"
    text = client.get("/metrics").get_data(as_text=True)
    assert "# TYPE mihub_incidents gauge" in text
    assert 'mihub_incidents{state="open"' in text
    assert "mihub_http_requests_total{" in text


def test_openapi_matches_routes(client, app):
    from hub.openapi import documented_routes

    doc = client.get("/api/v1/openapi.json").get_json()
    assert doc["openapi"].startswith("3.")
    listed = {(p, m) for p, ops in doc["paths"].items() for m in ops}
    real = {(p, m) for p, m, _e in documented_routes(app)}
    assert listed == real
    for path in ["/api/v1/incidents", "/api/v1/incidents/{ref}",
                 "/api/v1/incidents/{ref}/acknowledge", "/api/v1/incidents/{ref}/updates",
                 "/api/v1/incidents/{ref}/roles", "/api/v1/incidents/{ref}/classify",
                 "/api/v1/incidents/{ref}/resolve", "/healthz", "/metrics"]:
        assert path in doc["paths"], path
    create = doc["paths"]["/api/v1/incidents"]["post"]["requestBody"]["content"]
    props = create["application/json"]["schema"]["properties"]
    assert {"title", "description", "services", "impact", "affected_users", "security",
            "reporter"} <= set(props)
