"""Splitting a joined report out: the API, the console and Teams, with both timelines and the
reporter's notice; the rules of who may."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from hub import create_app
from hub.app.models import Incident, Notification
from tests.intake.teams.test_teams_commands import create_token_for
from tests.intake.teams.test_teams_intake import activity, make_hub, post_teams
from tests.web_kit import flashes, post, sign_in


@pytest.fixture
def joined(backend, example_policy):
    """A hub with an ERP outage (Ben's report) that Julia's email report joined:
    (hub, client, call(person, method, path, body), ref, Julia's report id)."""
    hub = make_hub(backend, example_policy)
    client = create_app({"TESTING": True}, hub=hub).test_client()
    tokens: dict[str, str] = {}

    def call(person, method, path, body=None):
        tokens.setdefault(person, create_token_for(hub, person))
        headers = {"Authorization": f"Bearer {tokens[person]}"}
        return client.open(path, method=method, json=body, headers=headers)

    first = call("ben", "POST", "/api/v1/incidents", {"title": "SAP is down", "impact": "outage"})
    assert first.status_code == 201 and first.get_json()["services"] == ["erp"]
    ref = first.get_json()["id"]
    second = call(
        "ben",
        "POST",
        "/api/v1/incidents",
        {"title": "SAP orders screen not working", "reporter": "julia.costa@northwind.example"},
    )
    assert second.status_code == 200 and second.get_json()["correlated"], second.get_json()
    detail = call("ben", "GET", f"/api/v1/incidents/{ref}").get_json()
    report = detail["reports"][1]
    assert report["reporter"] == "julia" and report["title"] == "SAP orders screen not working"
    joined_entry = [e for e in detail["timeline"] if e["kind"] == "report"][-1]
    assert "joined: same service erp, reported as outage, within 10 min" in joined_entry["text"]
    yield hub, client, call, ref, report["id"]
    hub.db.dispose()


def _check_split(hub, ref: str, report_id: int, why: str) -> str:
    """Both timelines say it, the report moved, Julia is told by email; the new ref."""
    with hub.db.session(write=False) as session:
        old = session.scalars(select(Incident).where(Incident.id == int(ref[4:]))).one()
        entry = next(e for e in old.timeline if e.kind == "split")
        new_ref = entry.data["into"]
        new = session.get(Incident, int(new_ref[4:]))
        assert [r.id for r in new.reports] == [report_id]
        assert report_id not in [r.id for r in old.reports]
        assert old.title == "SAP is down"
        assert why in entry.text and new_ref in entry.text
        back = next(e for e in new.timeline if e.kind == "split")
        assert ref in back.text and why in back.text
        assert new.title == "SAP orders screen not working" and new.severity
        notice = session.scalars(
            select(Notification).where(
                Notification.incident_id == new.id, Notification.template == "report-split"
            )
        ).one()
        assert notice.recipient == "julia.costa@northwind.example"
        return new_ref


def test_split_over_the_api(joined):
    hub, _client, call, ref, report = joined
    refused = call("julia", "POST", f"/api/v1/incidents/{ref}/reports/{report}/split", {})
    assert refused.status_code == 403  # splitting is the Major Incident Manager's
    r = call(
        "anna", "POST", f"/api/v1/incidents/{ref}/reports/{report}/split", {"reason": "orders"}
    )
    assert r.status_code == 200, r.get_json()
    new_ref = r.get_json()["split"]["into"]
    assert _check_split(hub, ref, report, "orders") == new_ref
    again = call("anna", "POST", f"/api/v1/incidents/{ref}/reports/{report}/split", {})
    assert again.status_code == 404  # no longer this incident's
    first = call("anna", "GET", f"/api/v1/incidents/{ref}").get_json()["reports"][0]["id"]
    opened = call("anna", "POST", f"/api/v1/incidents/{ref}/reports/{first}/split", {})
    assert (
        opened.status_code == 409 and "opened from report" in opened.get_json()["error"]["message"]
    )


def test_split_in_the_console(joined):
    hub, client, _call, ref, report = joined
    sign_in(client, hub, "anna")
    page = client.get(f"/incidents/{ref}").get_data(as_text=True)
    assert 'id="split-report"' in page and "SAP orders screen not working" in page
    r = post(
        client, f"/incidents/{ref}/split", {"report": str(report), "reason": "the orders screen"}
    )
    assert r.status_code == 303
    assert any("Split out into INC-" in text for _kind, text in flashes(client))
    _check_split(hub, ref, report, "the orders screen")


def test_split_in_teams_and_not_this_by_the_reporter(joined):
    hub, client, call, ref, report = joined
    said = post_teams(
        client, activity(hub.policy, f"split {ref} {report} orders only", who="julia")
    )
    assert said.get_json()["text"].startswith("⛔")
    said = post_teams(client, activity(hub.policy, f"split {ref} {report} orders only", who="anna"))
    assert "Split out" in said.get_json()["text"], said.get_json()
    _check_split(hub, ref, report, "orders only")


def test_not_this_in_teams_splits_the_senders_own_report(joined):
    hub, client, call, ref, report = joined
    said = post_teams(client, activity(hub.policy, f"not this {ref}", who="david"))
    assert "no report joined" in said.get_json()["text"] or said.get_json()["text"].startswith("⛔")
    said = post_teams(client, activity(hub.policy, f"not this {ref}", who="julia"))
    assert "Your report is now its own incident" in said.get_json()["text"], said.get_json()
    _check_split(hub, ref, report, "the reporter says it is a different problem")
