"""The service desk's cases through the API: joined only for the same problem, linked as
possibly related on both timelines otherwise, explicit unknown services refused."""

from __future__ import annotations

import pytest

from hub import create_app
from tests.classification.evaluate import set_policy
from tests.conftest import build_hub
from tests.intake.teams.test_teams_commands import create_token_for


@pytest.fixture
def api(backend):
    """call(method, path, body) as Ben, on a hub with the labelled set's policy."""
    hub = build_hub(backend, set_policy())
    client = create_app({"TESTING": True}, hub=hub).test_client()
    headers = {"Authorization": f"Bearer {create_token_for(hub, 'ben')}"}

    def call(method, path, body=None):
        return client.open(path, method=method, json=body, headers=headers)

    yield call
    hub.db.dispose()


def _create(call, title, text="", **extra):
    r = call("POST", "/api/v1/incidents", {"title": title, "description": text, **extra})
    assert r.status_code in (200, 201), r.get_json()
    return r.get_json()


def _timeline(call, ref):
    return call("GET", f"/api/v1/incidents/{ref}").get_json()["timeline"]


def test_a_website_outage_does_not_join_or_rename_the_outlook_incident(api):
    outlook = _create(api, "Outlook calendar sync slow", "Meetings show up an hour late.")
    assert (outlook["services"], outlook["severity"]) == (["email"], "SEV3")
    website = _create(
        api, "Website homepage down", "I got a mail from a customer that the website is down."
    )
    assert website["correlated"] is False and website["services"] == ["website"]
    again = api("GET", f"/api/v1/incidents/{outlook['id']}").get_json()
    assert (again["title"], again["severity"]) == ("Outlook calendar sync slow", "SEV3")
    assert all(e["kind"] != "report" for e in again["timeline"])


def test_outlook_reports_never_join_the_phishing_incident_and_security_stays_apart(api):
    phishing = _create(api, "Phishing email - two people entered their passwords")
    assert phishing["severity"] == "SEV1" and phishing["security"] is True
    outlook = _create(api, "Outlook keeps disconnecting")
    assert outlook["correlated"] is False and outlook["security"] is False
    second = _create(api, "Outlook disconnects every few minutes")
    assert second["correlated"] is True and second["id"] == outlook["id"]
    another = _create(api, "Is this phishing?", "A mail asking to revalidate my account.")
    assert another["correlated"] is True and another["id"] == phishing["id"]
    joined = [e for e in _timeline(api, phishing["id"]) if e["kind"] == "report"]
    assert "same kind of security report (phishing), within 10 min" in joined[0]["text"]


def test_a_security_report_about_email_opens_its_own_incident_linked_both_ways(api):
    ordinary = _create(api, "Outlook search not working")
    security = _create(api, "Compromised mailbox", "The mailbox of j.doe was compromised.")
    assert security["correlated"] is False and security["security"] is True
    assert security["services"] == ["email"]
    mine = [e["text"] for e in _timeline(api, security["id"]) if e["kind"] == "related"]
    theirs = [e["text"] for e in _timeline(api, ordinary["id"]) if e["kind"] == "related"]
    assert mine == [
        f"Possibly related to {ordinary['id']} (Outlook search not working): both about email; "
        "one is a security report"
    ]
    assert theirs == [
        f"Possibly related: {security['id']} (Compromised mailbox) opened: both about email; "
        "one is a security report"
    ]


def test_the_hr_portal_is_not_the_customer_portal(api):
    hr = _create(api, "HR portal not loading", "Blank page after login for everyone in HR.")
    assert hr["services"] == ["hr-portal"] and hr["severity"] == "SEV4"


def test_an_unknown_explicit_service_is_refused_with_did_you_mean(api):
    r = api("POST", "/api/v1/incidents", {"title": "Payroll down", "services": ["payrol"]})
    assert r.status_code == 422
    message = r.get_json()["error"]["message"]
    assert message.startswith("unknown service 'payrol' (did you mean 'payroll'?)"), message
    assert "payroll (payroll, adp, salary, payslip)" in message
    assert api("GET", "/api/v1/incidents").get_json()["incidents"] == []


def test_a_report_never_joins_an_incident_resolved_earlier_in_the_same_transaction(backend):
    """Correlation reads the open incidents without flushing the session first, except when
    the session changed what it reads: an incident resolved a moment before, not yet
    written, is not open any more."""
    from datetime import UTC, datetime

    from hub.core.classify import Report
    from hub.incidents.records import transition
    from hub.incidents.reports import create_incident

    hub = build_hub(backend, set_policy())
    now = datetime.now(UTC)
    try:
        with hub.transaction() as session:
            first, created = create_incident(
                session, hub.policy, Report("VPN drops every minute", reporter="ben"),
                actor="ben", now=now,
            )  # fmt: skip
            assert created and first.services == ["vpn"]
            again, created = create_incident(
                session, hub.policy, Report("VPN keeps dropping", reporter="chloe"),
                actor="chloe", now=now,
            )  # fmt: skip
            assert (again.id, created) == (first.id, False)  # open: the report joins it
            transition(first, "resolve", "fixed")  # not flushed yet
            later, created = create_incident(
                session, hub.policy, Report("VPN down again", reporter="dave"),
                actor="dave", now=now,
            )  # fmt: skip
            assert created and later.id != first.id
    finally:
        hub.db.dispose()
