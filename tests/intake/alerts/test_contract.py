"""The three endpoints against the products' own example payloads, and malformed variants:
202 once stored, 4xx with the reason for anything else, and nothing stored as an incident."""

from __future__ import annotations

import base64
import json

import pytest
from sqlalchemy import select

from hub.app.models import Alert, InboundMessage
from tests.alerts_kit import ENDPOINT, counts, payload
from tests.intake.alerts.conftest import apply_queued

REAL = [
    ("alertmanager", "alertmanager_v4", ["1a30ba71cca2921f"]),
    ("alertmanager", "alertmanager_without_fingerprint", None),
    ("grafana", "grafana_contact_point", ["c6eadffa33fcdf37", "bc97ff14869b13e3"]),
    ("azure-monitor", "azure_metric", None),
    ("azure-monitor", "azure_log", None),
    ("azure-monitor", "azure_activity_log", None),
]


@pytest.mark.parametrize("source,name,fingerprints", REAL)
def test_real_payload_is_stored_raw_and_applied(hub, send, source, name, fingerprints):
    body = json.dumps(payload(name), indent=2).encode()
    r = send(source, body)
    assert r.status_code == 202, r.get_json()
    answer = r.get_json()
    assert answer["source"] == "alertmanager-prod" and answer["outcome"] == "accepted"
    assert answer["alerts"] == len(payload(name).get("alerts", [None]))
    with hub.db.session(write=False) as session:
        row = session.get(InboundMessage, answer["id"])
        assert row.channel == "alerts" and row.raw == body  # kept byte for byte
        assert row.status == "received"  # stored, committed; the worker applies it
    (result,) = apply_queued(hub)
    assert result.id == answer["id"] and result.status == "processed"
    with hub.db.session(write=False) as session:
        alerts = session.scalars(select(Alert)).all()
    assert len(alerts) == answer["alerts"]
    if fingerprints:
        assert sorted(a.fingerprint for a in alerts) == sorted(fingerprints)
    # none of these examples names a service of the catalogue: recorded, no incident
    assert result.outcome == "recorded" and result.incident is None
    assert counts(hub)["incidents"] == 0


def test_azure_fields_become_labels(hub, send):
    r = send("azure-monitor", payload("azure_activity_log"))
    assert r.status_code == 202
    apply_queued(hub)
    with hub.db.session(write=False) as session:
        alert = session.scalars(select(Alert)).one()
    assert alert.labels["resource_group"] == ["test-RG"]
    assert alert.labels["configuration_items"] == ["test-VM"]
    assert alert.labels["severity"] == "Sev4"
    assert alert.link.startswith("https://portal.azure.com/")
    assert alert.state == "firing"


def _without(body: dict, *path):
    target = body
    for key in path[:-1]:
        target = target[key]
    del target[path[-1]]
    return body


def _set(body: dict, value, *path):
    target = body
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return body


AM = "alertmanager_v4"
MALFORMED = [
    ("alertmanager", b"", 400, "not JSON"),
    ("alertmanager", b"{\"receiver\": ", 400, "not JSON"),
    ("alertmanager", b"[1, 2]", 422, "expected a JSON object"),
    ("alertmanager", _set(payload(AM), "3", "version"), 422, "version"),
    ("alertmanager", _without(payload(AM), "groupKey"), 422, "groupKey"),
    ("alertmanager", _set(payload(AM), "burning", "status"), 422, "status"),
    ("alertmanager", _set(payload(AM), [], "alerts"), 422, "alerts"),
    ("alertmanager", _set(payload(AM), "x", "alerts"), 422, "alerts"),
    ("alertmanager", _set(payload(AM), {}, "alerts", 0, "labels"), 422, "labels"),
    ("alertmanager", _set(payload(AM), 5, "alerts", 0, "labels", "severity"), 422, "severity"),
    ("alertmanager", _set(payload(AM), "yesterday", "alerts", 0, "startsAt"), 422, "startsAt"),
    ("alertmanager", _without(payload(AM), "alerts", 0, "startsAt"), 422, "startsAt"),
    ("alertmanager", _set(payload(AM), "open", "alerts", 0, "status"), 422, "alerts[0].status"),
    ("grafana", _without(payload("grafana_contact_point"), "alerts"), 422, "alerts"),
    ("grafana", _set(payload("grafana_contact_point"), 7, "groupKey"), 422, "groupKey"),
    ("azure-monitor", payload(AM), 422, "schemaId"),
    ("azure-monitor", _set(payload("azure_metric"), "Sev9", "data", "essentials", "severity"),
     422, "severity"),
    ("azure-monitor", _without(payload("azure_log"), "data", "essentials", "alertId"), 422,
     "alertId"),
    ("azure-monitor", _set(payload("azure_log"), "Maybe", "data", "essentials",
                           "monitorCondition"), 422, "monitorCondition"),
    ("azure-monitor", _set(payload("azure_activity_log"), "test-VM", "data", "essentials",
                           "configurationItems"), 422, "configurationItems"),
    ("azure-monitor", _set(payload("azure_metric"), None, "data"), 422, "essentials"),
]  # fmt: skip


@pytest.mark.parametrize("source,body,status,words", MALFORMED)
def test_malformed_answered_with_reason_and_nothing_stored(hub, send, source, body, status, words):
    r = send(source, body)
    assert r.status_code == status, r.get_data(as_text=True)
    error = r.get_json()["error"]
    assert words in error["message"]
    assert counts(hub) == {"stored": 0, "alerts": 0, "incidents": 0}


def test_credentials(hub, client, source_token, make_token):
    body = json.dumps(payload(AM))
    url = ENDPOINT.format("alertmanager")

    def post(headers=None, query=""):
        return client.post(url + query, data=body, headers=headers or {},
                           content_type="application/json")  # fmt: skip

    token = source_token("alertmanager-prod")
    r = post()
    assert r.status_code == 401 and "Bearer" in r.headers["WWW-Authenticate"]
    assert "mihub token create --source" in r.get_json()["error"]["message"]
    assert post({"Authorization": "Bearer mia_wrong"}).status_code == 401
    person = make_token("anna")  # a person's API token is not a source's
    assert post({"Authorization": f"Bearer {person}"}).status_code == 401
    basic = base64.b64encode(f"alertmanager-prod:{token}".encode()).decode()
    assert post({"Authorization": f"Basic {basic}"}).status_code == 202
    other = base64.b64encode(f"grafana-prod:{token}".encode()).decode()
    assert post({"Authorization": f"Basic {other}"}).status_code == 401  # user must match
    assert post({"Authorization": "Basic !!!"}).status_code == 401
    assert post(query=f"?token={token}").status_code == 202  # Azure action groups
    assert post(query="?token=mia_guess").status_code == 401
    assert counts(hub)["stored"] == 2


def test_oversized_is_413(hub, send):
    hub.settings.values["HUB_ALERTS_MAX_BYTES"] = "2048"
    big = payload(AM)
    big["commonAnnotations"]["description"] = "x" * 4000
    r = send("alertmanager", big)
    assert r.status_code == 413
    assert counts(hub)["stored"] == 0


def test_rate_per_source_is_429_with_retry_after(hub, send):
    hub.settings.values["HUB_ALERTS_RATE"] = "1"  # bursts of 2
    answers = [send("alertmanager", payload(AM)).status_code for _ in range(3)]
    assert answers == [202, 202, 429]
    r = send("alertmanager", payload(AM))
    assert r.status_code == 429 and int(r.headers["Retry-After"]) >= 1
    assert send("alertmanager", payload(AM), name="grafana-prod").status_code == 202  # its own
    assert counts(hub)["stored"] == 3


def test_unknown_source_path_is_404(client):
    assert client.post("/intake/alerts/nagios", data="{}").status_code == 404


def test_a_missing_fingerprint_is_computed_from_the_labels():
    from hub.intake.alerts.parse import fingerprint_of, parse

    body = payload("alertmanager_without_fingerprint")
    (alert,) = parse("alertmanager", body).alerts
    labels = body["alerts"][0]["labels"]
    assert (
        alert.fingerprint
        == fingerprint_of(labels)
        == fingerprint_of(dict(reversed(labels.items())))
    )
    assert fingerprint_of({**labels, "dc": "eu-west-2"}) != alert.fingerprint
    assert len(alert.fingerprint) == 16  # 64 bits in hex, as Alertmanager prints them
