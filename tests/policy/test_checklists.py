"""The checklists section and services' runbooks: read into the model, and every mistake
named with its file, line and field (by `mihub policy check`, a real process)."""

from __future__ import annotations

import subprocess
from datetime import timedelta

import pytest

from hub.core.checklists import plan_tasks
from hub.policy.load import PolicyError, parse_policy
from hub.testing.harness import MIHUB
from tests.policy.test_policy import HEAD

GOOD = HEAD.replace(
    "  payroll: {aliases: [adp], critical: true, tech_lead: [alice]}\n",
    "  payroll: {aliases: [adp], critical: true, tech_lead: [alice],\n"
    "            runbook: {url: 'https://wiki.example.com/payroll', steps: [Check the feed]}}\n",
) + (
    "checklists:\n"  # line 16
    "  major_incident_manager:\n"
    "    - {task: Open the bridge, within: 5m}\n"
    "    - {task: Brief the executives, within: 15m, severities: [SEV1]}\n"
    "  communications_owner:\n"
    "    - Send the first update\n"
)


def test_checklists_and_runbooks_are_read_and_planned():
    policy = parse_policy(GOOD, env={})
    mim = policy.checklists["major_incident_manager"]
    assert [(i.task, i.within, i.severities) for i in mim] == [
        ("Open the bridge", timedelta(minutes=5), ()),
        ("Brief the executives", timedelta(minutes=15), ("SEV1",)),
    ]
    assert policy.services["payroll"].runbook.steps == ("Check the feed",)
    sev1 = plan_tasks(policy, "SEV1", ["payroll"])
    assert [(t.n, t.role, t.text, t.source) for t in sev1] == [
        (1, "major_incident_manager", "Open the bridge", "checklist"),
        (2, "major_incident_manager", "Brief the executives", "checklist"),
        (3, "tech_lead", "Payroll: Check the feed", "runbook"),
        (4, "communications_owner", "Send the first update", "checklist"),
    ]
    assert sev1[2].url == "https://wiki.example.com/payroll"
    # the SEV1-only task and the runbook of a service not involved are left out
    assert [t.text for t in plan_tasks(policy, "SEV3", [])] == [
        "Open the bridge",
        "Send the first update",
    ]


@pytest.mark.parametrize(
    "old, new, line, field, message",
    [
        (
            "  communications_owner:\n    - Send",
            "  comms_owner:\n    - Send",
            20,
            "checklists.comms_owner",
            "unknown role 'comms_owner'",
        ),
        (
            "within: 5m}",
            "within: 5 minutes}",
            18,
            "checklists.major_incident_manager[0].within",
            "expected a duration like 90s, 5m, 4h or 2d, got '5 minutes'",
        ),
        (
            "severities: [SEV1]",
            "severities: [SEV9]",
            19,
            "checklists.major_incident_manager[1].severities[0]",
            "unknown severity 'SEV9'",
        ),
        (
            "{task: Open the bridge, within: 5m}",
            "{title: Open the bridge, within: 5m}",
            18,
            "checklists.major_incident_manager[0].title",
            "unknown key 'title'",
        ),
        (
            "steps: [Check the feed]}",
            "step: [Check the feed]}",
            6,
            "services.payroll.runbook.step",
            "unknown key 'step'",
        ),
        (
            "url: 'https://wiki.example.com/payroll'",
            "url: 'wiki/payroll'",
            6,
            "services.payroll.runbook.url",
            "expected an http(s) URL",
        ),
    ],
)
def test_mistakes_name_their_line(tmp_path, old, new, line, field, message):
    assert GOOD.count(old) == 1, old
    text = GOOD.replace(old, new)
    with pytest.raises(PolicyError) as caught:
        parse_policy(text, "policy.yaml", env={})
    problems = caught.value.problems
    assert any(p.line == line and p.field == field and message in p.message for p in problems), [
        str(p) for p in problems
    ]
    path = tmp_path / "policy.yaml"
    path.write_text(text)
    done = subprocess.run(
        [*MIHUB, "policy", "check", str(path)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 1
    out = done.stdout + done.stderr
    assert f"policy.yaml:{line}: {field}:" in out and message in out, out
    assert "Traceback" not in out
