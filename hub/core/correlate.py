"""Whether a report joins an open incident: only for the same problem. Pure, `now` passed in.

Merging two incidents later is one action; un-merging after everyone was paged is not. So a
report joins an open incident only when it is about exactly the incident's services (its
subject, not a mention), the incident was opened within the correlation window, and both are
security incidents of the same kind or neither is. Otherwise it opens its own incident, linked
as "possibly related" to the open incidents it shares a service (or a security kind) with.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

MAX_RELATED = 3  # "possibly related" links per new incident, the most recent first


@dataclass(frozen=True)
class OpenIncident:
    """What correlation reads of an open incident."""

    id: int
    ref: str
    title: str
    services: tuple[str, ...]
    security: bool
    security_kind: str | None
    created_at: datetime


@dataclass(frozen=True)
class Report:
    """What correlation reads of a classified report."""

    services: tuple[str, ...]  # the subject: read as affected
    mentioned: tuple[str, ...]
    impact: str | None
    security: bool
    security_kind: str | None


@dataclass(frozen=True)
class Decision:
    join: OpenIncident | None
    reason: str  # why it joined (empty when it did not)
    related: tuple[tuple[OpenIncident, str], ...]  # possibly related, with why


def correlate(
    report: Report, incidents: list[OpenIncident], window: timedelta, now: datetime
) -> Decision:
    """The incident the report joins, with the reason, or the possibly related ones."""
    recent = sorted(
        (i for i in incidents if now - window <= i.created_at <= now),
        key=lambda i: (i.created_at, i.id),
        reverse=True,
    )
    for incident in recent:
        reason = same_problem(report, incident, window)
        if reason:
            return Decision(incident, reason, ())
    related = []
    for incident in recent:
        why = possibly_related(report, incident)
        if why:
            related.append((incident, why))
    return Decision(None, "", tuple(related[:MAX_RELATED]))


def same_problem(report: Report, incident: OpenIncident, window: timedelta) -> str:
    """Why the report is about the incident's problem, or "" if it is not."""
    minutes = f"within {_minutes(window)}"
    if report.security or incident.security:
        if not (report.security and incident.security):
            return ""
        if not report.security_kind or report.security_kind != incident.security_kind:
            return ""
        if report.services and set(report.services) != set(incident.services):
            return ""
        return f"same kind of security report ({report.security_kind}), {minutes}"
    if not report.services or set(report.services) != set(incident.services):
        return ""
    services = ", ".join(report.services)
    noun = "service" if len(report.services) == 1 else "services"
    said = f", reported as {report.impact}" if report.impact else ""
    return f"same {noun} {services}{said}, {minutes}"


def possibly_related(report: Report, incident: OpenIncident) -> str:
    """Why a person may want to merge the two, or "" if nothing links them."""
    shared = [s for s in incident.services if s in report.services]
    if shared:
        extra = "" if report.security == incident.security else "; one is a security report"
        return f"both about {', '.join(shared)}{extra}"
    named = [s for s in incident.services if s in report.mentioned]
    if named:
        return f"this report mentions {', '.join(named)}"
    if report.security and incident.security:
        return "both are security reports"
    return ""


def _minutes(window: timedelta) -> str:
    minutes = int(window.total_seconds() // 60)
    return f"{minutes} min" if minutes < 120 else f"{minutes // 60} h"
