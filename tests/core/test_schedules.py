"""Who is on call when: schedules resolved at explicit instants (no clock is read)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from hub.core.escalation import plan_escalation, roster
from hub.core.schedules import Override, gaps, next_shift, oncall_at, shifts
from hub.policy.load import parse_policy
from hub.policy.model import Layer, Schedule

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
DAY, WEEK = timedelta(days=1), timedelta(days=7)


def at(tz: ZoneInfo, *args) -> datetime:
    """A local wall-clock time in `tz`, as UTC."""
    return datetime(*args, tzinfo=tz).astimezone(UTC)


WEEKLY = Layer(people=("anna", "ben", "chloe"), start=date(2026, 1, 5), length=WEEK,
               handoff=time(9), handoff_day=0)  # fmt: skip
NIGHTS = Layer(people=("ivan", "julia"), start=date(2026, 1, 5), length=DAY, handoff=time(8),
               hours=(time(20), time(8)))  # fmt: skip
MIM = Schedule(name="mim", timezone="Europe/Berlin", layers=(WEEKLY, NIGHTS))


@pytest.mark.parametrize(
    ("local", "who"),
    [
        ((2026, 1, 5, 8, 59), None),  # before the first hand-off, and not a night
        ((2026, 1, 5, 9, 0), "anna"),  # Monday 09:00: the first shift
        ((2026, 1, 12, 7, 59), "ivan"),  # the night layer wins at night (the 7th night)
        ((2026, 1, 12, 10, 0), "ben"),  # the second week
        ((2026, 1, 19, 10, 0), "chloe"),
        ((2026, 1, 26, 10, 0), "anna"),  # round again
        ((2026, 1, 5, 20, 0), "ivan"),  # first night: ivan 20:00 → 08:00
        ((2026, 1, 6, 7, 59), "ivan"),
        ((2026, 1, 6, 8, 0), "anna"),  # the day is anna's again
        ((2026, 1, 6, 20, 0), "julia"),  # the next night is julia's
        ((2026, 1, 7, 3, 0), "julia"),
    ],
)
def test_hand_offs_and_restricted_hours(local, who):
    assert oncall_at(MIM, at(BERLIN, *local)) == who


def test_dst_last_sunday_of_march_and_october_in_berlin():
    daily = Schedule("d", "Europe/Berlin", (Layer(("a", "b"), date(2026, 3, 1), DAY, time(8)),))
    # 2026-03-29 02:00 CET → 03:00 CEST; the hand-off stays at 08:00 local (06:00 UTC after).
    assert oncall_at(daily, datetime(2026, 3, 29, 5, 59, tzinfo=UTC)) == oncall_at(
        daily, at(BERLIN, 2026, 3, 28, 12, 0)
    )
    assert at(BERLIN, 2026, 3, 29, 8, 0) == datetime(2026, 3, 29, 6, 0, tzinfo=UTC)
    before, after = (oncall_at(daily, at(BERLIN, 2026, 3, 29, h, m)) for h, m in ((7, 59), (8, 0)))
    assert before != after
    march = shifts(daily, at(BERLIN, 2026, 3, 28, 8), at(BERLIN, 2026, 3, 30, 8))
    assert [s.end - s.start for s in march] == [timedelta(hours=23), timedelta(hours=24)]
    # 2026-10-25 03:00 CEST → 02:00 CET: that night's shift is 25 hours long.
    october = shifts(daily, at(BERLIN, 2026, 10, 24, 8), at(BERLIN, 2026, 10, 26, 8))
    assert [s.end - s.start for s in october] == [timedelta(hours=25), timedelta(hours=24)]
    assert october[0].start == datetime(2026, 10, 24, 6, 0, tzinfo=UTC)
    assert october[1].start == datetime(2026, 10, 25, 7, 0, tzinfo=UTC)


def test_dst_in_a_us_zone_nights_follow_the_wall_clock():
    nights = Layer(("x", "y"), date(2026, 3, 1), DAY, time(7), hours=(time(19), time(7)))
    sched = Schedule("us", "America/New_York", (nights,))
    # 2026-03-08: 02:00 EST → 03:00 EDT. The night from Saturday 19:00 to Sunday 07:00 local.
    night = [s for s in shifts(sched, at(NEW_YORK, 2026, 3, 7, 12), at(NEW_YORK, 2026, 3, 8, 12))
             if s.person]  # fmt: skip
    assert len(night) == 1
    assert night[0].start == at(NEW_YORK, 2026, 3, 7, 19) == datetime(2026, 3, 8, 0, tzinfo=UTC)
    assert night[0].end == at(NEW_YORK, 2026, 3, 8, 7) == datetime(2026, 3, 8, 11, tzinfo=UTC)
    assert night[0].end - night[0].start == timedelta(hours=11)
    # 2026-11-01: 02:00 EDT → 01:00 EST; that night is 13 hours.
    fall = [s for s in shifts(sched, at(NEW_YORK, 2026, 10, 31, 12), at(NEW_YORK, 2026, 11, 1, 12))
            if s.person]  # fmt: skip
    assert fall[0].end - fall[0].start == timedelta(hours=13)
    assert oncall_at(sched, datetime(2026, 11, 1, 5, 30, tzinfo=UTC)) == fall[0].person  # 01:30 EDT
    assert oncall_at(sched, datetime(2026, 11, 1, 6, 30, tzinfo=UTC)) == fall[0].person  # 01:30 EST


def test_follow_the_sun_one_layer_per_region_and_weekdays():
    europe = Layer(("eu1", "eu2"), date(2026, 1, 5), WEEK, time(9), 0, (time(8), time(16)))
    americas = Layer(("us1",), date(2026, 1, 5), WEEK, time(9), 0, (time(16), time(0)))
    apac = Layer(("ap1",), date(2026, 1, 5), WEEK, time(9), 0, (time(0), time(8)),
                 days=(0, 1, 2, 3, 4))  # fmt: skip
    sched = Schedule("sun", "UTC", (europe, americas, apac))
    tz = ZoneInfo("UTC")
    assert oncall_at(sched, at(tz, 2026, 1, 6, 10)) == "eu1"  # Tuesday
    assert oncall_at(sched, at(tz, 2026, 1, 13, 10)) == "eu2"  # next week
    assert oncall_at(sched, at(tz, 2026, 1, 13, 17)) == "us1"
    assert oncall_at(sched, at(tz, 2026, 1, 13, 3)) == "ap1"
    assert oncall_at(sched, at(tz, 2026, 1, 17, 3)) is None  # Saturday: APAC does not cover
    week = gaps(sched, at(tz, 2026, 1, 12, 9), at(tz, 2026, 1, 19, 9))
    assert [(g.start, g.end) for g in week] == [
        (at(tz, 2026, 1, 17, 0), at(tz, 2026, 1, 17, 8)),
        (at(tz, 2026, 1, 18, 0), at(tz, 2026, 1, 18, 8)),
    ]


def test_overrides_and_swaps_win_newest_first():
    t = at(BERLIN, 2026, 1, 13, 10)  # ben's week
    take = Override("mim", "chloe", t - timedelta(hours=1), t + timedelta(hours=3), id=1)
    swap_back = Override("mim", "anna", t, t + timedelta(hours=1), id=2)
    other = Override("other", "julia", t - DAY, t + DAY, id=3)
    assert oncall_at(MIM, t, [take]) == "chloe"
    assert oncall_at(MIM, t, [take, swap_back]) == "anna"
    assert oncall_at(MIM, t, [other]) == "ben"
    assert oncall_at(MIM, t + timedelta(hours=3), [take]) == "ben"  # the end is exclusive
    day = shifts(MIM, at(BERLIN, 2026, 1, 13, 8), at(BERLIN, 2026, 1, 13, 20), [take, swap_back])
    assert [(s.person, s.override) for s in day] == [
        ("ben", False), ("chloe", True), ("anna", True), ("chloe", True), ("ben", False),
    ]  # fmt: skip


def test_gaps_and_override_fills_a_gap():
    start, end = at(BERLIN, 2026, 1, 5, 0), at(BERLIN, 2026, 1, 5, 9)
    assert [(g.start, g.end) for g in gaps(MIM, start, end)] == [(start, end)]
    fill = Override("mim", "ben", start, end)
    assert gaps(MIM, start, end, [fill]) == []


def test_next_person_skips_the_current_one():
    t = at(BERLIN, 2026, 1, 13, 10)  # ben's day; the night is ivan's (the 9th night)
    nxt = next_shift(MIM, t)
    assert nxt.start == at(BERLIN, 2026, 1, 13, 20)
    assert nxt.person == oncall_at(MIM, at(BERLIN, 2026, 1, 13, 21)) == "ivan"
    quiet = Schedule("q", "UTC", (Layer(("solo",), date(2026, 1, 1), WEEK, time(9)),))
    assert next_shift(quiet, at(BERLIN, 2026, 1, 13, 10)) is None  # nobody else in 8 weeks


POLICY = """
timezone: Europe/Berlin
people:
  anna: {email: anna@example.com}
  ben: {email: ben@example.com}
  chloe: {email: chloe@example.com}
  ivan: {email: ivan@example.com}
  julia: {email: julia@example.com}
schedules:
  mim:
    layers:
      - {rotation: weekly, handoff: "mon 09:00", people: [anna, ben, chloe], start: 2026-01-05}
      - {rotation: daily, handoff: "08:00", hours: "20:00-08:00", people: [ivan, julia], start: 2026-01-05}
roles:
  major_incident_manager: [schedule:mim, ben]
severities:
  SEV1: {major: true, ack_within: 5m, update_every: 30m}
default_severity: SEV1
escalation:
  SEV1:
    - {after: 0s, notify: [role:major_incident_manager]}
    - {after: 5m, unless: acknowledged, notify: ["schedule:mim#next"]}
"""


@pytest.mark.parametrize(
    ("local", "paged", "then"),
    [
        ((2026, 1, 13, 10, 0), ["ben"], "ivan"),  # ben on call; the fallback ben is the same
        ((2026, 1, 13, 23, 0), ["ivan", "ben"], "ben"),  # the night person, then the fallback
        ((2026, 1, 20, 10, 0), ["chloe", "ben"], "julia"),
    ],
)
def test_who_is_paged_for_a_declaration_at_an_instant(local, paged, then):
    policy = parse_policy(POLICY)
    declared = at(BERLIN, *local)
    assert list(roster(policy, "major_incident_manager", (), declared)) == paged
    steps = plan_escalation(policy, "SEV1", (), declared)
    assert [t.person for t in steps[0].targets] == paged[:1]
    assert [t.person for t in steps[1].targets] == [then]


def test_an_override_changes_who_a_declaration_pages():
    policy = parse_policy(POLICY)
    declared = at(BERLIN, 2026, 1, 13, 10)
    mine = [Override("mim", "anna", declared - DAY, declared + DAY)]
    steps = plan_escalation(policy, "SEV1", (), declared, mine)
    assert steps[0].targets[0].person == "anna"
