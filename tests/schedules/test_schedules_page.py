"""The console's schedules page: on call now and next, the 4-week timeline, overrides, gaps."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import time_machine

from hub.app.models import ScheduleOverride
from hub.core.schedules import shifts
from hub.policy.load import parse_policy
from hub.policy.model import Layer, Schedule
from hub.web.policy_view import target_text
from hub.web.schedules_page import chart
from tests.web_kit import sign_in, text_of

NOW = datetime(2026, 3, 19, 11, 0, tzinfo=UTC)  # Thursday 12:00 in Berlin: Ben's week


def test_the_page_shows_who_is_on_call_the_timeline_and_overrides(client, hub):
    with hub.db.session() as session:
        session.add(ScheduleOverride(schedule="mim", person="chloe", created_by="ben",
                                     start_at=datetime(2026, 3, 20, 9, tzinfo=UTC),
                                     end_at=datetime(2026, 3, 20, 12, tzinfo=UTC)))  # fmt: skip
    with time_machine.travel(NOW, tick=False):
        sign_in(client, hub, "david")
        r = client.get("/schedules")
    assert r.status_code == 200
    text = text_of(r)
    assert "On call now Ben Okafor" in " ".join(text.split())
    assert "Julia Costa from Thu 19 Mar 20:00 CET" in text
    html = r.get_data(as_text=True)
    assert html.count('<text class="day"') == 29  # 4 weeks of local days, today included
    assert 'class="p' in html and " over" in html  # people's bars, the override outlined
    assert "Fri 20 Mar 10:00 – 13:00 CET Chloe Martin override" in " ".join(text.split())
    assert 'aria-current="page">On call<' in html


def test_the_page_needs_a_signed_in_person(client):
    r = client.get("/schedules")
    assert r.status_code in (302, 303) and "/login" in r.headers["Location"]


def test_gaps_are_drawn_and_listed_and_hostile_names_escaped():
    policy = parse_policy("""
people:
  x: {name: "<script>alert(1)</script>", email: x@example.com}
roles: {major_incident_manager: [x]}
severities: {SEV1: {major: false}}
default_severity: SEV1
""")
    office = Schedule("office", "Europe/Berlin",
                      (Layer(("x",), date(2026, 1, 5), timedelta(days=1), time(9), hours=(time(9), time(17))),))  # fmt: skip
    stretches = shifts(office, NOW, NOW + timedelta(weeks=4))
    svg = str(chart(policy, office, stretches, NOW))
    assert svg.count('class="gap"') >= 28 and "<script>" not in svg
    assert "&lt;script&gt;" in svg


def test_the_policy_page_words_schedule_entries():
    policy = parse_policy("""
people:
  anna: {email: anna@example.com}
  ben: {email: ben@example.com}
schedules:
  mim:
    layers:
      - {rotation: weekly, people: [anna, ben], start: 2026-01-05}
roles: {major_incident_manager: [schedule:mim, ben]}
severities: {SEV1: {major: true, ack_within: 5m, update_every: 30m}}
default_severity: SEV1
""")
    assert target_text(policy, "role:major_incident_manager") == (
        "Major Incident Manager (on call in mim)"
    )
    assert target_text(policy, "role:major_incident_manager#2") == "Major Incident Manager #2 (Ben)"
    assert target_text(policy, "schedule:mim#next") == "next on call in mim"
