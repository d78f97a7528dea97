"""Timers driven by an explicit clock: escalation, cadence, SLA marks, resolution, claims."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from workflow_kit import (
    T0,
    act,
    declare,
    fire_due,
    minutes,
    notes,
    pending_timers,
    timeline,
)

from hub.core import cadence, sla
from hub.incidents import classification, records
from hub.incidents import operations as ops

# --- pure tables -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("severity", "number", "due", "remind"),
    [
        ("SEV1", 1, minutes(15), minutes(12)),  # first_update_within 15m; 20% = 3m < 5m
        ("SEV1", 2, minutes(30), minutes(25)),  # update_every 30m; 5m < 6m
        ("SEV2", 1, minutes(60), minutes(55)),  # no first_update_within: the cadence
    ],
)
def test_cycle_table(example_policy, severity, number, due, remind):
    cycle = cadence.plan_cycle(example_policy.severity(severity), number, T0)
    assert (cycle.due_at - T0, cycle.remind_at - T0) == (due, remind)


def test_cycle_none_without_cadence(example_policy):
    assert cadence.plan_cycle(example_policy.severity("SEV3"), 1, T0) is None


def test_after_no_change_keeps_rhythm_unless_very_late(example_policy):
    sev1 = example_policy.severity("SEV1")
    cycle = cadence.plan_cycle(sev1, 1, T0)
    on_time = cadence.after_no_change(sev1, cycle, cycle.due_at + timedelta(seconds=1))
    assert (on_time.number, on_time.due_at - T0) == (2, minutes(45))
    late = cadence.after_no_change(sev1, cycle, T0 + minutes(50))
    assert late.due_at == T0 + minutes(80)


@pytest.mark.parametrize(
    ("last", "expected"),
    [(None, True), (T0 - minutes(1), True), (T0, True), (T0 + minutes(1), False)],
)
def test_needs_no_change(last, expected):
    assert cadence.needs_no_change(T0, last) is expected


def test_sla_marks(example_policy):
    marks = sla.plan_slas(example_policy.severity("SEV1"), T0, (0.5, 0.8))
    table = [(m.kind, m.percent, m.at - T0, m.breached) for m in marks]
    assert table == [
        ("ack", 50, timedelta(seconds=150), False),
        ("ack", 80, minutes(4), False),
        ("ack", 100, minutes(5), True),
        ("resolve", 50, minutes(120), False),
        ("resolve", 80, minutes(192), False),
        ("resolve", 100, minutes(240), True),
    ]
    review = sla.review_marks(example_policy.severity("SEV1"), T0, (0.5,))
    assert [(m.percent, m.at - T0) for m in review] == [
        (50, minutes(24 * 60)),
        (100, minutes(48 * 60)),
    ]
    assert sla.percent_used(T0, T0 + minutes(10), T0 + minutes(8)) == pytest.approx(80)


def test_sla_replan_after_upgrade_fires_only_the_highest_passed(example_policy):
    sev1 = example_policy.severity("SEV1")
    now = T0 + minutes(8)  # SEV2 (15m ack) 50% fired at 7.5m; now SEV1 (5m ack)
    marks = sla.replan(sla.plan_slas(sev1, T0, (0.5, 0.8)), {("ack", 50)}, now)
    assert [(m.kind, m.percent, m.at) for m in marks if m.kind == "ack"] == [("ack", 100, now)]
    assert [m.percent for m in marks if m.kind == "resolve"] == [50, 80, 100]


def test_sla_replan_after_downgrade_skips_lower_marks(example_policy):
    sev2 = example_policy.severity("SEV2")
    marks = sla.replan(sla.plan_slas(sev2, T0, (0.5, 0.8)), {("ack", 80)}, T0 + minutes(4))
    assert [(m.kind, m.percent) for m in marks if m.kind == "ack"] == [("ack", 100)]


# --- in the database, with an explicit clock ---------------------------------------------


def _ref(incident_id: int) -> str:
    return f"INC-{incident_id}"


def test_declaration_writes_every_timer_and_no_queue_write(wired):
    iid = declare(wired)
    ref = _ref(iid)
    timers = pending_timers(wired, iid)
    assert set(timers) == {
        f"escalate:{ref}:1",
        f"escalate:{ref}:2",
        f"sla:{ref}:ack:50",
        f"sla:{ref}:ack:80",
        f"sla:{ref}:ack:100",
        f"sla:{ref}:resolve:50",
        f"sla:{ref}:resolve:80",
        f"sla:{ref}:resolve:100",
        f"update-reminder:{ref}:1",
        f"update-due:{ref}:1",
        # the checklists' deadlines (tasks 4 and 5 are runbook steps, with none)
        f"task-late:{ref}:1",
        f"task-late:{ref}:2",
        f"task-late:{ref}:3",
        f"task-late:{ref}:6",
    }
    assert timers[f"escalate:{ref}:2"].due_at == T0 + minutes(15)
    assert timers[f"update-due:{ref}:1"].due_at == T0 + minutes(15)
    assert timers[f"update-reminder:{ref}:1"].due_at == T0 + minutes(12)
    assert wired.enqueued_at == []  # the database is the schedule: the worker's pump reads it


def test_every_escalation_step_fires_when_due(wired):
    iid = declare(wired)
    ref = _ref(iid)
    assert f"escalate:{ref}:1" not in fire_due(wired, T0 + minutes(5) - timedelta(seconds=1))
    assert fire_due(wired, T0 + minutes(5))[f"escalate:{ref}:1"] == "fired"
    step1 = notes(wired, iid, template="escalation")
    assert {(n.channel, n.recipient) for n in step1} == {
        ("email", "ben.okafor@northwind.example"),
        ("teams", "ben"),
        ("email", "david.novak@northwind.example"),
        ("teams", "david"),
    }
    assert all(n.key.startswith(f"escalate:{ref}:1|") for n in step1)
    assert "step 1" in timeline(wired, iid, "escalated")[0].text
    assert fire_due(wired, T0 + minutes(15))[f"escalate:{ref}:2"] == "fired"
    step2 = {n.recipient for n in notes(wired, iid, template="escalation")} - {
        n.recipient for n in step1
    }
    assert step2 == {"julia.costa@northwind.example", "julia"}
    assert [e.data["step"] for e in timeline(wired, iid, "escalated")] == [1, 2]
    assert fire_due(wired, T0 + minutes(16)) == {}  # nothing fires twice


def test_full_ack_stops_every_escalation(wired):
    iid = declare(wired)
    act(wired, iid, ops.acknowledge, now=T0 + minutes(1), actor="anna")
    act(wired, iid, ops.acknowledge, now=T0 + minutes(2), actor="elif")
    assert not [k for k in pending_timers(wired, iid) if k.startswith("escalate:")]
    assert not [k for k in pending_timers(wired, iid) if k.startswith(f"sla:{_ref(iid)}:ack")]
    fire_due(wired, T0 + minutes(20))
    assert notes(wired, iid, template="escalation") == []
    assert timeline(wired, iid, "escalated") == []


def test_mim_ack_leaves_the_unacknowledged_role_escalating(wired):
    iid = declare(wired)
    ref = _ref(iid)
    act(wired, iid, ops.acknowledge, now=T0 + minutes(1), actor="anna")
    left = pending_timers(wired, iid)
    assert f"escalate:{ref}:1" in left and f"escalate:{ref}:2" not in left
    fire_due(wired, T0 + minutes(5))
    assert {n.recipient for n in notes(wired, iid, template="escalation")} == {
        "david",
        "david.novak@northwind.example",
    }  # not ben: the MIM acknowledged


def test_ack_after_claim_time_but_before_firing_cancels_at_fire(wired):
    iid = declare(wired)
    # The timer stays pending (no one cancelled it), but the DB says acknowledged by then.
    with wired.transaction() as session:
        incident = records.get_incident(session, iid)
        for role in incident.roles:
            role.acknowledged_at = T0 + minutes(1)
    outcome = fire_due(wired, T0 + minutes(5))
    assert outcome[f"escalate:{_ref(iid)}:1"] == "cancelled"
    assert notes(wired, iid, template="escalation") == []


def test_reminder_then_no_change_update(wired):
    iid = declare(wired)
    ref = _ref(iid)
    assert fire_due(wired, T0 + minutes(12))[f"update-reminder:{ref}:1"] == "fired"
    reminder = notes(wired, iid, template="update-reminder")
    assert {n.recipient for n in reminder} == {"chloe", "chloe.martin@northwind.example"}
    assert [n.payload["next"] for n in reminder if n.channel == "email"] == ["10:15 CET"]
    reminders = [e.text for e in timeline(wired, iid, "reminder") if "stakeholder" in e.text]
    assert reminders[0] == "Reminded Chloe Martin: stakeholder update due at 10:15 CET"
    assert fire_due(wired, T0 + minutes(15))[f"update-due:{ref}:1"] == "fired"
    auto = notes(wired, iid, template="no-change-update", channel="email")
    assert {n.recipient for n in auto} == {
        "exec-team@northwind.example",
        "it-staff@northwind.example",
        "servicedesk@northwind.example",
        "all-staff@northwind.example",
    }
    assert auto[0].payload["next"] == "10:45 CET"
    hooks = notes(wired, iid, template="no-change-update", channel="teams")
    assert len(hooks) == 4  # three audience channels and the responders' channel
    assert timeline(wired, iid, "update-auto")[0].text == (
        "No change since 10:00 CET — next update at 10:45 CET"
    )
    timers = pending_timers(wired, iid)
    assert timers[f"update-due:{ref}:2"].due_at == T0 + minutes(45)
    assert timers[f"update-reminder:{ref}:2"].due_at == T0 + minutes(40)


def test_posting_an_update_reschedules_the_cadence(wired):
    iid = declare(wired)
    ref = _ref(iid)
    act(wired, iid, ops.post_update, "Failover started", now=T0 + minutes(10), actor="chloe")
    sent = notes(wired, iid, template="stakeholder-update", channel="email")
    assert len(sent) == 4 and sent[0].payload["next"] == "10:40 CET"
    assert sent[0].payload["update"]["text"] == "Failover started"
    timers = pending_timers(wired, iid)
    assert f"update-due:{ref}:1" not in timers and f"update-reminder:{ref}:1" not in timers
    assert timers[f"update-due:{ref}:2"].due_at == T0 + minutes(40)
    assert timers[f"update-reminder:{ref}:2"].due_at == T0 + minutes(35)
    fired = fire_due(wired, T0 + minutes(16))
    assert not [k for k in fired if k.startswith("update-")]
    assert notes(wired, iid, template="no-change-update") == []


def test_sla_warnings_and_breach_on_timeline_and_paged(wired):
    iid = declare(wired)
    ref = _ref(iid)
    for at, percent in ((timedelta(seconds=150), 50), (minutes(4), 80), (minutes(5), 100)):
        assert fire_due(wired, T0 + at)[f"sla:{ref}:ack:{percent}"] == "fired"
    entries = timeline(wired, iid, "sla-warning") + timeline(wired, iid, "sla-breach")
    assert [(e.data["sla"], e.data["percent"]) for e in entries] == [
        ("ack", 50),
        ("ack", 80),
        ("ack", 100),
    ]
    assert "missed" in entries[-1].text
    warnings = notes(wired, iid, template="sla-warning")
    assert {n.recipient for n in warnings} == {"anna", "anna.schmidt@northwind.example"}
    assert [n.payload["sla"]["percent"] for n in warnings if n.channel == "email"] == [50, 80]
    breach = notes(wired, iid, template="sla-breach", channel="email")
    assert breach[0].payload["sla"]["breached"] is True
    act(wired, iid, ops.acknowledge, now=T0 + minutes(6), actor="anna")
    for at, percent in ((minutes(120), 50), (minutes(192), 80), (minutes(240), 100)):
        assert fire_due(wired, T0 + at)[f"sla:{ref}:resolve:{percent}"] == "fired"
    assert [e.data["percent"] for e in timeline(wired, iid, "sla-breach")] == [100, 100]


def test_resolution_cancels_everything_and_starts_the_review_clock(wired):
    iid = declare(wired)
    ref = _ref(iid)
    act(wired, iid, ops.resolve, "Rolled back the release", now=T0 + minutes(3), actor="anna")
    assert set(pending_timers(wired, iid)) == {
        f"sla:{ref}:review:50",
        f"sla:{ref}:review:80",
        f"sla:{ref}:review:100",
    }
    before = len(notes(wired, iid))
    fired = fire_due(wired, T0 + minutes(300))
    assert fired == {} and len(notes(wired, iid)) == before
    resolved = notes(wired, iid, template="resolved")
    assert "exec-team@northwind.example" in {n.recipient for n in resolved}
    assert fire_due(wired, T0 + minutes(3 + 24 * 60))[f"sla:{ref}:review:50"] == "fired"
    paged = {n.recipient for n in notes(wired, iid, template="sla-warning")}
    assert {"david", "anna"} <= paged  # the Problem Manager and the MIM


@pytest.mark.parametrize("event", ["cancel", "merge"])
def test_cancel_or_merge_stops_every_timer_and_tells_the_stakeholders(wired, event):
    iid = declare(wired)
    ref = _ref(iid)
    assert pending_timers(wired, iid)
    if event == "cancel":

        def cancel(session, policy, incident, *, now, actor):
            why = "false alarm: monitoring glitch"
            ops.set_state(session, incident, "cancel", why, actor=actor, now=now, policy=policy)

        act(wired, iid, cancel, now=T0 + minutes(2), actor="anna")
    else:
        other = declare(wired, services=("erp",), title="ERP is down")

        def merge(session, policy, incident, *, now, actor):
            target = records.get_incident(session, other, lock=True)
            ops.merge_into(session, incident, target, actor=actor, now=now, policy=policy)

        act(wired, iid, merge, now=T0 + minutes(2), actor="anna")
    assert pending_timers(wired, iid) == {}
    assert fire_due(wired, T0 + minutes(60)).keys().isdisjoint({f"escalate:{ref}:1"})
    told = notes(wired, iid, template="stakeholder-update")
    assert "exec-team@northwind.example" in {n.recipient for n in told}
    text = next(n for n in told if n.channel == "email").payload["update"]["text"]
    assert ("cancelled: false alarm" in text) if event == "cancel" else ("updates continue" in text)
    assert not notes(wired, iid, template="escalation")  # nobody paged for a stopped incident


def test_severity_change_replans_only_what_is_ahead(wired):
    iid = declare(wired)
    ref = _ref(iid)
    act(
        wired,
        iid,
        classification.classify_again,
        "SEV2",
        "fewer users than feared",
        now=T0 + minutes(6),
        actor="anna",
    )
    timers = pending_timers(wired, iid)
    assert [k for k in timers if k.startswith("escalate:")] == [f"escalate:{ref}:1:r1"]
    assert timers[f"escalate:{ref}:1:r1"].due_at == T0 + minutes(15)
    assert timers[f"update-due:{ref}:1"].due_at == T0 + minutes(60)  # SEV2 cadence
    ack = {k: t.due_at - T0 for k, t in timers.items() if k.startswith(f"sla:{ref}:ack")}
    assert ack == {
        f"sla:{ref}:ack:50:r1": timedelta(seconds=450),
        f"sla:{ref}:ack:80:r1": minutes(12),
        f"sla:{ref}:ack:100:r1": minutes(15),
    }
    assert timeline(wired, iid, "replanned")[0].text.endswith("SEV1 → SEV2")


def test_upgrade_tells_only_the_audiences_it_adds(wired):
    iid = declare(wired, services=("erp",), title="ERP is slow", impact="degraded")
    declared = {n.recipient for n in notes(wired, iid, template="incident-declared")}
    assert "exec-team@northwind.example" not in declared  # SEV2 audiences only
    act(
        wired,
        iid,
        classification.classify_again,
        "SEV1",
        "the CEO cannot connect",
        now=T0 + minutes(2),
        actor="anna",
    )
    again = notes(wired, iid, template="incident-declared")
    added = [n.recipient for n in again if n.recipient not in declared]
    assert "exec-team@northwind.example" in added and "all-staff@northwind.example" in added
    assert len(again) == len({n.key for n in again})  # nobody got it twice


def test_timer_claimed_by_two_workers_fires_once(wired):
    from hub.incidents.firing import fire_timer_now

    iid = declare(wired)
    timer = pending_timers(wired, iid)[f"escalate:{_ref(iid)}:1"]
    barrier, outcomes = threading.Barrier(2), []

    def worker():
        barrier.wait()
        outcomes.append(fire_timer_now(wired, timer.id, T0 + minutes(5)))

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(outcomes) == ["fired", "skipped"]
    assert len(notes(wired, iid, template="escalation")) == 4
    assert len(timeline(wired, iid, "escalated")) == 1


def test_early_wakeup_does_nothing_and_rearms_at_the_due_time(wired):
    from hub.incidents.firing import fire_timer_now

    iid = declare(wired)
    timer = pending_timers(wired, iid)[f"escalate:{_ref(iid)}:1"]
    wired.enqueued_at.clear()
    # handed over by a worker whose clock runs a second ahead of this one's
    assert fire_timer_now(wired, timer.id, timer.due_at - timedelta(seconds=1)) == "skipped"
    assert pending_timers(wired, iid)[timer.key].state == "pending"
    assert wired.enqueued_at == [("fire_timer", timer.id, timer.due_at)]
    assert fire_timer_now(wired, timer.id, timer.due_at) == "fired"


def test_pump_hands_due_timers_to_the_queue_once(wired, monkeypatch):
    import tasks.pump
    from tasks.pump import TimerPump

    iid = declare(wired)
    timers = pending_timers(wired, iid)
    handed: list = []
    pump = TimerPump(wired, handed.extend)
    monkeypatch.setattr(tasks.pump, "utcnow", lambda: T0 + minutes(5))
    assert pump.pass_once() == 5  # escalate 1, ack 50/80/100, task 1's deadline
    due = {t.id for t in timers.values() if t.due_at <= T0 + minutes(5)}
    assert {i for name, i in handed if name == "fire_timer"} == due
    assert pump.pass_once() == 0  # handed over already: not again while it may be queued
    monkeypatch.setattr(tasks.pump, "utcnow", lambda: T0 + minutes(15))
    assert pump.pass_once() == 5  # escalate 2, update reminder 1 and due 1, tasks 2 and 6
    clock = [1000.0]
    monkeypatch.setattr(tasks.pump.time, "monotonic", lambda: clock[0])
    pump._handed = dict.fromkeys(pump._handed, clock[0])
    clock[0] += tasks.pump.REPEAT_AFTER
    assert pump.pass_once() == 10  # a lost task: handed over again after REPEAT_AFTER


def test_huey_wakeup_runs_at_the_due_time(wired):
    """An ETA wake-up (an early timer re-armed, a delivery retry) lands in Huey's schedule."""
    from tasks import delivery, timers  # noqa: F401  (registers the tasks)
    from tasks.queue import huey
    from tasks.registry import enqueue_jobs_at

    huey.flush()
    due = T0 + minutes(5)
    enqueue_jobs_at([("fire_timer", 42, due)])
    task = huey.dequeue()
    assert task.name == "fire_timer" and task.args == (42,)
    naive = due.replace(tzinfo=None)
    assert huey.execute(task, timestamp=naive - timedelta(seconds=1)) is None  # → schedule
    assert huey.read_schedule(naive - timedelta(seconds=1)) == []
    assert [t.id for t in huey.read_schedule(naive)] == [task.id]


def test_tick_enqueues_due_timers(wired):
    from hub.ticker import tick

    iid = declare(wired)
    wired.enqueued.clear()
    counts = tick(wired, T0 + minutes(5))
    timers = pending_timers(wired, iid)
    due = {t.id for t in timers.values() if t.due_at <= T0 + minutes(5)}
    assert counts["timers"] == len(due) == 5  # escalate 1, ack 50/80/100, task 1's deadline
    assert {i for name, i in wired.enqueued if name == "fire_timer"} == due


def test_policy_edits_do_not_change_a_running_incident(wired):
    import dataclasses

    iid = declare(wired)
    ref = _ref(iid)
    policy = wired.policy
    faster = dataclasses.replace(policy.severities["SEV1"], update_every=minutes(5))
    edited = dataclasses.replace(policy, severities={**policy.severities, "SEV1": faster})
    wired.policies._policy = edited  # what a reload of an edited file does
    act(wired, iid, ops.post_update, "Still on it", now=T0 + minutes(10), actor="chloe")
    assert pending_timers(wired, iid)[f"update-due:{ref}:2"].due_at == T0 + minutes(40)


def test_a_failing_action_parks_the_timer(wired, monkeypatch):
    from hub.incidents import timer_actions
    from hub.incidents.firing import fire_timer_now

    def broken(*args):
        raise RuntimeError("boom")

    monkeypatch.setitem(timer_actions.ACTIONS, "escalate", broken)
    iid = declare(wired)
    timer = pending_timers(wired, iid)[f"escalate:{_ref(iid)}:1"]
    assert fire_timer_now(wired, timer.id, T0 + minutes(5)) == "failed"
    assert f"escalate:{_ref(iid)}:1" not in pending_timers(wired, iid)
    assert fire_timer_now(wired, timer.id, T0 + minutes(6)) == "skipped"
