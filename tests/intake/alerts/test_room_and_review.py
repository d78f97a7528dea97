"""Alerts in the incident room (source, labels, first/last seen, state, link; hostile text
escaped) and in the review, whose time to detect counts from the first alert."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from hub.app.models import Incident, Review
from hub.incidents import operations
from hub.incidents.act import act
from hub.intake.alerts import ingest
from hub.reviews.publish.jobs import open_review_now
from tests.alerts_kit import am_alert, am_group, payload
from tests.web_kit import sign_in

T0 = datetime(2026, 12, 6, 10, 0, tzinfo=UTC)
EVIL = '<script>alert("x")</script>'


def feed(hub, body, now=T0, source="alertmanager", name="am-prod"):
    with hub.transaction() as session:
        ident = ingest.store(session, source, name, json.dumps(body).encode(), now)
    return ingest.process(hub, ident, now)


def test_the_room_lists_the_alerts(hub, client):
    alerts = [
        am_alert("r1", f"Payroll API 5xx {EVIL}", service="payroll", severity="critical",
                 pod=f"api-{EVIL}"),
        am_alert("r2", "Payroll DB down", service="payroll", severity="critical"),
    ]  # fmt: skip
    result = feed(hub, am_group("g-room", alerts))
    azure = payload("azure_log")
    azure["data"]["essentials"]["configurationItems"] = ["payroll"]
    feed(hub, azure, T0 + timedelta(minutes=1), source="azure-monitor", name="azure-prod")
    sign_in(client, hub, "anna")
    r = client.get(f"/incidents/{result.incident}")
    assert r.status_code == 200
    html = r.get_data(as_text=True)
    assert '<h2 id="alerts-h">Alerts</h2>' in html
    assert "3 firing" in html
    assert "Payroll DB down" in html and "am-prod" in html and "azure-prod" in html
    assert 'href="http://prometheus.example:9090/graph?g0.expr=up"' in html
    assert "https://portal.azure.com/#blade/Microsoft_Azure_Monitoring" in html
    assert EVIL not in html and "&lt;script&gt;" in html
    assert "first seen" in html and "last seen" in html


def test_review_time_to_detect_counts_from_the_first_alert(hub):
    alert = am_alert("t1", "Payroll down", service="payroll", severity="critical")
    alert["startsAt"] = "2026-12-06T09:52:00Z"  # fired 8 minutes before the notification came
    result = feed(hub, am_group("g-review", [alert]))
    ref = result.incident
    with hub.transaction() as session:
        act(
            session, hub.policy, ref, "anna", "resolve",
            lambda i: operations.resolve(session, hub.policy, i, "Restarted", actor="anna",
                                         now=T0 + timedelta(hours=1)),
            now=T0 + timedelta(hours=1),
        )  # fmt: skip
    assert open_review_now(hub, int(ref.removeprefix("INC-")), T0 + timedelta(hours=1))
    with hub.db.session(write=False) as session:
        incident = session.get(Incident, int(ref.removeprefix("INC-")))
        review = session.scalars(select(Review).where(Review.incident_id == incident.id)).one()
        assert review.metrics["detected_at"].startswith("2026-12-06T09:52:00")
        kinds = [e["kind"] for e in review.timeline]
        assert kinds[0] == "first-alert"
