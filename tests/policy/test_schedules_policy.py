"""The schedules section of the policy: read into the model, mistakes located, gaps warned."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest
from click.testing import CliRunner

from hub.cli import main
from hub.cli.config import schedule_gap_warnings
from hub.policy.load import check_policy_text, parse_policy

HEAD = """timezone: Europe/Berlin
people:
  anna: {email: anna@example.com}
  ben: {email: ben@example.com}
severities:
  SEV1: {major: true, ack_within: 5m, update_every: 30m}
default_severity: SEV1
"""
ROLES = "roles:\n  major_incident_manager: [anna]\n"
GOOD = (
    HEAD
    + """schedules:
  mim:
    timezone: America/New_York
    layers:
      - {rotation: weekly, handoff: "tue 10:30", people: [anna, ben], start: 2026-01-05}
      - {rotation: custom, length: 12h, handoff: "08:00", people: [ben], start: 2026-01-05, days: [sat-sun]}
      - {rotation: daily, people: anna, start: 2026-01-05, hours: "22:00-06:00", days: [fri]}
roles:
  major_incident_manager: [schedule:mim, "schedule:mim#next", ben]
escalation:
  SEV1:
    - {after: 0s, notify: [role:major_incident_manager]}
    - {after: 5m, notify: ["schedule:mim#next", "schedule:mim"]}
"""
)


def test_schedules_are_read_into_the_model():
    policy = parse_policy(GOOD)
    mim = policy.schedules["mim"]
    assert mim.timezone == "America/New_York" and mim.line == 9
    weekly, custom, daily = mim.layers
    assert weekly.length == timedelta(days=7) and weekly.handoff == time(10, 30)
    assert weekly.handoff_day == 1 and weekly.start == date(2026, 1, 5)
    assert custom.length == timedelta(hours=12) and custom.days == (5, 6)
    assert daily.people == ("anna",) and daily.hours == (time(22), time(6)) and daily.days == (4,)
    assert policy.roles["major_incident_manager"] == ("schedule:mim", "schedule:mim#next", "ben")


@pytest.mark.parametrize(
    ("change", "line", "field", "message"),
    [
        (("rotation: weekly", "rotation: fortnightly"), 12, "schedules.mim.layers[0].rotation",
         "expected daily, weekly or custom"),
        (('"tue 10:30"', '"tue 25:30"'), 12, "schedules.mim.layers[0].handoff", "a time like"),
        (('"tue 10:30"', '"tux 10:30"'), 12, "schedules.mim.layers[0].handoff", "a weekday"),
        (("people: [anna, ben]", "people: [anna, bob]"), 12, "schedules.mim.layers[0].people[1]",
         "unknown person 'bob'"),
        (("start: 2026-01-05}\n      - {rotation: custom", "start: 5 Jan}\n      - {rotation: custom"),
         12, "schedules.mim.layers[0].start", "a date like"),
        (("length: 12h, ", ""), 13, "schedules.mim.layers[1].length", "required for a custom"),
        (('"22:00-06:00"', '"22:00"'), 14, "schedules.mim.layers[2].hours", "hours like"),
        (("days: [fri]", "days: [fry]"), 14, "schedules.mim.layers[2].days[0]", "a weekday"),
        (("[schedule:mim, ", "[schedule:mom, "), 16, "roles.major_incident_manager[0]",
         "unknown schedule 'mom'; did you mean 'mim'?"),
        (('"schedule:mim#next", "schedule:mim"]', '"schedule:mim#2"]'), 20,
         "escalation.SEV1[1].notify[0]", "schedule:NAME#next"),
        (("timezone: America/New_York", "timezone: Mars/Base"), 10, "schedules.mim.timezone",
         "unknown time zone"),
    ],
)  # fmt: skip
def test_schedule_mistakes_name_line_and_field(change, line, field, message):
    text = GOOD.replace(*change)
    assert text != GOOD
    policy, problems, _ = check_policy_text(text, "policy.yaml", env={})
    assert policy is None
    assert any((p.line, p.field) == (line, field) and message in p.message for p in problems), (
        "\n".join(map(str, problems))
    )


def test_gaps_in_the_next_four_weeks_are_warnings_with_the_line():
    text = (
        HEAD
        + """schedules:
  office:
    layers:
      - {rotation: daily, handoff: "09:00", people: [anna, ben], start: 2026-01-05, hours: "09:00-17:00", days: [mon-fri]}
  always:
    layers:
      - {rotation: weekly, people: [anna, ben], start: 2026-01-05}
"""
        + ROLES
    )
    policy = parse_policy(text, "p.yaml")
    warnings = schedule_gap_warnings(policy, datetime(2026, 3, 2, 12, tzinfo=UTC))
    assert len(warnings) == 1
    assert warnings[0].startswith("p.yaml:9: schedules.office: nobody is on call Mon 02 Mar 17:00")
    assert "in the next 4 weeks" in warnings[0]


def test_policy_check_prints_the_gap_warning(tmp_path, monkeypatch):
    path = tmp_path / "p.yaml"
    path.write_text(
        HEAD
        + """schedules:
  office:
    layers:
      - {rotation: daily, people: [anna], start: 2026-01-05, hours: "09:00-17:00"}
"""
        + ROLES
    )
    monkeypatch.setenv("HUB_DATA_DIR", str(tmp_path / "var"))
    result = CliRunner().invoke(main, ["policy", "check", str(path)])
    assert result.exit_code == 0, result.output
    assert "warning: " in result.output and "schedules.office: nobody is on call" in result.output
    assert "1 schedules" in result.output
