"""Shared helpers for the workflow, timer and outbox tests: a wired policy, stub renderers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from hub.app.models import Incident, Notification, Timer
from hub.core.classify import Report
from hub.incidents import records, reports, timer_actions
from hub.policy.load import load_policy
from tests.conftest import mobilise_now, record_wakeups

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
HOOKS = {
    "TEAMS_EXEC_WEBHOOK": "https://hooks.example.test/exec?sig=exec-secret",
    "TEAMS_IT_WEBHOOK": "https://hooks.example.test/it?sig=it-secret",
    "TEAMS_SERVICEDESK_WEBHOOK": "https://hooks.example.test/sd?sig=sd-secret",
    "TEAMS_ONCALL_WEBHOOK": "https://hooks.example.test/oncall?sig=oncall-secret",
}


def minutes(n: float) -> timedelta:
    return timedelta(minutes=n)


def stub_email(template, context, *, to, settings, incident_id, key):
    """What the stub mail renderer stores: enough to assert on, JSON only."""
    return {
        "to": to,
        "template": template,
        "incident": context["incident"]["id"],
        "recipient": context["recipient"],
        "page": context["page"],
        "sla": context["sla"],
        "update": context["update"],
        "next": context["next_update_at_local"],
    }


def stub_teams(template, context):
    """What the stub card renderer stores."""
    return {
        "type": "message",
        "template": template,
        "mention": context["mention"],
        "page": context["page"],
        "sla": context["sla"],
        "update": context["update"],
        "next": context["next_update_at_local"],
    }


def use_stub_renderers(monkeypatch) -> None:
    """Render with the stubs above (the real templates are tested by their owners)."""
    import hub.channels.email.channel
    import hub.channels.teams.channel

    monkeypatch.setattr(hub.channels.email.channel, "render_email", stub_email)
    monkeypatch.setattr(hub.channels.teams.channel, "render_teams", stub_teams)


def make_wired(hub, monkeypatch, example_policy):
    """The test hub with the example policy plus Teams webhooks, recording every wake-up."""
    from hub.app.context import Hub

    use_stub_renderers(monkeypatch)
    policy = load_policy(example_policy.source, env=HOOKS)
    wired_hub = Hub(hub.settings, policy=policy, db=hub.db)
    record_wakeups(wired_hub)
    wired_hub.enqueued_at = []
    wired_hub.enqueue_at = wired_hub.enqueued_at.extend
    return wired_hub


def declare(hub, now=T0, services=("payroll",), title="Payroll is down", impact="outage") -> int:
    """A major incident through the incident operations, at `now`; returns its id."""
    report = Report(
        title=title, services=tuple(services), impact=impact, source="api", reporter="ivan"
    )
    with hub.transaction() as session:
        incident, _ = reports.create_incident(session, hub.policy, report, actor="ivan", now=now)
        assert incident.major
        iid = incident.id
    mobilise_pending(hub, iid)  # the worker's part, if this hub's wake-ups did not run it
    return iid


def mobilise_pending(hub, incident_id: int) -> None:
    """Fire the incident's pending `mobilise` timers, as the worker does after a declaration."""
    with hub.db.session(write=False) as session:
        pending = session.scalars(
            select(Timer.id).where(
                Timer.incident_id == incident_id, Timer.kind == "mobilise", Timer.state == "pending"
            )
        ).all()
    for timer_id in pending:
        mobilise_now(hub, timer_id)


def act(hub, incident_id: int, op, *args, now, **kwargs):
    """Run an incident operation (ops.acknowledge, ops.post_update…) at `now`, its pending
    mobilisation first (as `hub.incidents.act` does; the operation checks no permission)."""
    with hub.transaction() as session:
        incident = records.get_incident(session, incident_id, lock=True)
        timer_actions.ensure_mobilised(session, hub.policy, incident, now)
        return op(session, hub.policy, incident, *args, now=now, **kwargs)


def fire_due(hub, now) -> dict[str, str]:
    """What a worker does at `now`: fire every due timer; returns {key: outcome}."""
    from hub.incidents import timers
    from hub.incidents.firing import fire_timer_now

    with hub.db.session() as session:
        due = [(i, session.get(Timer, i).key) for i in timers.due_ids(session, now, 1000)]
    return {key: fire_timer_now(hub, ident, now) for ident, key in due}


def notes(hub, incident_id: int, **where) -> list[Notification]:
    """The incident's outbox rows (filtered by column values), payloads as they will be sent.

    Rows hold a render spec until delivery (hub.notifications.notify); here each detached row's payload is
    rendered the way the worker will render it, so tests can look at what people receive.
    """
    from hub.notifications.notify import is_deferred, materialize

    with hub.db.session(write=False) as session:
        rows = session.scalars(
            select(Notification)
            .where(Notification.incident_id == incident_id)
            .order_by(Notification.id)
        ).all()
    rows = [r for r in rows if all(getattr(r, k) == v for k, v in where.items())]
    for row in rows:
        if is_deferred(row.payload):
            row.spec = row.payload
            row.payload = materialize(row.payload, hub.settings)
    return rows


def pending_timers(hub, incident_id: int) -> dict[str, Timer]:
    """The incident's pending timers by key."""
    with hub.db.session(write=False) as session:
        rows = session.scalars(
            select(Timer).where(Timer.incident_id == incident_id, Timer.state == "pending")
        ).all()
    return {t.key: t for t in rows}


def timeline(hub, incident_id: int, kind: str | None = None) -> list:
    """The incident's timeline entries (of a kind)."""
    with hub.db.session(write=False) as session:
        incident = session.get(Incident, incident_id)
        return [e for e in incident.timeline if kind is None or e.kind == kind]
