"""Which tasks an incident's roles get: the policy's checklists and its services' runbooks.

Pure: takes the policy and the incident's severity and services, returns planned tasks.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from hub.policy.model import ROLE_NAMES, Policy

TECH_LEAD = "tech_lead"


@dataclass(frozen=True)
class PlannedTask:
    n: int  # numbered from 1 across the incident: `done INC-42 3`
    role: str
    text: str
    within: timedelta | None = None
    url: str | None = None
    source: str = "checklist"  # checklist | runbook


def plan_tasks(
    policy: Policy, severity: str, services: tuple[str, ...] | list[str]
) -> list[PlannedTask]:
    """Every role's tasks for an incident of `severity` on `services`, in role order; a
    service's runbook steps (and its link) follow the Technical Lead's own list."""
    rows: list[tuple[str, str, timedelta | None, str | None, str]] = []
    for role in ROLE_NAMES:
        for item in policy.checklists.get(role, ()):
            if not item.severities or severity in item.severities:
                rows.append((role, item.task, item.within, None, "checklist"))
        if role != TECH_LEAD:
            continue
        for key in services or ():
            service = policy.services.get(key)
            runbook = service.runbook if service else None
            if runbook is None:
                continue
            if runbook.url and not runbook.steps:
                rows.append(
                    (role, f"Open the {service.name} runbook", None, runbook.url, "runbook")
                )
            for step in runbook.steps:
                rows.append((role, f"{service.name}: {step}", None, runbook.url, "runbook"))
    return [
        PlannedTask(n=i, role=role, text=text, within=within, url=url, source=source)
        for i, (role, text, within, url, source) in enumerate(rows, start=1)
    ]
