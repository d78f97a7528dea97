"""A declaration commits the incident and answers; the worker mobilises (hub.incidents.staffing).

The `mobilise` timer, due at the declaration, is the durable, exactly-once record of that work.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from hub.app.models import Incident, Notification, RoleAssignment, Timer
from hub.core.classify import Report
from hub.incidents import operations as ops
from hub.incidents import reports
from hub.incidents.act import act
from hub.incidents.firing import fire_timer_now
from hub.incidents.records import active_roles
from tests.workflow_kit import T0

REPORT = Report(
    title="Payroll is down", services=("payroll",), impact="outage", source="api", reporter="ivan"
)


@pytest.fixture
def lazy_hub(hub):
    """A hub whose wake-ups are only recorded: no worker runs until the test says so."""
    hub.enqueued = []
    hub.enqueue = hub.enqueued.extend
    return hub


def _declare(hub, now=T0) -> int:
    with hub.transaction() as session:
        incident, created = reports.create_incident(
            session, hub.policy, REPORT, actor="ivan", now=now
        )
        assert created and incident.major and incident.state == "declared"
        return incident.id


def _count(hub, model, **where) -> int:
    with hub.db.session(write=False) as s:
        stmt = select(func.count()).select_from(model)
        for name, value in where.items():
            stmt = stmt.where(getattr(model, name) == value)
        return s.scalar(stmt)


def _mobilise_timer(hub, iid) -> Timer:
    with hub.db.session(write=False) as s:
        return s.scalars(
            select(Timer).where(Timer.incident_id == iid, Timer.kind == "mobilise")
        ).one()


def test_the_request_commits_only_the_incident_and_wakes_the_worker(lazy_hub):
    iid = _declare(lazy_hub)
    timer = _mobilise_timer(lazy_hub, iid)
    assert timer.state == "pending" and timer.due_at == T0 and timer.key == f"mobilise:INC-{iid}"
    assert ("fire_timer", timer.id) in lazy_hub.enqueued
    assert _count(lazy_hub, RoleAssignment, incident_id=iid) == 0
    assert _count(lazy_hub, Notification, incident_id=iid) == 0

    # the worker, 20 s late: the plan still counts from the declaration
    assert fire_timer_now(lazy_hub, timer.id, T0 + timedelta(seconds=20)) == "fired"
    assert _count(lazy_hub, RoleAssignment, incident_id=iid) == 4
    pages = _count(lazy_hub, Notification, incident_id=iid)
    assert pages > 0
    with lazy_hub.db.session(write=False) as s:
        steps = s.scalars(
            select(Timer).where(Timer.incident_id == iid, Timer.kind == "escalate")
        ).all()
    assert sorted(t.due_at - T0 for t in steps) == [timedelta(minutes=5), timedelta(minutes=15)]
    with lazy_hub.db.session(write=False) as s:  # the records say when it really happened
        assigned = set(
            s.scalars(select(RoleAssignment.assigned_at).where(RoleAssignment.incident_id == iid))
        )
    assert assigned == {T0 + timedelta(seconds=20)}
    # exactly once: a second wake-up (a duplicate task, the pump) finds it fired
    assert fire_timer_now(lazy_hub, timer.id, T0 + timedelta(seconds=30)) == "skipped"
    assert _count(lazy_hub, Notification, incident_id=iid) == pages
    assert _count(lazy_hub, RoleAssignment, incident_id=iid) == 4


def test_acting_on_the_incident_mobilises_it_first(lazy_hub):
    """Every channel's permission check looks at the roles: they must exist by then."""
    iid = _declare(lazy_hub)
    with lazy_hub.transaction() as session:
        holders = act(
            session,
            lazy_hub.policy,
            iid,
            "anna",
            "update",
            lambda incident: {r.person for r in active_roles(incident)},
            now=T0 + timedelta(seconds=1),
        )
        assert holders >= {"anna"}
    assert _mobilise_timer(lazy_hub, iid).state == "fired"


def test_acting_before_the_worker_mobilises_first(lazy_hub):
    iid = _declare(lazy_hub)
    now = T0 + timedelta(seconds=1)
    with lazy_hub.transaction() as session:
        acked = act(
            session,
            lazy_hub.policy,
            iid,
            "anna",
            "acknowledge",
            lambda incident: ops.acknowledge(
                session, lazy_hub.policy, incident, actor="anna", now=now
            ),
            now=now,
        )
    assert acked == ["major_incident_manager"]
    rows = _count(lazy_hub, Notification, incident_id=iid)
    assert rows > 0 and _count(lazy_hub, RoleAssignment, incident_id=iid) == 4
    timer = _mobilise_timer(lazy_hub, iid)
    assert timer.state == "fired"
    assert fire_timer_now(lazy_hub, timer.id, T0 + timedelta(seconds=2)) == "skipped"
    assert _count(lazy_hub, Notification, incident_id=iid) == rows


def test_a_false_alarm_cancelled_before_the_worker_pages_no_one(lazy_hub):
    iid = _declare(lazy_hub)
    with lazy_hub.transaction() as session:
        # not through act(), which mobilises first (a person acting on it)
        incident = session.get(Incident, iid)
        ops.set_state(
            session,
            incident,
            "cancel",
            "false alarm",
            actor="anna",
            now=T0 + timedelta(seconds=1),
            policy=lazy_hub.policy,
        )
    timer = _mobilise_timer(lazy_hub, iid)
    if timer.state == "pending":  # cancelling may stop it already; otherwise the worker does
        assert fire_timer_now(lazy_hub, timer.id, T0 + timedelta(seconds=2)) == "cancelled"
    assert _mobilise_timer(lazy_hub, iid).state == "cancelled"
    assert _count(lazy_hub, Notification, incident_id=iid) == 0
    assert _count(lazy_hub, RoleAssignment, incident_id=iid) == 0


def test_not_major_schedules_nothing(lazy_hub):
    minor = Report(
        title="Typo on the careers page",
        services=("website",),
        impact="minor",
        source="api",
        reporter="ivan",
    )
    with lazy_hub.transaction() as session:
        incident, _ = reports.create_incident(session, lazy_hub.policy, minor, actor="ivan", now=T0)
        assert not incident.major
        iid = incident.id
    assert _count(lazy_hub, Timer, incident_id=iid) == 0
    assert lazy_hub.enqueued == []


def test_a_failed_mobilisation_is_retried_by_the_tick_and_said_on_the_timeline(
    lazy_hub, monkeypatch
):
    from hub.app.models import TimelineEntry
    from hub.incidents import staffing
    from hub.ticker import MOBILISE_TRIES, tick

    iid = _declare(lazy_hub)
    first = _mobilise_timer(lazy_hub, iid)

    def broken(*_a, **_k):
        raise RuntimeError("roster bug")

    monkeypatch.setattr(staffing, "mobilise", broken)
    assert fire_timer_now(lazy_hub, first.id, T0 + timedelta(seconds=1)) == "failed"
    assert _count(lazy_hub, RoleAssignment, incident_id=iid) == 0
    assert tick(lazy_hub, T0 + timedelta(seconds=60))["mobilisations"] == 1
    assert tick(lazy_hub, T0 + timedelta(seconds=61))["mobilisations"] == 0  # one pending now
    monkeypatch.undo()
    with lazy_hub.db.session(write=False) as s:
        again = s.scalars(
            select(Timer).where(
                Timer.incident_id == iid, Timer.kind == "mobilise", Timer.state == "pending"
            )
        ).one()
        said = s.scalars(
            select(TimelineEntry.text).where(
                TimelineEntry.incident_id == iid, TimelineEntry.kind == "mobilisation"
            )
        ).all()
    assert again.due_at == T0 and said == [
        "Mobilisation failed (roles, pages, notice); trying again"
    ]
    assert fire_timer_now(lazy_hub, again.id, T0 + timedelta(seconds=62)) == "fired"
    assert _count(lazy_hub, RoleAssignment, incident_id=iid) == 4
    assert tick(lazy_hub, T0 + timedelta(seconds=120))["mobilisations"] == 0
    assert MOBILISE_TRIES >= 2
