"""The Teams bridge as a Graph calendar event, against the local Graph fake: made once per
incident (across retries and a worker that dies mid-call), its join URL in the page email and
card, attendees updated when a role changes hands."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from hub.app.models import Incident, IncidentMeeting, Review, Timer
from hub.channels.identity import clear_token_sources
from hub.core.classify import Report
from hub.incidents import operations as ops
from hub.incidents import reports, timer_actions, timers
from hub.incidents.serialize import incident_detail
from hub.policy.load import load_policy
from hub.reviews.publish.jobs import open_review_now
from hub.testing.fakes.microsoft import FakeMicrosoft
from tests.conftest import EXAMPLE_POLICY, build_hub
from tests.workflow_kit import HOOKS, T0, act, declare, fire_due, notes, timeline

ORGANIZER = "bridge@northwind.example"
EVENTS = f"/v1.0/users/{ORGANIZER}/events"


@pytest.fixture
def graph():
    fake = FakeMicrosoft(tenant="t1", clients={"c1": "s1"}).start()
    yield fake
    fake.stop()
    clear_token_sources()


@pytest.fixture
def mhub(backend, graph):
    policy = load_policy(EXAMPLE_POLICY, env=HOOKS)
    the_hub = build_hub(
        backend, policy, HUB_AUTHORITY_HOST=graph.url, HUB_GRAPH_API=f"{graph.url}/v1.0",
        HUB_GRAPH_TENANT_ID="t1", HUB_GRAPH_CLIENT_ID="c1", HUB_GRAPH_CLIENT_SECRET="s1",
        HUB_GRAPH_ORGANIZER=ORGANIZER, HUB_SECRET_KEY="meeting-test", HUB_MAIL_TRANSPORT="sink",
    )  # fmt: skip
    yield the_hub
    the_hub.db.dispose()


def _events(graph) -> list[dict]:
    return list(graph.events.get(ORGANIZER, {}).values())


def _emails(people, policy) -> list[str]:
    return [policy.people[p].email for p in people]


def test_declaration_makes_one_teams_meeting_with_the_role_holders(mhub, graph):
    iid = declare(mhub)
    (event,) = _events(graph)
    assert event["isOnlineMeeting"] is True and event["onlineMeetingProvider"] == "teamsForBusiness"
    join = event["onlineMeeting"]["joinUrl"]
    with mhub.db.session(write=False) as session:
        incident = session.get(Incident, iid)
        holders = [r.person for r in incident.roles if r.active]
        assert incident.plan["bridge_url"] == join
        assert incident_detail(incident, T0)["meeting_url"] == join  # what the API shows
        assert incident.plan["escalation"]  # the plan is still whole
    invited = [a["emailAddress"]["address"] for a in event["attendees"]]
    assert invited == _emails(holders, mhub.policy)
    assert event["subject"].startswith(f"[INC-{iid}]") and event["transactionId"]
    page_mail = notes(mhub, iid, template="page", channel="email")
    assert page_mail and all(join in str(n.payload) for n in page_mail)
    cards = notes(mhub, iid, template="page", channel="teams")
    assert cards and all(join in str(n.payload) for n in cards)
    assert mhub.policy.bridge_url not in str(page_mail[0].payload)
    assert any(join in e.text for e in timeline(mhub, iid, "bridge"))
    assert any(join in e.text for e in timeline(mhub, iid, "notified"))


def test_a_worker_that_dies_after_graph_answered_makes_no_second_meeting(mhub, graph):
    mhub.enqueue = lambda jobs: mhub.enqueued.extend(jobs)  # the declaration is not mobilised yet
    iid = _declare_unmobilised(mhub)
    with mhub.db.session(write=False) as session:
        timer_id = session.scalar(
            select(Timer.id).where(Timer.incident_id == iid, Timer.kind == "mobilise")
        )

    class Died(Exception):
        pass

    with pytest.raises(Died), mhub.transaction() as session:  # Graph made it; the commit never came
        timer = timers.claim(session, timer_id, T0)
        timer_actions.fire(session, mhub.policy, timer, T0)
        raise Died
    assert len(_events(graph)) == 1 and len(graph.event_posts) == 1
    with mhub.db.session(write=False) as session:
        assert session.scalar(select(IncidentMeeting)) is None  # rolled back with everything
    fire_due(mhub, T0 + timedelta(seconds=1))  # the pump finds the mobilise timer again
    assert len(graph.event_posts) == 2
    assert (
        graph.event_posts[0]["body"]["transactionId"]
        == graph.event_posts[1]["body"]["transactionId"]
    )
    (event,) = _events(graph)
    with mhub.db.session(write=False) as session:
        row = session.scalar(select(IncidentMeeting))
        assert (row.state, row.event_id, row.attempts) == ("created", event["id"], 1)
    assert len(notes(mhub, iid, template="page", channel="email")) >= 1


def _declare_unmobilised(the_hub) -> int:
    report = Report(title="Payroll is down", services=("payroll",), impact="outage", source="api",
                    reporter="ivan")  # fmt: skip
    with the_hub.transaction() as session:
        incident, _ = reports.create_incident(session, the_hub.policy, report, actor="ivan", now=T0)
        return incident.id


def test_graph_down_at_declaration_pages_with_the_static_link_then_retries(mhub, graph):
    graph.fail_next(EVENTS, 503)
    iid = declare(mhub)
    assert _events(graph) == []
    page_mail = notes(mhub, iid, template="page", channel="email")
    assert page_mail and mhub.policy.bridge_url in str(page_mail[0].payload)
    assert any("not created yet" in e.text for e in timeline(mhub, iid, "bridge"))
    fired = fire_due(mhub, T0 + timedelta(minutes=1))
    assert fired.get(f"bridge:INC-{iid}:1") == "fired"
    (event,) = _events(graph)
    with mhub.db.session(write=False) as session:
        assert session.get(Incident, iid).plan["bridge_url"] == event["onlineMeeting"]["joinUrl"]
    assert fire_due(mhub, T0 + timedelta(minutes=3)).get(f"bridge:INC-{iid}:2") is None
    assert len(_events(graph)) == 1


def test_a_new_role_holder_is_invited_to_the_bridge(mhub, graph):
    iid = declare(mhub)
    later = T0 + timedelta(minutes=2)
    act(mhub, iid, ops.assign_role, "communications_owner", "hannah", actor="anna", now=later)
    (event,) = _events(graph)
    assert "hannah.becker@northwind.example" not in str(event["attendees"])  # not yet: the worker
    fired = fire_due(mhub, later)
    assert "fired" in fired.values()
    (event,) = _events(graph)
    assert "hannah.becker@northwind.example" in [
        a["emailAddress"]["address"] for a in event["attendees"]
    ]
    assert any("Hannah Becker" in e.text for e in timeline(mhub, iid, "bridge"))
    assert len(graph.event_posts) == 1  # updated, not made again


def test_without_an_organiser_the_static_link_stays(hub, graph):
    iid = declare(hub)
    assert _events(graph) == []
    with hub.db.session(write=False) as session:
        assert "bridge_url" not in session.get(Incident, iid).plan


def test_the_review_meeting_is_booked_in_working_hours_inside_the_window(mhub, graph):
    iid = declare(mhub)  # T0: Monday 2 March 2026, 10:00 in Berlin
    resolved = T0 + timedelta(hours=7)  # 17:00 Berlin: too late for a review that day
    act(mhub, iid, ops.resolve, "Rolled back the change", actor="anna", now=resolved)
    fired = fire_due(mhub, resolved)
    assert fired.get(f"review-meeting:INC-{iid}:{resolved.isoformat()}") == "fired"
    review = [e for e in _events(graph) if e["subject"].startswith("Review:")]
    assert len(review) == 1
    start = datetime.fromisoformat(review[0]["start"]["dateTime"] + "+00:00")
    window = mhub.policy.severity("SEV1").review_within
    assert resolved < start and start + timedelta(hours=1) <= resolved + window
    local = start.astimezone(ZoneInfo("Europe/Berlin"))
    assert (local.weekday(), local.hour, local.minute) == (1, 9, 0)  # Tuesday 09:00
    invited = [a["emailAddress"]["address"] for a in review[0]["attendees"]]
    assert "david.novak@northwind.example" in invited  # the Problem Manager
    assert review[0]["isOnlineMeeting"] is True
    booked = timeline(mhub, iid, "review-meeting")
    assert any("Review meeting booked: Tue 03 Mar 09:00 CET" in e.text for e in booked)
    open_review_now(mhub, iid, resolved)  # the review, opened after the booking, takes it along
    with mhub.db.session(write=False) as session:
        doc = session.scalar(select(Review).where(Review.incident_id == iid))
        assert any(e["kind"] == "review-meeting" and "Tue 03 Mar 09:00 CET" in e["text"]
                   for e in doc.timeline)  # fmt: skip
    assert fire_due(mhub, resolved + timedelta(hours=1)) == {}  # booked once
