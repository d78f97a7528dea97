"""Helpers for the review tests: resolved major incidents, and published reviews in bulk."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from hub.app.models import ActionItem, Incident, Review, RoleAssignment, TimelineEntry
from hub.core.classify import Report
from hub.incidents import operations as ops
from hub.incidents import records, reports
from hub.reviews.docs import compute_metrics, timeline_snapshot

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def resolved_major(
    hub, *, at: datetime = T0, title: str = "Payroll is down", service: str = "payroll"
) -> int:
    """A SEV1 incident: declared at `at`, acknowledged +2 min, update +10 min, resolved +90 min."""
    policy = hub.policy
    with hub.transaction() as session:
        incident, _ = reports.create_incident(
            session,
            policy,
            Report(title=title, services=(service,), impact="outage", reporter="chloe"),
            actor="chloe",
            now=at,
        )
        number = incident.id
    with hub.transaction() as session:
        incident = records.get_incident(session, number)
        mim = next(r.person for r in incident.roles if r.role == "major_incident_manager")
        ops.acknowledge(session, policy, incident, actor=mim, now=at + timedelta(minutes=2))
        ops.post_update(
            session,
            policy,
            incident,
            "Rolling back the release",
            actor=mim,
            now=at + timedelta(minutes=10),
        )
    with hub.transaction() as session:
        incident = records.get_incident(session, number)
        ops.resolve(
            session,
            policy,
            incident,
            "Rolled back release 4.2",
            actor=mim,
            now=at + timedelta(minutes=90),
        )
    return number


def open_draft(hub, number: int, at: datetime = T0 + timedelta(minutes=91)) -> None:
    """Run the open_review task for the incident."""
    from hub.reviews.publish.jobs import open_review_now

    assert open_review_now(hub, number, at)


TEXTS = {
    "summary": "Payroll was unavailable for 90 minutes after release 4.2.",
    "impact": "About 1,200 employees could not see their payslips.",
    "root_causes": "The release changed the database pool size.\n- no load test\n- no canary",
    "trigger": "Release 4.2 at 09:00.",
    "detection": "Users reported it to the service desk.",
    "resolution": "Rolled back release 4.2.",
    "went_well": "The rollback took five minutes.",
    "lessons": "Load-test configuration changes.",
}


def published_review(
    session,
    policy,
    n: int,
    *,
    title: str,
    severity: str = "SEV1",
    services=("payroll",),
    tags=("software",),
    texts: dict | None = None,
    resolved_at: datetime | None = None,
    items=(),
    timeline=None,
) -> Review:
    """An incident and its published review written straight to the database (fast, bulk)."""
    resolved_at = resolved_at or T0 + timedelta(days=n)
    created = resolved_at - timedelta(minutes=30 + n % 120)
    incident = Incident(
        title=title,
        state="review_published",
        major=True,
        severity=severity,
        rule="critical-service-outage",
        services=list(services),
        created_at=created,
        updated_at=resolved_at,
        declared_at=created,
        mobilised_at=created + timedelta(minutes=3),
        resolved_at=resolved_at,
        summary="Rolled back",
    )
    session.add(incident)
    incident.roles.append(
        RoleAssignment(
            role="major_incident_manager",
            person="anna",
            assigned_at=created,
            acknowledged_at=created + timedelta(minutes=2 + n % 7),
        )
    )
    incident.roles.append(
        RoleAssignment(role="problem_manager", person="david", assigned_at=created)
    )
    for minutes, kind, text in timeline or [
        (0, "reported", f"Reported: {title}"),
        (2, "acknowledged", "Anna acknowledged"),
        (20, "update", "Rolling back"),
    ]:
        incident.timeline.append(
            TimelineEntry(at=created + timedelta(minutes=minutes), kind=kind, text=text, data={})
        )
    incident.timeline.append(
        TimelineEntry(at=resolved_at, kind="state", text="resolved", data={"event": "resolve"})
    )
    session.flush()
    review = Review(
        incident=incident,
        state="published",
        services=list(services),
        tags=list(tags),
        timeline=timeline_snapshot(incident),
        created_at=resolved_at,
        updated_at=resolved_at,
        approved_by="anna",
        approved_at=resolved_at,
        published_at=resolved_at,
        affected_users=100 + n,
        **(texts if texts is not None else TEXTS),
    )
    for title_, owner, due, status in items:
        review.action_items.append(
            ActionItem(
                title=title_,
                owner=owner,
                due=due,
                priority="P2",
                status=status,
                created_at=resolved_at,
                updated_at=resolved_at,
            )
        )
    review.metrics = compute_metrics(review, incident, policy)
    session.add(review)
    session.flush()
    return review


def a_few_reviews(hub, count: int = 6) -> list[str]:
    """`count` published reviews over two services, two severities and two months."""
    refs = []
    with hub.db.session() as session:
        for n in range(count):
            review = published_review(
                session,
                hub.policy,
                n,
                title=f"Outage number {n}",
                severity=("SEV1", "SEV2")[n % 2],
                services=(("payroll",), ("erp", "email"))[n % 2],
                tags=(("software",), ("network", "change"))[n % 2],
                resolved_at=T0 + timedelta(days=20 * n),
                items=[
                    (f"Fix thing {n}", "elif", date(2026, 3, 1) + timedelta(days=30 * n), "open"),
                    (f"Done thing {n}", "felix", None, "done"),
                ],
            )
            refs.append(review.incident.ref)
    return refs
