"""Ids in URLs and bodies beyond what a row can have are unknown ids (404), not database
overflows (500), on every route that takes one."""

from __future__ import annotations

import pytest

HUGE = "99999999999999999999"


@pytest.fixture
def admin_headers(make_token, example_policy):
    admin = next(k for k, p in example_policy.people.items() if p.admin)
    return {"Authorization": f"Bearer {make_token(admin)}"}


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", f"/api/v1/incidents/INC-{HUGE}", None),
        ("GET", "/api/v1/incidents/INC-2147483648", None),  # one past PostgreSQL's integer
        ("POST", f"/api/v1/incidents/INC-{HUGE}/acknowledge", {}),
        ("POST", f"/api/v1/incidents/{HUGE}/resolve", {"summary": "x"}),
        ("GET", f"/api/v1/incidents/INC-{HUGE}/review", None),
        ("GET", f"/api/v1/problems/PRB-{HUGE}", None),
        ("PATCH", f"/api/v1/action-items/{HUGE}", {"status": "done"}),
        ("GET", f"/api/v1/mail/messages/{HUGE}", None),
        ("POST", f"/api/v1/mail/messages/{HUGE}/release", {}),
    ],
)
def test_huge_ids_are_unknown(client, admin_headers, method, path, body):
    r = client.open(path, method=method, json=body, headers=admin_headers)
    assert r.status_code == 404, r.get_data(as_text=True)
    assert r.get_json()["error"]["code"] == "not_found"


def test_merging_into_a_huge_id_is_unknown(client, admin_headers):
    ref = client.post(
        "/api/v1/incidents",
        headers=admin_headers,
        json={"title": "dup", "impact": "minor", "correlate": False},
    ).get_json()["id"]
    r = client.post(
        f"/api/v1/incidents/{ref}/merge", headers=admin_headers, json={"into": f"INC-{HUGE}"}
    )
    assert r.status_code == 404 and r.get_json()["error"]["code"] == "not_found"
    assert (
        client.get(f"/api/v1/incidents/{ref}", headers=admin_headers).get_json()["state"] == "open"
    )
