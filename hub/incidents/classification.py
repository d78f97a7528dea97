"""Classifying an incident again: a person's re-classification, declaring and downgrading."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from hub.app import audit
from hub.app.errors import Conflict, Invalid
from hub.app.models import Incident
from hub.core import lifecycle
from hub.core.classify import Classification, reclassify
from hub.incidents import workflow
from hub.incidents.records import apply_event
from hub.incidents.staffing import schedule_mobilisation
from hub.incidents.timeline import add_timeline
from hub.policy.model import Policy, person_name


def classify_again(
    session: Session,
    policy: Policy,
    incident: Incident,
    severity: str,
    reason: str,
    *,
    actor: str,
    now: datetime,
) -> Incident:
    """A person's re-classification (upgrade, downgrade, accept or reject major) with a reason;
    the severity in any case (`sev2` is the policy's `SEV2`)."""
    if not (reason or "").strip():
        raise Invalid("re-classifying needs a reason")
    severity = next(
        (k for k in policy.severities if k.lower() == severity.strip().lower()), severity
    )
    if severity not in policy.severities:
        raise Invalid(
            f"unknown severity {severity!r}; severities are " + ", ".join(policy.severities)
        )
    if not lifecycle.is_active(incident.state):
        raise Conflict(
            f"{incident.ref} is {incident.state}; only active incidents are re-classified",
            code="illegal_transition",
        )
    current = current_classification(incident)
    result = reclassify(current, severity, reason.strip(), policy)
    audit.record(
        session,
        "reclassified",
        incident.ref,
        actor=actor,
        now=now,
        before={"severity": incident.severity, "major": incident.major},
        after={"severity": result.severity, "major": result.major, "reason": reason.strip()},
        incident_id=incident.id,
    )
    set_classification(
        session,
        policy,
        incident,
        result,
        actor=actor,
        now=now,
        kind="reclassified",
        prefix=f"Re-classified by {person_name(policy, actor)}",
    )
    return incident


def current_classification(incident: Incident) -> Classification:
    """The incident's classification as it stands."""
    return Classification(
        major=incident.major,
        severity=incident.severity,
        rule=incident.rule,
        reasons=tuple(incident.reasons or ()),
        services=tuple(incident.services or ()),
        impact=incident.impact,
        affected_users=incident.affected_users,
        security=incident.security,
        reporters=len({r.reporter for r in incident.reports}),
    )


def set_classification(
    session: Session,
    policy: Policy,
    incident: Incident,
    result: Classification,
    *,
    actor: str | None,
    now: datetime,
    kind: str,
    prefix: str,
) -> None:
    """Set the severity and rule, on the timeline; declare or downgrade as `result` says."""
    old = incident.severity
    incident.severity, incident.rule = result.severity, result.rule
    incident.reasons = list(result.reasons)
    add_timeline(
        session,
        incident,
        kind,
        f"{prefix}: {old} → {result.severity}. " + " ".join(result.reasons),
        actor=actor,
        now=now,
        data={"from": old, "to": result.severity, "major": result.major},
    )
    if result.major and not incident.major:
        declare(session, policy, incident, actor=actor, now=now, why=f"{prefix.lower()}")
    elif not result.major and incident.major:
        incident.major = False
        apply_event(
            session, incident, "downgrade", actor=actor, now=now, why="no longer a major incident"
        )
        workflow.on_downgraded(session, policy, incident, now=now)
    elif incident.major and result.severity != old:  # an accepted severity re-plans nothing
        workflow.on_severity_changed(session, policy, incident, old, now=now)


def declare(
    session: Session,
    policy: Policy,
    incident: Incident,
    *,
    actor: str | None,
    now: datetime,
    why: str,
) -> None:
    """Declare a major incident; its mobilisation follows in the worker."""
    incident.major = True
    apply_event(session, incident, "declare", actor=actor, now=now, why=f"declared major: {why}")
    incident.declared_at = incident.declared_at or now
    schedule_mobilisation(session, incident, now=now)
