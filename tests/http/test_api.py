"""The REST API as DESIGN.md states it, in-process on each backend."""

from __future__ import annotations

import re

import pytest


@pytest.fixture
def people(example_policy):
    p = example_policy
    return {
        "mim": p.roles["major_incident_manager"][0],
        "mim2": p.roles["major_incident_manager"][1],
        "comms": p.roles["communications_owner"][0],
        "outsider": next(
            k
            for k in p.people
            if not any(k in r for r in p.roles.values())
            and not any(k in s.tech_lead for s in p.services.values())
        ),
    }


@pytest.fixture
def auth(make_token, people):
    return {role: {"Authorization": f"Bearer {make_token(key)}"} for role, key in people.items()}


def _critical_service(policy):
    return next(k for k, s in policy.services.items() if s.critical)


def test_create_major_incident(client, auth, example_policy):
    svc = _critical_service(example_policy)
    r = client.post(
        "/api/v1/incidents",
        headers=auth["comms"],
        json={"title": f"{svc} is down", "services": [svc], "impact": "outage"},
    )
    assert r.status_code == 201, r.get_json()
    doc = r.get_json()
    assert doc["id"].startswith("INC-")
    assert doc["major"] is True
    assert doc["severity"] in example_policy.severities
    assert example_policy.severities[doc["severity"]].major
    assert doc["state"] == "declared"
    assert doc["rule"] != "default" and doc["reasons"]


def test_create_minor_incident_is_open(client, auth):
    r = client.post(
        "/api/v1/incidents",
        headers=auth["comms"],
        json={"title": "Printer on floor 3 jams", "impact": "minor", "affected_users": 2},
    )
    assert r.status_code == 201
    doc = r.get_json()
    assert doc["major"] is False and doc["state"] == "open" and doc["rule"] == "default"


def test_show_has_timeline_roles_timers_notifications(client, auth, example_policy, people):
    svc = _critical_service(example_policy)
    ref = client.post(
        "/api/v1/incidents",
        headers=auth["comms"],
        json={"title": "down", "services": [svc], "impact": "outage"},
    ).get_json()["id"]
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
    ref = client.post(
        "/api/v1/incidents",
        headers=auth["comms"],
        json={"title": "down", "services": [svc], "impact": "outage"},
    ).get_json()["id"]
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
    ref = client.post(
        "/api/v1/incidents", headers=auth["comms"], json={"title": "Slow VPN", "impact": "degraded"}
    ).get_json()["id"]
    r = client.post(
        f"/api/v1/incidents/{ref}/updates",
        headers=auth["comms"],
        json={"text": "Investigating the concentrator"},
    )
    assert r.status_code == 200
    assert r.get_json()["timeline"][-1]["text"] == "Investigating the concentrator"
    top = next(iter(example_policy.severities))
    r = client.post(
        f"/api/v1/incidents/{ref}/classify",
        headers=auth["mim"],
        json={"severity": top, "reason": "CEO cannot work"},
    )
    assert r.status_code == 200
    doc = r.get_json()
    assert doc["severity"] == top and doc["major"] is True and doc["state"] == "declared"
    assert doc["rule"] == "manual"
    r = client.post(
        f"/api/v1/incidents/{ref}/roles",
        headers=auth["mim"],
        json={"role": "communications_owner", "person": people["mim2"]},
    )
    assert r.status_code == 200
    comms = [x for x in r.get_json()["roles"] if x["role"] == "communications_owner"]
    assert [c["person"] for c in comms] == [people["mim2"]]
    r = client.post(
        f"/api/v1/incidents/{ref}/resolve",
        headers=auth["mim"],
        json={"summary": "Restarted the concentrator"},
    )
    assert r.status_code == 200 and r.get_json()["state"] == "resolved"
    r = client.post(
        f"/api/v1/incidents/{ref}/resolve", headers=auth["mim"], json={"summary": "again"}
    )
    assert r.status_code == 409
    assert "resolved" in r.get_json()["error"]["message"]


def test_list_newest_first_and_filter(client, auth):
    ids = [
        client.post(
            "/api/v1/incidents",
            headers=auth["comms"],
            json={"title": f"thing {i}", "impact": "minor", "correlate": False},
        ).get_json()["id"]
        for i in range(3)
    ]
    client.post(f"/api/v1/incidents/{ids[0]}/resolve", headers=auth["mim"], json={"summary": "ok"})
    listed = client.get("/api/v1/incidents", headers=auth["comms"]).get_json()["incidents"]
    assert [i["id"] for i in listed] == list(reversed(ids))
    open_ = client.get("/api/v1/incidents?state=open", headers=auth["comms"]).get_json()
    assert [i["id"] for i in open_["incidents"]] == [ids[2], ids[1]]


@pytest.mark.parametrize(
    "body, status, code",
    [
        (b"{not json", 400, "malformed_json"),
        (b'{"title": "x", "n": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", 400, "too_deep"),
        (b"[1, 2]", 422, "invalid_body"),  # valid JSON, but not an object
        (b'{"description": "no title"}', 422, "missing_field"),
        (b'{"title": 5}', 422, "wrong_type"),
        (b'{"title": "x", "affected_users": "many"}', 422, "wrong_type"),
        (b'{"title": "x", "affected_users": true}', 422, "wrong_type"),
        (b'{"title": "x", "colour": "red"}', 422, "unknown_field"),
        (b'{"title": "x", "impact": "apocalypse"}', 422, "invalid_value"),
        (b'{"title": "x", "services": [1]}', 422, "wrong_type"),
        (b'{"title": "   "}', 422, "missing_field"),
    ],
)
def test_bad_create_bodies(client, auth, body, status, code):
    r = client.post(
        "/api/v1/incidents",
        headers={**auth["comms"], "Content-Type": "application/json"},
        data=body,
    )
    assert r.status_code == status, r.get_json()
    assert r.get_json()["error"]["code"] == code
    assert r.get_json()["error"]["message"]
    listed = client.get("/api/v1/incidents", headers=auth["comms"]).get_json()["incidents"]
    assert listed == []  # nothing half-written


def test_oversized_body_is_413(client, auth, app):
    limit = app.config["MAX_CONTENT_LENGTH"]
    r = client.post(
        "/api/v1/incidents",
        headers={**auth["comms"], "Content-Type": "application/json"},
        data=b'{"title": "' + b"x" * (limit + 10) + b'"}',
    )
    assert r.status_code == 413
    assert r.get_json()["error"]["code"] == "request_entity_too_large"


@pytest.mark.parametrize("header", [None, "Bearer", "Bearer nope", "Basic abc", "bearer "])
def test_missing_or_wrong_token_is_401(client, header):
    headers = {"Authorization": header} if header else {}
    r = client.get("/api/v1/incidents", headers=headers)
    assert r.status_code == 401
    assert r.get_json()["error"]["code"] == "unauthorized"


def test_revoked_token_is_401(client, hub, make_token, people):
    from hub.http.auth import revoke_token

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
    ref = client.post(
        "/api/v1/incidents", headers=auth["comms"], json={"title": "x", "impact": "minor"}
    ).get_json()["id"]
    r = client.post(
        f"/api/v1/incidents/{ref}/classify",
        headers=auth["mim"],
        json={"severity": "SEV99", "reason": "because"},
    )
    assert r.status_code == 422 and "SEV99" in r.get_json()["error"]["message"]
    r = client.post(
        f"/api/v1/incidents/{ref}/classify",
        headers=auth["mim"],
        json={"severity": "SEV1", "reason": " "},
    )
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
        r = client.post(
            "/api/v1/incidents",
            headers=headers,
            json={"title": f"{svc} acting up", "services": [svc], "impact": "minor"},
        )
        assert r.status_code in (200, 201)
        refs.append(r.get_json())
    assert len({d["id"] for d in refs}) == 1
    assert [d["correlated"] for d in refs] == [False] + [True] * (len(reporters) - 1)
    assert refs[-1]["severity"] == rule.severity
    assert refs[-1]["major"] is example_policy.severities[rule.severity].major


def test_merge_and_cancel(client, auth):
    a = client.post(
        "/api/v1/incidents",
        headers=auth["comms"],
        json={"title": "a", "impact": "minor", "correlate": False},
    ).get_json()["id"]
    b = client.post(
        "/api/v1/incidents",
        headers=auth["comms"],
        json={"title": "b", "impact": "minor", "correlate": False},
    ).get_json()["id"]
    r = client.post(f"/api/v1/incidents/{b}/merge", headers=auth["mim"], json={"into": a})
    assert r.status_code == 200 and r.get_json()["state"] == "merged"
    assert r.get_json()["merged_into"] == a
    r = client.post(
        f"/api/v1/incidents/{a}/cancel", headers=auth["comms"], json={"reason": "false alarm"}
    )
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


def test_openapi_matches_routes(client, app, auth):
    from hub.http.openapi import documented_routes

    doc = client.get("/api/v1/openapi.json").get_json()
    assert doc["openapi"].startswith("3.")
    listed = {(p, m) for p, ops in doc["paths"].items() for m in ops}
    real = {(p, m) for p, m, _e in documented_routes(app)}
    assert listed == real
    for path in [
        "/api/v1/incidents",
        "/api/v1/incidents/{ref}",
        "/api/v1/incidents/{ref}/acknowledge",
        "/api/v1/incidents/{ref}/updates",
        "/api/v1/incidents/{ref}/roles",
        "/api/v1/incidents/{ref}/classify",
        "/api/v1/incidents/{ref}/resolve",
        "/healthz",
        "/metrics",
    ]:
        assert path in doc["paths"], path
    create = doc["paths"]["/api/v1/incidents"]["post"]["requestBody"]["content"]
    props = create["application/json"]["schema"]["properties"]
    assert {
        "title",
        "description",
        "services",
        "impact",
        "affected_users",
        "security",
        "reporter",
    } <= set(props)
    # the list's query parameters are exactly the filters the endpoint reads
    from hub.core.lifecycle import STATES
    from hub.http import validate as v

    listing = doc["paths"]["/api/v1/incidents"]["get"]
    params = {p["name"]: p for p in listing["parameters"]}
    assert (
        set(params)
        == set(v.LIST_FILTERS)
        == {"state", "severity", "major", "limit", "q", "service", "since", "until", "mine"}
    )
    assert all(p["in"] == "query" and not p["required"] for p in params.values())
    assert params["state"]["schema"]["items"]["enum"] == list(STATES)
    assert params["limit"]["schema"]["maximum"] == v.LIMIT_MAX
    for name in set(params) - {"q"}:  # each one is read (a bad value is refused, naming it) ...
        r = client.get(f"/api/v1/incidents?{name}=bogus", headers=auth["comms"])
        assert r.status_code == 422 and name in r.get_json()["error"]["message"], name
    good = {
        "state": "open,declared",
        "severity": next(iter(app.extensions["hub"].policy.severities)).lower(),
        "major": "false",
        "limit": "1",
        "q": "printer",
        "service": "payroll",
        "since": "2026-01-01",
        "until": "2026-12-31T23:00:00Z",
        "mine": "true",
    }
    assert set(good) == set(params)
    for name, value in good.items():  # ... and a good one is accepted
        assert (
            client.get(f"/api/v1/incidents?{name}={value}", headers=auth["comms"]).status_code
            == 200
        ), name
    # impact is an enum, exactly the values create accepts
    assert props["impact"]["enum"] == ["outage", "degraded", "minor"]
    for impact in props["impact"]["enum"]:
        r = client.post(
            "/api/v1/incidents",
            headers=auth["comms"],
            json={"title": f"doc {impact}", "impact": impact, "correlate": False},
        )
        assert r.status_code == 201, r.get_json()
    # responses have schemas: IncidentSummary for create and list, Error on every 4xx
    schemas = doc["components"]["schemas"]
    summary = schemas["IncidentSummary"]
    post = doc["paths"]["/api/v1/incidents"]["post"]["responses"]
    for status in ("200", "201"):
        assert post[status]["content"]["application/json"]["schema"] == {
            "$ref": "#/components/schemas/IncidentSummary"
        }
    items = listing["responses"]["200"]["content"]["application/json"]["schema"]
    assert items["properties"]["incidents"]["items"] == {
        "$ref": "#/components/schemas/IncidentSummary"
    }
    created = r.get_json()
    assert set(summary["required"]) <= set(created) <= set(summary["properties"])
    for entry in client.get("/api/v1/incidents", headers=auth["comms"]).get_json()["incidents"]:
        assert set(summary["required"]) <= set(entry) <= set(summary["properties"])
    assert schemas["Error"]["properties"]["error"]["required"] == ["code", "message"]
    documented_4xx = 0
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            for status, answer in op["responses"].items():
                if status.startswith("4"):
                    documented_4xx += 1
                    assert answer["content"]["application/json"]["schema"] == {
                        "$ref": "#/components/schemas/Error"
                    }, (path, method, status)
    assert documented_4xx > 20
    # the 4xx each operation really answers (as the tests in this file show) are documented
    expected = {
        ("/api/v1/incidents", "post"): {"400", "401", "413", "415", "422"},
        ("/api/v1/incidents", "get"): {"401", "422"},
        ("/api/v1/incidents/{ref}", "get"): {"401", "404"},
        ("/api/v1/incidents/{ref}/acknowledge", "post"): {"401", "403", "404"},
        ("/api/v1/incidents/{ref}/resolve", "post"): {"409", "422"},
        ("/api/v1/incidents/{ref}/merge", "post"): {"409"},
    }
    for (path, method), statuses in expected.items():
        assert statuses <= set(doc["paths"][path][method]["responses"]), (path, method)
    assert "WWW-Authenticate" in post["401"]["headers"]
    assert "401" not in doc["paths"]["/api/v1/openapi.json"]["get"]["responses"]


def _raw_create(client, headers, body: bytes):
    return client.post(
        "/api/v1/incidents", data=body, headers={**headers, "Content-Type": "application/json"}
    )


@pytest.mark.parametrize(
    "body, code, message",
    [
        (
            b'{"title": "x", "affected_users": 99999999999999999999999}',
            "out_of_range",
            "field 'affected_users' must be at most 2147483647",
        ),
        (
            b'{"title": "x", "affected_users": 3000000000}',
            "out_of_range",
            "field 'affected_users' must be at most 2147483647",
        ),
        (
            b'{"title": "x", "affected_users": 2147483648}',
            "out_of_range",
            "field 'affected_users' must be at most 2147483647",
        ),
        (
            b'{"title": "a\\u0000b"}',
            "invalid_text",
            "field 'title' must not contain NUL characters",
        ),
        (
            b'{"title": "x", "description": "\\u0000"}',
            "invalid_text",
            "field 'description' must not contain NUL characters",
        ),
        (
            b'{"title": "x", "services": ["ok", "pay\\u0000roll"]}',
            "invalid_text",
            "field 'services[1]' must not contain NUL characters",
        ),
        (
            b'{"title": "x", "reporter": "a\\u0000@example.com"}',
            "invalid_text",
            "field 'reporter' must not contain NUL characters",
        ),
        (
            b'{"title": "half \\ud800 a pair"}',
            "invalid_text",
            "field 'title' must be valid Unicode text",
        ),
    ],
)
def test_values_the_database_cannot_store_are_422(client, auth, body, code, message):
    r = _raw_create(client, auth["comms"], body)
    assert r.status_code == 422, r.get_json()
    assert r.get_json()["error"]["code"] == code
    assert message in r.get_json()["error"]["message"]
    listed = client.get("/api/v1/incidents", headers=auth["comms"]).get_json()["incidents"]
    assert listed == []  # nothing half-written


def test_largest_storable_number_is_accepted(client, auth):
    r = _raw_create(
        client, auth["comms"], b'{"title": "big", "impact": "minor", "affected_users": 2147483647}'
    )
    assert r.status_code == 201, r.get_json()
    assert r.get_json()["affected_users"] == 2147483647


def test_unstorable_values_are_refused_on_every_endpoint(client, auth):
    """The shared body check covers the action endpoints and nested review bodies too."""
    from hub.app.errors import Invalid
    from hub.http.validate import REVIEW, check

    ref = client.post(
        "/api/v1/incidents", headers=auth["comms"], json={"title": "x", "impact": "minor"}
    ).get_json()["id"]
    before = client.get(f"/api/v1/incidents/{ref}", headers=auth["comms"]).get_json()
    r = client.post(
        f"/api/v1/incidents/{ref}/updates", headers=auth["mim"], json={"text": "step\x00two"}
    )
    assert r.status_code == 422
    assert r.get_json()["error"]["message"] == "field 'text' must not contain NUL characters"
    after = client.get(f"/api/v1/incidents/{ref}", headers=auth["comms"]).get_json()
    assert after["timeline"] == before["timeline"]
    with pytest.raises(Invalid, match=r"action_items\[0\]: field 'title' must not contain NUL"):
        check({"action_items": [{"title": "fix\x00it"}]}, REVIEW)
    with pytest.raises(Invalid, match="field 'version' must be at most 2147483647"):
        check({"version": 2**31}, REVIEW)
    with pytest.raises(Invalid, match=r"field 'tags\[0\]' must not contain NUL"):
        check({"tags": ["\x00"]}, REVIEW)


def _post_chunked(base_url: str, headers: dict, body: bytes):
    """POST `body` with Transfer-Encoding: chunked (no Content-Length) over real HTTP."""
    import http.client
    from urllib.parse import urlsplit

    url = urlsplit(base_url)
    connection = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
    try:
        connection.request(
            "POST",
            "/api/v1/incidents",
            headers=headers,
            encode_chunked=True,
            body=(body[i : i + 65536] for i in range(0, len(body), 65536)),
        )
        response = connection.getresponse()
        return response.status, response.getheader("Content-Length"), response.read()
    finally:
        connection.close()


@pytest.fixture
def werkzeug_server(app):
    """The app behind werkzeug's own server, which streams a chunked body to the app
    (wsgi.input_terminated, no Content-Length) where waitress buffers it first."""
    import threading

    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=5)


@pytest.mark.parametrize("server", ["live_server", "werkzeug_server"])
def test_oversized_chunked_body_is_413(request, app, make_token, people, server):
    import json

    base = request.getfixturevalue(server)
    headers = {
        "Authorization": f"Bearer {make_token(people['comms'])}",
        "Content-Type": "application/json",
    }
    limit = app.config["MAX_CONTENT_LENGTH"]
    for extra in (1, 100_000):
        status, length, raw = _post_chunked(
            base, headers, b'{"title": "' + b"x" * (limit + extra) + b'"}'
        )
        assert status == 413, raw
        assert json.loads(raw) == {
            "error": {
                "code": "request_entity_too_large",
                "message": f"the request body is larger than the limit of {limit} bytes",
            }
        }
    # a chunked body of exactly the limit is still accepted
    body = b'{"title": "fits", "impact": "minor", "description": "'
    body += b"y" * (limit - len(body) - 2) + b'"}'
    assert len(body) == limit
    status, _length, raw = _post_chunked(base, headers, body)
    assert status == 201, raw
    assert json.loads(raw)["title"] == "fits"


@pytest.mark.parametrize(
    "query, message",
    [
        ("state=bogus", "unknown state 'bogus'; states are: open, declared, mobilised"),
        ("state=open,nope", "unknown state 'nope'"),
        ("severity=SEV9", "unknown severity 'SEV9'; severities are: SEV1"),
        ("major=maybe", "major must be true or false, not 'maybe'"),
        ("limit=0", "limit must be from 1 to 1000, not 0"),
        ("limit=-5", "limit must be from 1 to 1000, not -5"),
        ("limit=100000", "limit must be from 1 to 1000, not 100000"),
        ("limit=abc", "limit must be a whole number"),
    ],
)
def test_bad_list_filters_are_422(client, auth, query, message):
    client.post("/api/v1/incidents", headers=auth["comms"], json={"title": "x", "impact": "minor"})
    r = client.get(f"/api/v1/incidents?{query}", headers=auth["comms"])
    assert r.status_code == 422, r.get_json()
    assert r.get_json()["error"]["code"] == "invalid_value"
    assert message in r.get_json()["error"]["message"]


def test_list_filters_severity_any_case_major_and_limit(client, auth, example_policy):
    minor = client.post(
        "/api/v1/incidents",
        headers=auth["comms"],
        json={"title": "printer", "impact": "minor", "correlate": False},
    ).get_json()
    top = next(k for k, s in example_policy.severities.items() if s.major)
    major = client.post(
        "/api/v1/incidents",
        headers=auth["comms"],
        json={"title": "all down", "impact": "minor", "correlate": False},
    ).get_json()
    r = client.post(
        f"/api/v1/incidents/{major['id']}/classify",
        headers=auth["mim"],
        json={"severity": top, "reason": "everyone is affected"},
    )
    assert r.status_code == 200, r.get_json()

    def ids(query):
        r = client.get(f"/api/v1/incidents?{query}", headers=auth["comms"])
        assert r.status_code == 200, r.get_json()
        return [i["id"] for i in r.get_json()["incidents"]]

    assert ids(f"severity={top.lower()}") == ids(f"severity={top}") == [major["id"]]
    assert ids(f"severity={minor['severity'].lower()},{top}") == [major["id"], minor["id"]]
    assert ids("major=true") == [major["id"]]
    assert ids("major=false") == [minor["id"]]
    assert ids("major=") == [major["id"], minor["id"]]  # empty: no filter
    assert ids("limit=1") == [major["id"]]
    assert ids("limit=1000") == [major["id"], minor["id"]]


@pytest.mark.parametrize(
    "header, challenge",
    [
        (None, 'Bearer realm="mihub"'),
        ("Basic abc", 'Bearer realm="mihub"'),
        ("Bearer ", 'Bearer realm="mihub"'),
        ("Bearer nope", 'Bearer realm="mihub", error="invalid_token"'),
    ],
)
def test_401_names_the_bearer_scheme(client, header, challenge):
    r = client.get("/api/v1/incidents", headers={"Authorization": header} if header else {})
    assert r.status_code == 401
    assert r.headers["WWW-Authenticate"] == challenge
    assert r.get_json()["error"]["code"] == "unauthorized"
    r = client.post(
        "/api/v1/incidents",
        json={"title": "x"},
        headers={"Authorization": header} if header else {},
    )
    assert r.status_code == 401 and r.headers["WWW-Authenticate"] == challenge


def test_revoked_token_401_says_invalid_token(client, hub, make_token, people):
    from hub.http.auth import revoke_token

    token = make_token(people["comms"])
    headers = {"Authorization": f"Bearer {token}"}
    r = client.get("/api/v1/incidents", headers=headers)
    assert r.status_code == 200 and "WWW-Authenticate" not in r.headers
    with hub.db.session() as session:
        revoke_token(session, token)
    r = client.get("/api/v1/incidents", headers=headers)
    assert r.status_code == 401
    assert r.headers["WWW-Authenticate"] == 'Bearer realm="mihub", error="invalid_token"'
    assert r.get_json()["error"]["message"] == "the token is unknown or revoked"


@pytest.mark.parametrize(
    "ctype", ["text/plain", "application/x-www-form-urlencoded", "application/xml"]
)
def test_wrong_content_type_is_415(client, auth, ctype):
    r = client.post(
        "/api/v1/incidents",
        data=b'{"title": "x"}',
        headers={**auth["comms"], "Content-Type": ctype},
    )
    assert r.status_code == 415, r.get_json()
    assert r.get_json()["error"] == {
        "code": "unsupported_media_type",
        "message": f"expected application/json, got {ctype}",
    }
    assert client.get("/api/v1/incidents", headers=auth["comms"]).get_json()["incidents"] == []


# -- query parameters: unknown ones refused, repeats a union; the OpenAPI document says so ---
@pytest.mark.parametrize(
    "query, unknown",
    [
        ("services=payroll", "services"),
        ("foo=1", "foo"),
        ("state=open&States=open", "States"),
        ("severity=SEV1&sort=id", "sort"),
    ],
)
def test_unknown_list_parameters_are_422_naming_the_allowed_ones(client, auth, query, unknown):
    client.post("/api/v1/incidents", headers=auth["comms"], json={"title": "x", "impact": "minor"})
    r = client.get(f"/api/v1/incidents?{query}", headers=auth["comms"])
    assert r.status_code == 422, r.get_json()
    error = r.get_json()["error"]
    assert error["code"] == "unknown_parameter"
    assert error["message"] == (
        f"unknown query parameter(s): {unknown}; allowed: state, severity, major, limit, q, "
        "service, since, until, mine"
    )
    assert error["details"] == {
        "unknown": [unknown],
        "allowed": [
            "state",
            "severity",
            "major",
            "limit",
            "q",
            "service",
            "since",
            "until",
            "mine",
        ],
    }


def test_repeated_list_parameters_are_a_union_or_must_agree(client, auth, example_policy):
    a = client.post(
        "/api/v1/incidents",
        headers=auth["comms"],
        json={"title": "printer", "impact": "minor", "correlate": False},
    ).get_json()
    b = client.post(
        "/api/v1/incidents",
        headers=auth["comms"],
        json={"title": "scanner", "impact": "minor", "correlate": False},
    ).get_json()
    r = client.post(
        f"/api/v1/incidents/{b['id']}/resolve", headers=auth["mim"], json={"summary": "replugged"}
    )
    assert r.status_code == 200, r.get_json()

    def ids(query):
        r = client.get(f"/api/v1/incidents?{query}", headers=auth["comms"])
        assert r.status_code == 200, r.get_json()
        return [i["id"] for i in r.get_json()["incidents"]]

    assert ids("state=open") == [a["id"]]
    assert ids("state=resolved") == [b["id"]]
    assert ids("state=open&state=resolved") == ids("state=open,resolved") == [b["id"], a["id"]]
    assert ids("state=open&state=") == [a["id"]]  # an empty repeat adds nothing
    sev = a["severity"]
    assert ids(f"severity={sev.lower()}&severity={sev}&state=open") == [a["id"]]
    assert ids("limit=1&limit=1") == [b["id"]]  # the same value twice is that value
    r = client.get("/api/v1/incidents?limit=1&limit=2", headers=auth["comms"])
    assert r.status_code == 422
    assert r.get_json()["error"]["message"] == (
        "limit is given more than once, with different values"
    )
    r = client.get("/api/v1/incidents?state=open&state=nope", headers=auth["comms"])
    assert r.status_code == 422 and "unknown state 'nope'" in r.get_json()["error"]["message"]


def test_every_list_endpoint_reads_exactly_its_documented_parameters(client, app, auth):
    """For each GET list operation: an unknown parameter is refused naming the allowed ones,
    and those are exactly the documented query parameters (and the shared table's); each
    documented parameter with a closed set of values refuses a bad one, naming itself."""
    from hub.http import validate as v
    from hub.http.openapi import documented_routes

    doc = client.get("/api/v1/openapi.json").get_json()
    routes = {e: p for p, m, e in documented_routes(app) if m == "get"}
    lists = {
        e
        for p, m, e in documented_routes(app)
        if m == "get" and p.startswith("/api/v1/") and "{" not in p and e != "api.openapi"
    }
    items = {"api.show"}  # one incident's document, its parameter checked on its own
    assert lists == set(v.QUERIES) - items  # a new list endpoint needs its row in the table
    assert {
        "api.list_incidents",
        "reviews.list_problems",
        "reviews.list_items",
        "email_intake.list_quarantine",
        "email_intake.find_messages",
        "schedules_api.list_schedules",
        "worklog.list_audit",
        "email_intake.list_suppressions",
        "status_api.status",
        "status_api.list_maintenance",
    } == lists
    for endpoint in sorted(lists):
        path = routes[endpoint]
        op = doc["paths"][path]["get"]
        documented = [p["name"] for p in op.get("parameters", []) if p["in"] == "query"]
        assert "422" in op["responses"], path
        r = client.get(f"{path}?zz_unknown=1", headers=auth["mim"])
        assert r.status_code == 422, (path, r.get_json())
        error = r.get_json()["error"]
        assert error["code"] == "unknown_parameter", path
        allowed = error["message"].split("; allowed: ")[1]
        assert allowed == (", ".join(documented) or "none"), path
        assert error["details"]["allowed"] == documented == list(v.QUERIES[endpoint]), path
        required = {
            p["name"]: "x" for p in op.get("parameters", []) if p["in"] == "query" and p["required"]
        }
        for param in op.get("parameters", []):
            if param["in"] != "query":
                continue
            schema = param["schema"]
            closed = (
                schema["type"] in ("boolean", "integer")
                or "enum" in schema.get("items", {})
                or param["name"] == "severity"
            )
            if not closed:
                continue
            query = {**required, param["name"]: "bogus"}
            r = client.get(path, query_string=query, headers=auth["mim"])
            assert r.status_code == 422, (path, param["name"], r.get_json())
            assert r.get_json()["error"]["code"] == "invalid_value"
            assert param["name"] in r.get_json()["error"]["message"], (path, param["name"])
        if required:  # a required parameter left out is refused, naming it
            r = client.get(path, headers=auth["mim"])
            assert r.status_code == 422, path
            assert all(n in r.get_json()["error"]["message"] for n in required), path
        r = client.get(path, query_string=required, headers=auth["mim"])
        assert str(r.status_code) in op["responses"] and r.status_code == 200, path


def test_empty_list_parameters_are_no_filter(client, auth):
    ref = client.post(
        "/api/v1/incidents", headers=auth["comms"], json={"title": "x", "impact": "minor"}
    ).get_json()["id"]
    r = client.get("/api/v1/incidents?state=&severity=&major=&limit=", headers=auth["comms"])
    assert r.status_code == 200 and [i["id"] for i in r.get_json()["incidents"]] == [ref]


def test_a_json_array_body_is_422_not_400(client, auth):
    for body in (b"[]", b'[{"title": "x"}]', b'"a string"', b"42", b"null"):
        r = client.post(
            "/api/v1/incidents",
            data=body,
            headers={**auth["comms"], "Content-Type": "application/json"},
        )
        assert r.status_code == 422, (body, r.get_json())
        assert r.get_json()["error"] == {
            "code": "invalid_body",
            "message": "the body must be a JSON object",
        }
    assert client.get("/api/v1/incidents", headers=auth["comms"]).get_json()["incidents"] == []


def test_a_body_without_content_type_is_415_an_empty_one_is_accepted(client, auth):
    r = client.post("/api/v1/incidents", data=b'{"title": "x"}', headers=auth["comms"])
    assert r.request.headers.get("Content-Type") is None
    assert r.status_code == 415, r.get_json()
    assert r.get_json()["error"] == {
        "code": "unsupported_media_type",
        "message": "expected application/json, got no Content-Type",
    }
    assert client.get("/api/v1/incidents", headers=auth["comms"]).get_json()["incidents"] == []
    ref = client.post(
        "/api/v1/incidents", headers=auth["comms"], json={"title": "x", "impact": "minor"}
    ).get_json()["id"]
    r = client.post(f"/api/v1/incidents/{ref}/resolve", headers=auth["mim"])
    assert r.request.headers.get("Content-Type") is None
    assert r.status_code == 422, r.get_json()  # no body at all is {}: checked, not 415
    assert r.get_json()["error"] == {
        "code": "missing_field",
        "message": "field 'summary' is required",
    }
    r = client.post(
        f"/api/v1/incidents/{ref}/resolve",
        data=b'{"summary": "fixed"}',
        headers={**auth["mim"], "Content-Type": "application/merge-patch+json"},
    )
    assert r.status_code == 200, r.get_json()  # a +json media type is JSON


def test_classify_takes_the_severity_in_any_case(client, auth, example_policy):
    ref = client.post(
        "/api/v1/incidents", headers=auth["comms"], json={"title": "x", "impact": "minor"}
    ).get_json()["id"]
    keys = list(example_policy.severities)
    lowest = keys[-1]
    for given in (lowest.lower(), f" {lowest.upper()} ", lowest.swapcase()):
        r = client.post(
            f"/api/v1/incidents/{ref}/classify",
            headers=auth["mim"],
            json={"severity": given, "reason": "checked"},
        )
        assert r.status_code == 200, (given, r.get_json())
        assert r.get_json()["severity"] == lowest  # the policy's spelling
    assert (
        client.get(f"/api/v1/incidents?severity={lowest}", headers=auth["comms"]).get_json()[
            "incidents"
        ][0]["id"]
        == ref
    )
    r = client.post(
        f"/api/v1/incidents/{ref}/classify",
        headers=auth["mim"],
        json={"severity": "sev99", "reason": "checked"},
    )
    assert r.status_code == 422 and "unknown severity 'sev99'" in r.get_json()["error"]["message"]


def test_nesting_is_counted_outside_strings_only(client, auth):
    r = client.post(
        "/api/v1/incidents",
        headers=auth["comms"],
        json={"title": "Brackets " + "[{" * 100, "description": '"\\"[[[' * 50},
    )
    assert r.status_code == 201, r.get_json()


def test_show_lists_the_latest_notifications_and_counts_them_all(client, auth, hub, example_policy):
    from sqlalchemy import insert

    from hub.app.db import utcnow
    from hub.app.models import Notification
    from hub.http.api import NOTIFICATIONS_SHOWN
    from hub.incidents import records

    svc = _critical_service(example_policy)
    ref = client.post(
        "/api/v1/incidents",
        headers=auth["comms"],
        json={"title": "down", "services": [svc], "impact": "outage"},
    ).get_json()["id"]
    before = client.get(f"/api/v1/incidents/{ref}", headers=auth["comms"]).get_json()
    own = before["notifications_total"]
    assert own == len(before["notifications"])
    people = NOTIFICATIONS_SHOWN + 50
    with hub.db.session() as session:
        incident_id = records.get_incident(session, ref).id
        rows = [
            {
                "incident_id": incident_id,
                "key": f"update:{ref}:1|p{i:04d}@example.com|email",
                "channel": "email",
                "recipient": f"p{i:04d}@example.com",
                "template": "stakeholder-update",
                "payload": {},
                "status": "sent" if i % 10 else "failed",
                "last_error": None if i % 10 else "552 5.2.2 mailbox full",
                "created_at": utcnow(),
                "sent_at": utcnow() if i % 10 else None,
                "audience": "executives",
            }
            for i in range(people)
        ]
        session.execute(insert(Notification), rows)

    doc = client.get(f"/api/v1/incidents/{ref}", headers=auth["comms"]).get_json()
    assert doc["notifications_total"] == own + people
    shown = [n["recipient"] for n in doc["notifications"]]
    assert len(shown) == NOTIFICATIONS_SHOWN
    assert shown[-1] == f"p{people - 1:04d}@example.com" and "p0000@example.com" not in shown
    (update,) = [e for e in doc["deliveries"] if e["template"] == "stakeholder-update"]
    (executives,) = update["audiences"]
    assert (executives["total"], executives["delivered"], executives["failed"]) == (
        people,
        people - people // 10,
        people // 10,
    )
    everything = client.get(
        f"/api/v1/incidents/{ref}?notifications=all", headers=auth["comms"]
    ).get_json()
    assert len(everything["notifications"]) == own + people
    assert everything["notifications"][own]["recipient"] == "p0000@example.com"
    r = client.get(f"/api/v1/incidents/{ref}?notifications=some", headers=auth["comms"])
    assert r.status_code == 422 and "notifications" in r.get_json()["error"]["message"]
    r = client.get(f"/api/v1/incidents/{ref}?zz_unknown=1", headers=auth["comms"])
    assert r.get_json()["error"]["details"]["allowed"] == ["notifications"]
    spec = client.get("/api/v1/openapi.json").get_json()
    (path,) = [p for p in spec["paths"] if re.fullmatch(r"/api/v1/incidents/\{[a-z]+\}", p)]
    documented = [p["name"] for p in spec["paths"][path]["get"]["parameters"] if p["in"] == "query"]
    assert documented == ["notifications"]
