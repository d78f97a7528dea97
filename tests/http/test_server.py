"""The API over real HTTP against the production WSGI server, on each backend."""

from __future__ import annotations

import requests


def test_api_over_http(live_server, make_token, example_policy):
    mim = example_policy.roles["major_incident_manager"][0]
    comms = example_policy.roles["communications_owner"][0]
    with requests.Session() as s:  # closed before live_server closes waitress
        _exercise(s, live_server, make_token, example_policy, mim, comms)


def _exercise(s, live_server, make_token, example_policy, mim, comms):
    s.trust_env = False
    h_comms = {"Authorization": f"Bearer {make_token(comms)}"}
    h_mim = {"Authorization": f"Bearer {make_token(mim)}"}
    svc = next(k for k, v in example_policy.services.items() if v.critical)
    r = s.post(
        f"{live_server}/api/v1/incidents",
        headers=h_comms,
        timeout=10,
        json={"title": f"{svc} down", "services": [svc], "impact": "outage"},
    )
    assert r.status_code == 201, r.text
    assert r.headers["Content-Type"].startswith("application/json")
    created = r.json()
    assert set(created) >= {"id", "major", "severity", "rule", "state"}
    ref = created["id"]
    r = s.post(
        f"{live_server}/api/v1/incidents/{ref}/acknowledge", headers=h_mim, json={}, timeout=10
    )
    assert r.status_code == 200 and r.json()["state"] == "mobilised"
    r = s.get(f"{live_server}/api/v1/incidents?state=mobilised", headers=h_comms, timeout=10)
    assert [i["id"] for i in r.json()["incidents"]] == [ref]
    r = s.get(f"{live_server}/api/v1/incidents/INC-0", headers=h_comms, timeout=10)
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
    r = s.post(
        f"{live_server}/api/v1/incidents", data=b"x" * 2_000_000, headers=h_comms, timeout=10
    )
    assert r.status_code == 413
    assert s.get(f"{live_server}/healthz", timeout=10).json()["checks"]["database"] == "ok"
