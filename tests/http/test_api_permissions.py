"""Who may act on an incident through the API: the console's rules (hub.core.permissions).

Role holders act within their role, people on duty in the policy's roster as if they held it,
administrators on everything but acknowledging; anyone else gets 403 and nothing changes. A
person the escalation paged for a role may acknowledge, and so takes the role over.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from hub.app.db import utcnow
from hub.app.models import Incident
from tests.workflow_kit import fire_due


@pytest.fixture
def call(client, api_caller):
    return api_caller(client)


def _outsider(policy) -> str:
    """A person of the policy with no role on duty, no service to lead, not an admin."""
    return next(
        k
        for k, p in policy.people.items()
        if not p.admin
        and not any(k in r for r in policy.roles.values())
        and not any(k in s.tech_lead for s in policy.services.values())
    )


def _declare(call, policy, person) -> str:
    svc = next(k for k, s in policy.services.items() if s.critical)
    status, doc = call(
        "POST",
        "/api/v1/incidents",
        person,
        {"title": f"{svc} is down", "services": [svc], "impact": "outage", "correlate": False},
    )
    assert status == 201 and doc["major"], doc
    return doc["id"]


def _state(hub, ref: str) -> tuple:
    with hub.db.session(write=False) as session:
        i = session.get(Incident, int(ref.removeprefix("INC-")))
        return (
            i.state,
            i.severity,
            i.summary,
            i.merged_into_id,
            len(i.timeline),
            sorted((r.role, r.person) for r in i.roles if r.active),
        )


ACTIONS = [
    ("updates", lambda o, other: {"text": "all fine, trust me"}),
    ("roles", lambda o, other: {"role": "major_incident_manager", "person": o}),
    ("classify", lambda o, other: {"severity": "SEV3", "reason": "meh"}),
    ("resolve", lambda o, other: {"summary": "I say so"}),
    ("close", lambda o, other: {"reason": "done"}),
    ("merge", lambda o, other: {"into": other}),
    ("cancel", lambda o, other: {"reason": "false alarm"}),
]


@pytest.mark.parametrize(("action", "body"), ACTIONS, ids=[a for a, _b in ACTIONS])
def test_people_without_a_role_cannot_act(call, hub, example_policy, action, body):
    reporter = example_policy.roles["communications_owner"][0]
    outsider = _outsider(example_policy)
    ref = _declare(call, example_policy, reporter)
    other = _declare(call, example_policy, reporter)
    before = _state(hub, ref)
    status, doc = call("POST", f"/api/v1/incidents/{ref}/{action}", outsider, body(outsider, other))
    assert status == 403, doc
    assert doc["error"]["code"] == "forbidden" and ref in doc["error"]["message"]
    assert _state(hub, ref) == before  # nothing was written


def test_role_holders_act_within_their_role(call, example_policy):
    mim = example_policy.roles["major_incident_manager"][0]
    comms = example_policy.roles["communications_owner"][0]
    ref = _declare(call, example_policy, comms)
    # the Communications Owner posts updates, but neither re-classifies nor resolves
    assert call("POST", f"/api/v1/incidents/{ref}/updates", comms, {"text": "on it"})[0] == 200
    status, doc = call(
        "POST",
        f"/api/v1/incidents/{ref}/classify",
        comms,
        {"severity": "SEV3", "reason": "smaller than it looked"},
    )
    assert status == 403 and "Major Incident Manager" in doc["error"]["message"]
    assert call("POST", f"/api/v1/incidents/{ref}/resolve", comms, {"summary": "x"})[0] == 403
    # the Major Incident Manager does both
    status, doc = call(
        "POST",
        f"/api/v1/incidents/{ref}/classify",
        mim,
        {"severity": "SEV2", "reason": "one site only"},
    )
    assert status == 200 and doc["severity"] == "SEV2"
    status, doc = call("POST", f"/api/v1/incidents/{ref}/resolve", mim, {"summary": "fixed"})
    assert status == 200 and doc["state"] == "resolved"


def test_a_reporter_may_cancel_their_own_false_alarm(call, example_policy):
    reporter = _outsider(example_policy)
    status, doc = call(
        "POST",
        "/api/v1/incidents",
        reporter,
        {"title": "printer says PC LOAD LETTER", "impact": "minor"},
    )
    assert status == 201 and not doc["major"]
    status, doc = call(
        "POST", f"/api/v1/incidents/{doc['id']}/cancel", reporter, {"reason": "it was out of paper"}
    )
    assert status == 200 and doc["state"] == "cancelled"


def test_the_escalation_s_next_person_acknowledges_and_takes_the_role(call, hub, example_policy):
    """The first Major Incident Manager does not answer; the escalation pages the second, who
    acknowledges from the page: they become the Major Incident Manager and it mobilises."""
    first, second = example_policy.roles["major_incident_manager"][:2]
    outsider = _outsider(example_policy)
    ref = _declare(call, example_policy, example_policy.roles["communications_owner"][0])
    status, doc = call("POST", f"/api/v1/incidents/{ref}/acknowledge", second, {})
    assert status == 403, doc  # not paged yet: the first MIM holds the role
    fire_due(hub, utcnow() + timedelta(minutes=6))  # SEV1's step 1 is due after 5 minutes
    with hub.db.session(write=False) as session:
        incident = session.get(Incident, int(ref.removeprefix("INC-")))
        paged = [
            p for e in incident.timeline if e.kind == "escalated" for p in e.data.get("paged", [])
        ]
    assert [second, "major_incident_manager"] in paged, paged
    status, doc = call("POST", f"/api/v1/incidents/{ref}/acknowledge", second, {})
    assert status == 200, doc
    assert doc["acknowledged"] == ["major_incident_manager"] and doc["state"] == "mobilised"
    assert {"role": "major_incident_manager", "person": second} in [
        {"role": r["role"], "person": r["person"]} for r in doc["roles"]
    ]
    assert first not in [r["person"] for r in doc["roles"] if r["role"] == "major_incident_manager"]
    assert any("took the role by acknowledging" in e["text"] for e in doc["timeline"])
    # someone never paged still may not
    status, doc = call("POST", f"/api/v1/incidents/{ref}/acknowledge", outsider, {})
    assert status == 403 and "paged" in doc["error"]["message"]
    # nor may the first, paged earlier: the role has been taken since, the old page is spent
    status, doc = call("POST", f"/api/v1/incidents/{ref}/acknowledge", first, {})
    assert status == 403, doc


def test_a_page_is_spent_once_the_role_is_given_to_someone_else(call, example_policy):
    """The MIM gives the Technical Lead role to another person: the tech lead paged at the
    declaration can no longer take it back by acknowledging that page."""
    mim = example_policy.roles["major_incident_manager"][0]
    ref = _declare(call, example_policy, example_policy.roles["communications_owner"][0])
    status, doc = call("GET", f"/api/v1/incidents/{ref}", mim)
    paged_lead = next(r["person"] for r in doc["roles"] if r["role"] == "tech_lead")
    new_lead = next(k for k in example_policy.people if k not in (paged_lead, mim))
    status, doc = call(
        "POST", f"/api/v1/incidents/{ref}/roles", mim, {"role": "tech_lead", "person": new_lead}
    )
    assert status == 200, doc
    status, doc = call("POST", f"/api/v1/incidents/{ref}/acknowledge", paged_lead, {})
    assert status == 403, doc
    status, doc = call("GET", f"/api/v1/incidents/{ref}", mim)
    assert [r["person"] for r in doc["roles"] if r["role"] == "tech_lead"] == [new_lead]


def test_a_service_s_tech_lead_resolves_its_minor_incident(call, example_policy):
    """A minor incident has no roles: the tech lead of its service (in the catalogue, not on
    the roster) resolves it; a tech lead of another service may not."""
    svc, service = next(
        (k, s)
        for k, s in example_policy.services.items()
        if s.tech_lead and s.tech_lead[0] not in example_policy.roles["tech_lead"]
    )
    lead = service.tech_lead[0]
    other = next(
        p
        for k, s in example_policy.services.items()
        if k != svc
        for p in s.tech_lead
        if p not in service.tech_lead
        and p not in example_policy.roles["tech_lead"]
        and not example_policy.people[p].admin
        and not any(p in r for r in example_policy.roles.values())
    )
    status, doc = call(
        "POST",
        "/api/v1/incidents",
        _outsider(example_policy),
        {"title": f"{svc} shows a typo", "services": [svc], "impact": "minor", "correlate": False},
    )
    assert status == 201 and not doc["major"], doc
    ref = doc["id"]
    status, doc = call("POST", f"/api/v1/incidents/{ref}/resolve", other, {"summary": "x"})
    assert status == 403, doc
    status, doc = call("POST", f"/api/v1/incidents/{ref}/resolve", lead, {"summary": "fixed"})
    assert status == 200 and doc["state"] == "resolved", doc


def test_a_reporter_may_not_cancel_what_others_have_confirmed(call, example_policy):
    """Once someone else reported the same thing, it is no longer one person's false alarm."""
    plain = [
        k
        for k, p in example_policy.people.items()
        if not p.admin
        and not any(k in r for r in example_policy.roles.values())
        and not any(k in s.tech_lead for s in example_policy.services.values())
    ]
    first = plain[0]
    second = next(k for k in example_policy.people if k != first)
    svc = next(k for k, s in example_policy.services.items() if not s.critical)
    body = {"title": f"{svc} acting up", "services": [svc], "impact": "minor"}
    status, doc = call("POST", "/api/v1/incidents", first, body)
    assert status == 201, doc
    status, again = call("POST", "/api/v1/incidents", second, body)
    assert status == 200 and again["correlated"] and again["id"] == doc["id"], again
    status, answer = call(
        "POST", f"/api/v1/incidents/{doc['id']}/cancel", first, {"reason": "it was me"}
    )
    assert status == 403, answer
    assert "may cancel" in answer["error"]["message"]


def test_accepting_the_severity_re_plans_nothing(call, hub, example_policy):
    """The MIM confirms SEV1 as classified: recorded, but no timer is cancelled or added."""
    from hub.app.models import Timer

    mim = example_policy.roles["major_incident_manager"][0]
    ref = _declare(call, example_policy, example_policy.roles["communications_owner"][0])

    def timers():
        with hub.db.session(write=False) as session:
            return sorted(
                (t.key, t.state)
                for t in session.query(Timer).filter(
                    Timer.incident_id == int(ref.removeprefix("INC-"))
                )
            )

    before = timers()
    status, doc = call(
        "POST",
        f"/api/v1/incidents/{ref}/classify",
        mim,
        {"severity": "sev1", "reason": "confirmed on the bridge"},
    )
    assert status == 200 and doc["severity"] == "SEV1", doc
    assert doc["rule"] != "manual"  # the rule that decided SEV1 still stands
    assert any("confirmed on the bridge" in e["text"] for e in doc["timeline"])
    assert timers() == before


def test_a_correlated_report_raises_the_known_impact(call, example_policy):
    """A minor report, then an outage of the same service: the incident says outage."""
    svc = next(k for k, s in example_policy.services.items() if not s.critical)
    people = list(example_policy.people)
    status, doc = call(
        "POST",
        "/api/v1/incidents",
        people[0],
        {"title": f"{svc} a bit off", "services": [svc], "impact": "minor"},
    )
    assert status == 201 and doc["impact"] == "minor"
    status, doc = call(
        "POST",
        "/api/v1/incidents",
        people[1],
        {"title": f"{svc} is down", "services": [svc], "impact": "outage", "affected_users": 40},
    )
    assert status == 200 and doc["correlated"], doc
    assert (doc["impact"], doc["affected_users"]) == ("outage", 40)
    status, doc = call(
        "POST",
        "/api/v1/incidents",
        people[2],
        {"title": f"{svc} slow", "services": [svc], "impact": "degraded", "affected_users": 5},
    )
    assert (doc["impact"], doc["affected_users"]) == ("outage", 40)  # never lowered


def test_the_timeline_says_where_each_role_holder_came_from(call, example_policy):
    svc, service = next(
        (k, s) for k, s in example_policy.services.items() if s.critical and s.tech_lead
    )
    lead = example_policy.people[service.tech_lead[0]].name
    mim = example_policy.people[example_policy.roles["major_incident_manager"][0]].name
    status, doc = call(
        "POST",
        "/api/v1/incidents",
        example_policy.roles["communications_owner"][0],
        {"title": f"{svc} down", "services": [svc], "impact": "outage"},
    )
    status, doc = call("GET", f"/api/v1/incidents/{doc['id']}", service.tech_lead[0])
    texts = [e["text"] for e in doc["timeline"] if e["kind"] == "role"]
    assert f"Tech lead: {lead} (tech lead of {service.name})" in texts, texts
    assert f"Major incident manager: {mim} (from the roster)" in texts, texts


def test_a_page_is_spent_once_the_holder_acknowledges(call, hub, example_policy):
    """The escalation pages the second MIM, then the first answers after all: the second
    can no longer take the role from them by acknowledging the page."""
    first, second = example_policy.roles["major_incident_manager"][:2]
    ref = _declare(call, example_policy, example_policy.roles["communications_owner"][0])
    fire_due(hub, utcnow() + timedelta(minutes=6))
    status, doc = call("POST", f"/api/v1/incidents/{ref}/acknowledge", first, {})
    assert status == 200 and doc["acknowledged"] == ["major_incident_manager"], doc
    status, doc = call("POST", f"/api/v1/incidents/{ref}/acknowledge", second, {})
    assert status == 403, doc
    status, doc = call("GET", f"/api/v1/incidents/{ref}", first)
    assert [r["person"] for r in doc["roles"] if r["role"] == "major_incident_manager"] == [first]
