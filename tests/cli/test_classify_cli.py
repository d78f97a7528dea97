"""`mihub classify --explain`: how the policy reads one report, for policy authors."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from hub.cli import main
from tests.classification.evaluate import HERE

POLICY = str(HERE / "policy.yaml")


@pytest.fixture
def runner(tmp_path, monkeypatch):
    monkeypatch.setenv("HUB_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.delenv("HUB_DATABASE_URL", raising=False)
    return CliRunner()


def test_explain_says_how_each_name_was_read(runner):
    text = "Workday login issue\nI got a mail from HR that Workday is down. Outlook works fine."
    result = runner.invoke(main, ["classify", "--policy", POLICY, "--explain", text])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[:2] == ["SEV4 (not major), rule default", "services: hr-portal"]
    assert "  title 'Workday' -> hr-portal: about it" in lines
    assert any(
        line.startswith("  title 'login' -> identity: mentioned only: an everyday word")
        for line in lines
    ), lines
    assert (
        "  text  'mail' -> email: mentioned only: named as the way the news came, not as "
        "affected" in lines
    )
    assert "  text  'Outlook' -> email: mentioned only: said to work" in lines
    assert "impact: outage" in lines and "security report: no" in lines


def test_without_explain_one_verdict_and_bad_input_is_one_line(runner):
    result = runner.invoke(main, ["classify", "--policy", POLICY, "Phishing mail\nI clicked."])
    assert result.exit_code == 0
    assert result.output.splitlines() == [
        "SEV1 (major incident), rule security-incident",
        "services: none",
    ]
    missing = runner.invoke(main, ["classify", "--policy", "/no/such/policy.yaml", "x"])
    assert missing.exit_code == 1 and "no such file" in missing.output
    assert "Traceback" not in missing.output
    assert runner.invoke(main, ["classify", "--help"]).exit_code == 0
