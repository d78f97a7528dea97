"""The policy file's `alerts:` section: how monitoring alerts map to catalogue services.

    alerts:
      default_service: KEY        # alerts nothing else maps; without it they are recorded only
      quiet_time: 30m             # a minor incident opened by alerts alone resolves after this
      flapping_after: 3           # an alert that fired this often is marked flapping
      rules:                      # first match wins; every matcher must hold
        - name: billing-down
          match: ['service=~"billing|invoicing"', 'severity="critical"', 'env="prod"']
          service: erp            # or `record_only: true`
          impact: outage          # optional: else from the alert's severity
          severity: SEV1          # optional: at least this severe
        - name: payroll-vms
          azure: {resource_group: rg-payroll, configuration_items: [payroll-vm1], severity: [Sev0, Sev1]}
          service: payroll

Matchers are Alertmanager's: `=`, `!=`, `=~`, `!~`, regular expressions matching the whole value.
"""

from __future__ import annotations

import re

from yaml.nodes import Node

from hub.policy.checks import Reader
from hub.policy.model import IMPACTS, AlertMatcher, AlertPolicy, AlertRule

SECTION_KEYS = ("rules", "default_service", "quiet_time", "flapping_after")
RULE_KEYS = ("name", "match", "azure", "service", "record_only", "impact", "severity")
AZURE_KEYS = ("resource_group", "configuration_items", "severity", "signal_type", "alert_rule")
AZURE_SEVERITIES = ("Sev0", "Sev1", "Sev2", "Sev3", "Sev4")
_MATCHER = re.compile(
    r'^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)\s*(?:"((?:[^"\\]|\\.)*)"|([^"\s=~][^"]*?))\s*$'
)


class MatcherError(ValueError):
    """A matcher that cannot be read; the message says why."""


def parse_matcher(text: str) -> AlertMatcher:
    """`name op "value"` into an AlertMatcher; MatcherError says what is wrong."""
    found = _MATCHER.match(text)
    if not found:
        raise MatcherError(
            f'expected a matcher like service="billing" or service=~"billing|invoicing", '
            f"got {text!r}"
        )
    name, op, quoted, bare = found.groups()
    value = bytes(quoted, "utf-8").decode("unicode_escape") if quoted is not None else bare
    if op in ("=~", "!~"):
        try:
            re.compile(value)
        except re.error as exc:
            raise MatcherError(f"the regular expression {value!r} is not valid: {exc}") from None
    return AlertMatcher(name, op, value)


def read_alerts(r: Reader, node: Node | None, known: dict) -> AlertPolicy:
    """The alerts section (absent: the default mapping by `service` label and severity)."""
    f = r.mapping(node, "alerts", SECTION_KEYS) or {}
    services = known.get("services")
    kwargs: dict = {
        "default_service": r.ref(
            f.get("default_service"), "alerts.default_service", services, "service"
        ),
        "quiet_time": r.duration(f.get("quiet_time"), "alerts.quiet_time"),
        "flapping_after": r.integer(f.get("flapping_after"), "alerts.flapping_after", 2),
    }
    rules, names = [], set()
    for i, item in enumerate(r.seq(f.get("rules"), "alerts.rules") or []):
        rule = _read_rule(r, item, f"alerts.rules[{i}]", known, names)
        if rule is not None:
            rules.append(rule)
    kwargs["rules"] = tuple(rules)
    return AlertPolicy(**{k: v for k, v in kwargs.items() if v is not None})


def _read_rule(r: Reader, node: Node, path: str, known: dict, names: set) -> AlertRule | None:
    before = len(r.problems)
    f = r.mapping(node, path, RULE_KEYS, required=("name",))
    if f is None:
        return None
    name = r.string(f.get("name"), f"{path}.name")
    if name in names:
        r.problem(f["name"], f"{path}.name", f"duplicate rule name {name!r}")
    names.add(name)
    matchers = []
    for field, item in r.items(f.get("match"), f"{path}.match"):
        text = r.string(item, field)
        if text is not None:
            try:
                matchers.append(parse_matcher(text))
            except MatcherError as exc:
                r.problem(item, field, str(exc))
    matchers += _azure_matchers(r, f.get("azure"), f"{path}.azure")
    if not matchers and "match" not in f and "azure" not in f:
        r.problem(node, path, "needs `match:` (label matchers) or `azure:` (Azure fields)")
    service = r.ref(f.get("service"), f"{path}.service", known.get("services"), "service")
    record_only = r.boolean(f.get("record_only"), f"{path}.record_only")
    if service is None and not record_only and "service" not in f:
        r.problem(node, path, "needs `service: KEY` or `record_only: true`")
    if service is not None and record_only:
        r.problem(f["record_only"], f"{path}.record_only", "a rule with a service records more")
    impact = r.string(f.get("impact"), f"{path}.impact")
    if impact is not None and impact not in IMPACTS:
        r.problem(f["impact"], f"{path}.impact", f"expected one of {', '.join(IMPACTS)}")
    severity = r.ref(f.get("severity"), f"{path}.severity", known.get("severities"), "severity")
    if len(r.problems) > before or name is None:
        return None
    return AlertRule(name, tuple(matchers), None if record_only else service, impact, severity)


def _azure_matchers(r: Reader, node: Node | None, path: str) -> list[AlertMatcher]:
    """Azure fields as matchers on the labels an Azure alert gets (hub.intake.alerts.parse)."""
    f = r.mapping(node, path, AZURE_KEYS) or {}
    out = []
    for key, value in f.items():
        values = r.strings(value, f"{path}.{key}")
        if key == "severity":
            for bad in (v for v in values if v not in AZURE_SEVERITIES):
                r.problem(value, f"{path}.severity", f"{bad!r} is not one of Sev0 to Sev4")
        if values:
            either = "|".join(re.escape(v) for v in values)
            out.append(AlertMatcher(key, "=~", f"(?i:{either})"))
    return out
