"""The policy's `alerts:` section: label matchers and Azure fields, checked with line numbers,
and how alerts map through it (rules, the default mapping, default service)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from click.testing import CliRunner

from hub.cli import main
from hub.intake.alerts.mapping import map_alert, matches
from hub.intake.alerts.parse import parse
from hub.policy.alerts import MatcherError, parse_matcher
from hub.policy.load import PolicyError, parse_policy
from hub.policy.model import AlertMatcher
from tests.alerts_kit import am_alert, am_group, payload
from tests.conftest import EXAMPLE_POLICY

BASE = EXAMPLE_POLICY.read_text()
SECTION = """
alerts:
  default_service: email
  quiet_time: 45m
  flapping_after: 4
  rules:
    - name: billing-prod
      match: ['service=~"billing|invoicing"', 'env="prod"', 'severity!="info"']
      service: erp
      severity: SEV2
    - name: ignore-staging
      match: ['env=~"stag.*"']
      record_only: true
    - name: payroll-vms
      azure: {resource_group: rg-payroll, severity: [Sev0, Sev1]}
      service: payroll
      impact: outage
"""


def policy_with(section: str):
    return parse_policy(BASE + section, "policy.yaml", env={})


def test_section_read():
    policy = policy_with(SECTION)
    a = policy.alerts
    assert (a.default_service, a.quiet_time, a.flapping_after) == (
        "email",
        timedelta(minutes=45),
        4,
    )
    assert [r.name for r in a.rules] == ["billing-prod", "ignore-staging", "payroll-vms"]
    assert a.rules[0].matchers[0] == AlertMatcher("service", "=~", "billing|invoicing")
    assert a.rules[1].service is None


def test_without_section_the_defaults_apply():
    policy = parse_policy(BASE, "policy.yaml", env={})
    assert policy.alerts.rules == () and policy.alerts.default_service is None


@pytest.mark.parametrize(
    "text,op,value",
    [('env="prod"', "=", "prod"), ("env=prod", "=", "prod"), ('env!="dev"', "!=", "dev"),
     ('svc=~"a|b"', "=~", "a|b"), ('svc !~ "x.*"', "!~", "x.*"), (r'q="say \"hi\""', "=", 'say "hi"')],
)  # fmt: skip
def test_matcher_syntax(text, op, value):
    m = parse_matcher(text)
    assert (m.op, m.value) == (op, value)


@pytest.mark.parametrize("text", ["env", '="x"', 'env=~"("', "env==x", '9env="x"'])
def test_bad_matchers(text):
    with pytest.raises(MatcherError):
        parse_matcher(text)


def test_matching_like_alertmanager():
    labels = {"service": "billing", "env": "prod", "items": ["a", "b"]}
    assert matches(AlertMatcher("service", "=~", "bill.*"), labels)
    assert not matches(AlertMatcher("service", "=~", "bill"), labels)  # anchored, whole value
    assert matches(AlertMatcher("team", "=", ""), labels)  # a missing label is ""
    assert matches(AlertMatcher("team", "!~", ".+"), labels)
    assert matches(AlertMatcher("items", "=", "b"), labels)  # a list: any of its items
    assert not matches(AlertMatcher("items", "!=", "b"), labels)


def _one(policy, **labels):
    (alert,) = parse("alertmanager", am_group("g", [am_alert("f", "x", **labels)])).alerts
    return map_alert(policy, alert)


def test_mapping_through_rules_and_defaults():
    policy = policy_with(SECTION)
    hit = _one(policy, service="invoicing", env="prod", severity="warning")
    assert (hit.service, hit.impact, hit.severity, hit.rule) == (
        "erp",
        "degraded",
        "SEV2",
        "billing-prod",
    )
    assert _one(policy, service="payroll", env="staging").service is None  # record_only rule
    default = _one(policy, service="adp", severity="critical")  # an alias of payroll
    assert (default.service, default.impact, default.rule) == ("payroll", "outage", None)
    assert _one(policy, service="nothing-we-know").service == "email"  # default_service
    body = payload("azure_metric")
    e = body["data"]["essentials"]
    e["alertTargetIDs"] = ["/subscriptions/x/resourceGroups/RG-Payroll/providers/a/b/vm7"]
    e["severity"] = "Sev1"
    mapped = map_alert(policy, parse("azure-monitor", body).alerts[0])
    assert (mapped.service, mapped.impact, mapped.rule) == ("payroll", "outage", "payroll-vms")


def _lines(section: str) -> list[str]:
    with pytest.raises(PolicyError) as caught:
        policy_with(section)
    return [str(p) for p in caught.value.problems]


def test_problems_have_line_numbers():
    start = BASE.count("\n") + 1  # the section's first line (after the leading newline)
    problems = _lines(
        """
alerts:
  default_service: nowhere
  rules:
    - name: a
      match: ['service=~"(billing"']
      service: erp
    - name: b
      match: ['env']
      service: payrol
    - name: c
      azure: {severity: [Sev7], region: west}
      service: erp
    - name: d
      match: ['env="x"']
"""
    )
    text = "\n".join(problems)
    assert f"policy.yaml:{start + 2}: alerts.default_service: unknown service 'nowhere'" in text
    assert f"policy.yaml:{start + 5}: alerts.rules[0].match[0]: the regular expression" in text
    assert f"policy.yaml:{start + 8}: alerts.rules[1].match[0]: expected a matcher" in text
    assert f"policy.yaml:{start + 9}: alerts.rules[1].service: unknown service 'payrol'" in text
    assert "'Sev7' is not one of Sev0 to Sev4" in text and "unknown key 'region'" in text
    assert "alerts.rules[3]: needs `service: KEY` or `record_only: true`" in text


def test_policy_check_command_names_the_line(tmp_path):
    bad = tmp_path / "policy.yaml"
    bad.write_text(
        BASE + "\nalerts:\n  rules:\n    - {name: x, match: ['env=~\"[\"'], service: erp}\n"
    )
    result = CliRunner().invoke(main, ["policy", "check", str(bad)])
    assert result.exit_code == 1
    line = BASE.count("\n") + 4
    assert f"policy.yaml:{line}: alerts.rules[0].match[0]: the regular expression" in result.output
