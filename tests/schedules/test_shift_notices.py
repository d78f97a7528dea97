"""Shift notices: an hour before a shift and at the hand-off, listing the open major incidents
the person inherits; sent once whatever the ticks; nothing on a quiet hand-off."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hub.app.context import Hub
from hub.core.schedules import oncall_at
from hub.policy.load import load_policy
from hub.ticker import shift_notices, tick
from tests.conftest import record_wakeups
from tests.workflow_kit import HOOKS, declare, notes

# Monday 2 March 2026. Berlin is UTC+1: the night layer (20:00-08:00) starts 19:00 UTC.
EVENING = datetime(2026, 3, 2, 18, 30, tzinfo=UTC)  # 19:30 Berlin, 30 min before the night


def test_an_hour_before_and_at_hand_off_once(hub, example_policy):
    wired = Hub(hub.settings, policy=load_policy(example_policy.source, env=HOOKS), db=hub.db)
    record_wakeups(wired)  # real renderers: the notice is read as people get it
    assert shift_notices(wired, EVENING) == 0  # nothing open: nothing to hand over
    first = declare(wired, now=EVENING - timedelta(hours=2))
    second = declare(wired, now=EVENING - timedelta(hours=1), title="Payroll down again")
    night = oncall_at(example_policy.schedules["mim"], EVENING + timedelta(hours=1))
    assert night in ("ivan", "julia")
    assert shift_notices(wired, EVENING) >= 1
    assert shift_notices(wired, EVENING + timedelta(minutes=1)) == 0  # the same notice: once
    mail = [r for r in notes(wired, second, template="shift-notice", channel="email")]
    assert [r.recipient for r in mail] == [example_policy.people[night].email]
    text = mail[0].payload["text"]
    assert "ON CALL FROM Mon 02 Mar 20:00 CET: mim, until Tue 03 Mar 08:00 CET" in text
    assert f"INC-{second} SEV1" in text and f"INC-{first} SEV1" in text
    assert "(from Chloe Martin)" in text  # the week of Monday 2 March is Chloe's
    at = EVENING + timedelta(minutes=31)  # 20:01 Berlin: the hand-off itself
    assert tick(wired, at)["shift_notices"] >= 1
    assert tick(wired, at + timedelta(minutes=1))["shift_notices"] == 0
    keys = sorted(r.key for r in notes(wired, second, template="shift-notice"))
    assert any(":soon|" in k for k in keys) and any(":now|" in k for k in keys)
    assert len(keys) == len(set(keys))
