"""Which catalogue service an alert is about, and its impact (pure: the policy and labels).

The `alerts:` rules first (first match wins), then the default: a `service` label (Azure: a
configuration item or the target resource's name) naming a catalogue key or alias, then
`alerts.default_service`; else the alert is recorded only. The impact is the rule's, else
critical/page (Azure Sev0/Sev1) an outage, warning (Sev2) degraded, anything else minor.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from hub.core.classify import resolve_services
from hub.intake.alerts.parse import ParsedAlert
from hub.policy.model import AlertMatcher, Policy

OUTAGE = ("critical", "page", "sev0", "sev1")
DEGRADED = ("warning", "sev2")
IMPACT_RANK = {"minor": 1, "degraded": 2, "outage": 3}


@dataclass(frozen=True)
class Mapped:
    service: str | None  # catalogue key; None: recorded only
    impact: str
    severity: str | None = None  # the rule's severity hint
    rule: str | None = None  # the rule's name; None: the default mapping
    why: str = ""


@lru_cache(maxsize=512)
def _pattern(value: str) -> re.Pattern[str]:
    return re.compile(value)


def matches(m: AlertMatcher, labels: dict) -> bool:
    """Whether the labels satisfy the matcher; a missing label counts as "" (as in Alertmanager),
    a list value (Azure's configuration items) as any of its items."""
    value = labels.get(m.name, "")
    values = value if isinstance(value, list | tuple) else (value,)
    values = values or ("",)
    if m.op == "=":
        return any(v == m.value for v in values)
    if m.op == "!=":
        return all(v != m.value for v in values)
    hit = any(_pattern(m.value).fullmatch(v) for v in values)
    return hit if m.op == "=~" else not hit


def impact_of(severity: str) -> str:
    """critical/page/Sev0/Sev1 → outage, warning/Sev2 → degraded, anything else minor."""
    word = severity.strip().lower()
    return "outage" if word in OUTAGE else "degraded" if word in DEGRADED else "minor"


def map_alert(policy: Policy, alert: ParsedAlert) -> Mapped:
    """The service, impact and severity hint for one alert."""
    for rule in policy.alerts.rules:
        if all(matches(m, alert.labels) for m in rule.matchers):
            impact = rule.impact or impact_of(alert.severity)
            return Mapped(
                rule.service, impact, rule.severity, rule.name, f"alerts rule {rule.name}"
            )
    impact = impact_of(alert.severity)
    given, _unknown = resolve_services(alert.candidates, policy)
    if given:
        return Mapped(given[0], impact, why=f"names the catalogue service {given[0]}")
    if policy.alerts.default_service:
        return Mapped(policy.alerts.default_service, impact, why="alerts.default_service")
    return Mapped(None, impact, why="no rule or catalogue service matches: recorded only")


def map_group(policy: Policy, alerts) -> Mapped:
    """The group's mapping: its most severe firing alert that maps to a service."""
    best = None
    for alert in alerts:
        mapped = map_alert(policy, alert)
        if mapped.service is None or alert.state != "firing":
            continue
        if best is None or IMPACT_RANK[mapped.impact] > IMPACT_RANK[best.impact]:
            best = mapped
    return best or Mapped(None, "minor", why="no firing alert maps to a service: recorded only")
