"""What alerts do to incidents, with time passed in: declare, count, resolve, flap, storm."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from hub.app.models import Alert, AlertGroup, Incident, Notification, TimelineEntry, Timer
from hub.incidents.firing import fire_timer_now
from hub.intake.alerts import ingest
from hub.intake.alerts import quiet as _quiet  # noqa: F401  (the alerts-quiet timer action)
from tests.alerts_kit import am_alert, am_group, counts, payload

T0 = datetime(2026, 12, 6, 10, 0, tzinfo=UTC)


def feed(hub, body: dict, now: datetime = T0, source="alertmanager", name="am-prod"):
    """Store and apply one notification at `now`."""
    with hub.transaction() as session:
        ident = ingest.store(session, source, name, json.dumps(body).encode(), now)
    return ingest.process(hub, ident, now)


def incident_of(hub, result) -> Incident:
    with hub.db.session(write=False) as session:
        incident = session.get(Incident, int(result.incident.removeprefix("INC-")))
        session.expunge(incident)
        return incident


def timeline(hub, incident_id: int) -> list[tuple[str, str]]:
    with hub.db.session(write=False) as session:
        return [
            (e.kind, e.text)
            for e in session.scalars(
                select(TimelineEntry)
                .where(TimelineEntry.incident_id == incident_id)
                .order_by(TimelineEntry.id)
            )
        ]


def templates_to(hub, incident_id: int, template: str) -> list[str]:
    with hub.db.session(write=False) as session:
        return sorted(
            f"{n.channel}:{n.recipient}"
            for n in session.scalars(
                select(Notification).where(
                    Notification.incident_id == incident_id, Notification.template == template
                )
            )
        )


PAYROLL_DOWN = [
    am_alert("a1", "Payroll API answers 5xx", service="payroll", severity="critical"),
    am_alert("a2", "Payroll DB unreachable", service="payroll", severity="critical"),
]


def test_critical_service_outage_declares_sev1_and_pages_the_mim(hub):
    result = feed(hub, am_group('{}:{alertname="HighErrorRate"}', PAYROLL_DOWN))
    assert result.outcome == "created"
    incident = incident_of(hub, result)
    assert (incident.severity, incident.major, incident.rule) == (
        "SEV1", True, "critical-service-outage"
    )  # fmt: skip
    assert incident.services == ["payroll"] and incident.source == "alertmanager"
    pages = templates_to(hub, incident.id, "page")
    assert any("anna.schmidt" in p for p in pages), pages  # the MIM on duty
    kinds = [k for k, _ in timeline(hub, incident.id)]
    assert kinds[:2] == ["reported", "classified"] and "first-alert" in kinds


def test_the_same_group_sent_100_times_changes_nothing_but_counts(hub):
    group = am_group("g-payroll", PAYROLL_DOWN)
    first = feed(hub, group)
    incident = incident_of(hub, first)
    before = (timeline(hub, incident.id), templates_to(hub, incident.id, "page"), counts(hub))
    outcomes = {feed(hub, group, T0 + timedelta(seconds=30 * i)).outcome for i in range(1, 101)}
    assert outcomes == {"repeat"}
    after = (timeline(hub, incident.id), templates_to(hub, incident.id, "page"), counts(hub))
    assert after[0] == before[0] and after[1] == before[1]
    assert after[2] == {**before[2], "stored": 101}
    with hub.db.session(write=False) as session:
        assert {a.receipts for a in session.scalars(select(Alert))} == {101}
        assert session.scalars(select(AlertGroup)).one().receipts == 101


def test_two_alerts_with_the_same_summary_stay_two(hub):
    same = "Disk almost full"
    alerts = [
        am_alert("f-1", same, service="erp", severity="critical", instance="db1"),
        am_alert("f-2", same, service="erp", severity="critical", instance="db2"),
    ]
    result = feed(hub, am_group("g-disk", alerts))
    with hub.db.session(write=False) as session:
        rows = session.scalars(select(Alert).order_by(Alert.fingerprint)).all()
        assert [(a.fingerprint, a.summary) for a in rows] == [("f-1", same), ("f-2", same)]
    # one of the two resolves: recorded, the other still fires, nobody is told "all resolved"
    alerts[0] = am_alert("f-1", same, "resolved", service="erp", severity="critical")
    feed(hub, am_group("g-disk", alerts), T0 + timedelta(minutes=5))
    incident = incident_of(hub, result)
    kinds = [k for k, _ in timeline(hub, incident.id)]
    assert "alert-resolved" in kinds and "alerts-resolved" not in kinds
    assert templates_to(hub, incident.id, "alerts-resolved") == []


def test_group_resolution_tells_the_mim_and_never_resolves_a_major_incident(hub):
    result = feed(hub, am_group("g-payroll", PAYROLL_DOWN))
    resolved = [{**a, "status": "resolved", "endsAt": "2026-12-06T10:40:00Z"} for a in PAYROLL_DOWN]
    again = feed(hub, am_group("g-payroll", resolved), T0 + timedelta(minutes=40))
    assert again.outcome == "updated"
    incident = incident_of(hub, result)
    assert incident.state in ("declared", "mobilised")  # still the MIM's to resolve
    told = templates_to(hub, incident.id, "alerts-resolved")
    assert "email:anna.schmidt@northwind.example" in told
    entries = dict(timeline(hub, incident.id))
    assert "All 2 alerts resolved at 11:40 CET; resolve the incident?" in entries["alerts-resolved"]


def azure(
    severity="Sev0",
    condition="Fired",
    items=("adp-db",),
    alert_id="/subscriptions/s/providers/Microsoft.AlertsManagement/alerts/1",
):  # noqa: E501
    body = payload("azure_metric")
    e = body["data"]["essentials"]
    e.update(severity=severity, monitorCondition=condition, configurationItems=list(items))
    e["alertId"] = alert_id
    if condition == "Fired":
        del e["resolvedDateTime"]
    return body


def test_azure_sev0_on_a_mapped_resource_declares_and_resolution_tells_the_mim(hub):
    result = feed(hub, azure(items=("payroll",)), source="azure-monitor", name="azure-prod")
    assert result.outcome == "created"
    incident = incident_of(hub, result)
    assert (incident.severity, incident.major) == ("SEV1", True)
    assert any("anna.schmidt" in p for p in templates_to(hub, incident.id, "page"))
    feed(hub, azure(condition="Resolved", items=("payroll",)), T0 + timedelta(minutes=9),
         source="azure-monitor", name="azure-prod")  # fmt: skip
    assert templates_to(hub, incident.id, "alerts-resolved")
    assert incident_of(hub, result).state in ("declared", "mobilised")


def _quiet_timer(hub, incident_id):
    with hub.db.session(write=False) as session:
        return session.scalars(
            select(Timer).where(Timer.incident_id == incident_id, Timer.kind == "alerts-quiet")
        ).all()


def test_minor_alert_only_incident_resolves_itself_after_the_quiet_time(hub):
    fire = [am_alert("w1", "Homepage slow", service="website", severity="warning")]
    result = feed(hub, am_group("g-www", fire))
    incident = incident_of(hub, result)
    assert (incident.major, incident.impact) == (False, "degraded")
    done = [{**fire[0], "status": "resolved"}]
    feed(hub, am_group("g-www", done), T0 + timedelta(minutes=10))
    (timer,) = _quiet_timer(hub, incident.id)
    assert timer.due_at == T0 + timedelta(minutes=40)  # the policy's default quiet time: 30m
    assert fire_timer_now(hub, timer.id, timer.due_at) == "fired"
    assert incident_of(hub, result).state == "resolved"


def test_the_quiet_timer_stands_down_when_an_alert_fires_again(hub):
    fire = [am_alert("w1", "Homepage slow", service="website", severity="warning")]
    result = feed(hub, am_group("g-www", fire))
    feed(hub, am_group("g-www", [{**fire[0], "status": "resolved"}]), T0 + timedelta(minutes=1))
    refire = [{**fire[0], "startsAt": "2026-12-06T10:05:00Z"}]
    feed(hub, am_group("g-www", refire), T0 + timedelta(minutes=5))
    (timer,) = _quiet_timer(hub, incident_of(hub, result).id)
    assert fire_timer_now(hub, timer.id, timer.due_at) == "cancelled"
    assert incident_of(hub, result).state == "open"


def test_flapping_alert_is_marked_not_declared_again(hub):
    first = am_alert("flap", "Uplink flaps", service="website", severity="warning")
    result = feed(hub, am_group("g-flap", [first]))
    for n in range(1, 6):  # resolve, fire, resolve, fire, resolve
        at = T0 + timedelta(minutes=n)
        state = "resolved" if n % 2 else "firing"
        alert = {**first, "status": state, "startsAt": f"2026-12-06T10:{n:02d}:00Z"}
        feed(hub, am_group("g-flap", [alert]), at)
    incident = incident_of(hub, result)
    kinds = [k for k, _ in timeline(hub, incident.id)]
    assert kinds.count("alert-flapping") == 1
    with hub.db.session(write=False) as session:
        alert = session.scalars(select(Alert)).one()
    assert (alert.fired, alert.flapping, alert.state) == (3, True, "resolved")
    # the minor incident resolves when quiet; the flapping alert firing again opens nothing new
    (timer, *_) = sorted(_quiet_timer(hub, incident.id), key=lambda t: t.due_at, reverse=True)
    fire_timer_now(hub, timer.id, timer.due_at)
    assert incident_of(hub, result).state == "resolved"
    alert = {**first, "startsAt": "2026-12-06T12:00:00Z"}
    later = feed(hub, am_group("g-flap", [alert]), T0 + timedelta(hours=2))
    assert later.outcome == "flapping" and counts(hub)["incidents"] == 1


def test_an_alert_storm_is_one_incident_with_a_count(hub):
    for batch in range(20):
        alerts = [
            am_alert(f"s{batch}-{i}", f"pod {batch}-{i} crash looping", service="erp",
                     severity="critical", pod=f"erp-{batch}-{i}")
            for i in range(100)
        ]  # fmt: skip
        feed(hub, am_group("g-storm", alerts), T0 + timedelta(seconds=batch))
    assert counts(hub)["incidents"] == 1 and counts(hub)["alerts"] == 2000
    with hub.db.session(write=False) as session:
        incident = session.scalars(select(Incident)).one()
        entries = session.scalar(
            select(func.count()).where(TimelineEntry.incident_id == incident.id)
        )
    assert entries < 60  # one line per notification at most, not one per alert


def test_unmapped_alerts_are_recorded_only(hub):
    result = feed(hub, am_group("g-x", [am_alert("u1", "Something", service="unknown-thing")]))
    assert (result.outcome, result.incident) == ("recorded", None)
    assert counts(hub) == {"stored": 1, "alerts": 1, "incidents": 0}


@pytest.mark.parametrize(
    "labels,severity",
    [
        ({"severity": "page"}, "SEV1"),
        ({"severity": "warning"}, "SEV2"),
        ({"severity": "info"}, "SEV4"),
    ],
)
def test_default_severity_words(hub, labels, severity):
    alert = am_alert("d1", "Scanner gateway errors", service="scanners", **labels)
    result = feed(hub, am_group("g-d", [alert]))
    assert incident_of(hub, result).severity == severity
