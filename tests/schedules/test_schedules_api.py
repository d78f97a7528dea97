"""Schedules over HTTP: who is on call, overrides and swaps, and the iCalendar feeds (two parsers)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import icalendar
import pytest
import time_machine
from ical.calendar_stream import IcsCalendarStream

from hub.core.schedules import HORIZON, oncall_at, shifts

BERLIN = ZoneInfo("Europe/Berlin")
# Ten days before the last Sunday of March: the 4 weeks shown cross the change to summer time.
NOW = datetime(2026, 3, 19, 11, 0, tzinfo=UTC)  # a Thursday, 12:00 in Berlin: ben's week


@pytest.fixture
def call(client, api_caller):
    with time_machine.travel(NOW, tick=False):
        yield api_caller(client)


def test_list_and_show_a_schedule(call, example_policy):
    status, doc = call("GET", "/api/v1/schedules")
    assert status == 200
    (mim,) = doc["schedules"]
    assert mim["name"] == "mim" and mim["oncall_now"] == "ben"
    assert mim["next"] == {"person": "julia", "start": "2026-03-19T19:00:00+00:00"}  # 20:00 CET
    assert "?token=" in mim["ics_url"] and "shifts" not in mim
    status, one = call("GET", "/api/v1/schedules/mim")
    assert status == 200 and one["oncall_now"] == "ben"
    expected = shifts(example_policy.schedules["mim"], NOW, NOW + HORIZON)
    assert [s["person"] for s in one["shifts"]] == [s.person for s in expected]
    assert one["shifts"][0]["start"] == NOW.isoformat()
    assert one["shifts"][-1]["end"] == (NOW + HORIZON).isoformat()
    assert call("GET", "/api/v1/schedules/nope")[0] == 404


def test_override_by_the_person_changes_who_is_on_call(call):
    body = {
        "person": "chloe",
        "start": "2026-03-19T12:00:00+01:00",
        "end": "2026-03-19T18:00:00+01:00",
    }
    status, created = call("POST", "/api/v1/schedules/mim/overrides", person="chloe", json=body)
    assert status == 201 and created["state"] == "active" and created["person"] == "chloe"
    _, doc = call("GET", "/api/v1/schedules/mim")
    assert doc["oncall_now"] == "chloe"
    assert doc["shifts"][0] == {"person": "chloe", "start": NOW.isoformat(),
                                "end": "2026-03-19T17:00:00+00:00", "override": True}  # fmt: skip
    assert [o["id"] for o in doc["overrides"]] == [created["id"]]
    status, removed = call(
        "DELETE", f"/api/v1/schedules/mim/overrides/{created['id']}", person="chloe"
    )
    assert status == 200 and removed["state"] == "removed"
    assert call("GET", "/api/v1/schedules/mim")[1]["oncall_now"] == "ben"


def test_a_swap_waits_for_the_person_taking_the_shift(call):
    body = {
        "person": "ivan",
        "start": "2026-03-20T09:00:00+01:00",
        "end": "2026-03-20T17:00:00+01:00",
    }
    status, offer = call("POST", "/api/v1/schedules/mim/overrides", person="chloe", json=body)
    assert status == 201 and offer["state"] == "proposed"
    at = datetime(2026, 3, 20, 10, tzinfo=BERLIN)
    _, doc = call("GET", "/api/v1/schedules/mim")
    assert not any(s["override"] for s in doc["shifts"])
    path = f"/api/v1/schedules/mim/overrides/{offer['id']}/accept"
    assert call("POST", path, person="chloe")[0] == 403  # not the one taking it
    status, accepted = call("POST", path, person="ivan")
    assert status == 200 and accepted["state"] == "active"
    _, doc = call("GET", "/api/v1/schedules/mim")
    covering = [s for s in doc["shifts"] if s["start"] <= at.astimezone(UTC).isoformat() < s["end"]]
    assert covering[0]["person"] == "ivan" and covering[0]["override"]
    assert call("POST", path, person="ivan")[0] == 409


@pytest.mark.parametrize(
    ("actor", "body", "status", "says"),
    [
        ("david", {"person": "ben"}, 403, "only the person taking the shift"),  # not in it
        ("ben", {"person": "ben", "end": "2026-03-19T10:00:00+01:00"}, 422, "after start"),
        ("ben", {"person": "ben", "start": "tomorrow"}, 422, "ISO 8601"),
        ("ben", {"person": "ben", "start": "2026-03-19T10:00:00"}, 422, "UTC offset"),
        ("ben", {"person": "nobody"}, 422, "unknown person"),
        ("ben", {"person": "ben", "end": "2026-05-19T10:00:00+01:00"}, 422, "at most 31 days"),
        ("ben", {"person": "ben", "start": "2026-03-01T10:00:00+01:00",
                 "end": "2026-03-02T10:00:00+01:00"}, 422, "over already"),
    ],
)  # fmt: skip
def test_bad_overrides_are_refused_with_a_reason(call, actor, body, status, says):
    full = {"start": "2026-03-19T12:00:00+01:00", "end": "2026-03-19T18:00:00+01:00", **body}
    got, doc = call("POST", "/api/v1/schedules/mim/overrides", person=actor, json=full)
    assert got == status and says in doc["error"]["message"], doc


def test_an_admin_may_override_for_anyone(call):
    body = {
        "person": "julia",
        "start": "2026-03-19T12:00:00+01:00",
        "end": "2026-03-19T13:00:00+01:00",
    }
    status, doc = call("POST", "/api/v1/schedules/mim/overrides", person="anna", json=body)
    assert status == 201 and doc["state"] == "active"
    assert call("DELETE", f"/api/v1/schedules/mim/overrides/{doc['id']}", person="david")[0] == 403


def test_the_feed_in_two_parsers_matches_the_schedule_across_dst(call, client, example_policy):
    _, doc = call("GET", "/api/v1/schedules/mim")
    path = doc["ics_url"].split("//", 1)[1].split("/", 1)[1]
    with time_machine.travel(NOW, tick=False):
        r = client.get("/" + path)
    assert r.status_code == 200 and r.mimetype == "text/calendar"
    expected = [s for s in shifts(example_policy.schedules["mim"], NOW, NOW + HORIZON) if s.person]
    cal = icalendar.Calendar.from_ical(r.data)
    events = list(cal.walk("VEVENT"))
    assert len(events) == len(expected)
    assert cal.walk("VTIMEZONE")[0]["TZID"] == "Europe/Berlin"
    names = {k: p.name for k, p in example_policy.people.items()}
    for event, shift in zip(events, expected, strict=True):
        assert event.decoded("dtstart") == shift.start and event.decoded("dtend") == shift.end
        assert str(event["transp"]) == "TRANSPARENT"
        assert str(event["summary"]) == f"On call: {names[shift.person]} (mim)"
    # the day shift after the change keeps 09:00/08:00 local hours in summer time
    after = [e for e in events if e.decoded("dtstart") > datetime(2026, 3, 29, 12, tzinfo=UTC)]
    assert after[0].decoded("dtstart").utcoffset() == timedelta(hours=2)
    second = IcsCalendarStream.calendar_from_ics(r.data.decode())
    assert [(e.dtstart, e.dtend) for e in second.events] == [(s.start, s.end) for s in expected]
    assert {e.transparency for e in second.events} == {"TRANSPARENT"}
    assert len({e.uid for e in second.events}) == len(expected)


def test_feed_urls_are_signed_and_revocable(call, client):
    _, doc = call("GET", "/api/v1/schedules/mim")
    path = "/" + doc["ics_url"].split("//", 1)[1].split("/", 1)[1]
    with time_machine.travel(NOW, tick=False):
        assert client.get(path).status_code == 200
        assert client.get(path[:-3] + "xyz").status_code == 404
        assert client.get("/schedules/mim.ics").status_code == 404
    assert call("POST", "/api/v1/schedules/mim/feed/revoke", person="david")[0] == 403
    status, new = call("POST", "/api/v1/schedules/mim/feed/revoke", person="anna")
    assert status == 200 and new["ics_url"] != doc["ics_url"]
    with time_machine.travel(NOW, tick=False):
        assert client.get(path).status_code == 404
        assert (
            client.get("/" + new["ics_url"].split("//", 1)[1].split("/", 1)[1]).status_code == 200
        )


def test_a_persons_feed_has_their_shifts_only(call, client, example_policy):
    status, new = call("POST", "/api/v1/people/julia/oncall-feed/revoke", person="julia")
    assert status == 200 and "/people/julia/oncall.ics?token=" in new["ics_url"]
    with time_machine.travel(NOW, tick=False):
        r = client.get("/" + new["ics_url"].split("//", 1)[1].split("/", 1)[1])
    events = list(icalendar.Calendar.from_ical(r.data).walk("VEVENT"))
    schedule = example_policy.schedules["mim"]
    assert events and all("Julia Costa" in str(e["summary"]) for e in events)
    assert all(oncall_at(schedule, e.decoded("dtstart")) == "julia" for e in events)
    assert call("POST", "/api/v1/people/julia/oncall-feed/revoke", person="ivan")[0] == 403
