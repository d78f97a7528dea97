"""The `mihub` command line, through click's runner and as a real process."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from click.testing import CliRunner

from hub.cli import main
from tests.conftest import EXAMPLE_POLICY, ROOT


@pytest.fixture
def runner(tmp_path, monkeypatch):
    monkeypatch.setenv("HUB_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.delenv("HUB_DATABASE_URL", raising=False)
    monkeypatch.setenv("HUB_POLICY", str(EXAMPLE_POLICY))
    return CliRunner()


def test_help_everywhere(runner):
    for args in ([], ["run"], ["web"], ["worker"], ["config"], ["policy", "check"],
                 ["db", "upgrade"], ["token", "create"], ["token", "revoke"]):
        result = runner.invoke(main, [*args, "--help"])
        assert result.exit_code == 0, (args, result.output)
        assert "Usage:" in result.output


def test_policy_check_ok(runner):
    result = runner.invoke(main, ["policy", "check", str(EXAMPLE_POLICY)])
    assert result.exit_code == 0, result.output
    assert "OK" in result.output and "SEV1" in result.output


def test_policy_check_reports_line_and_field(runner, tmp_path):
    bad = tmp_path / "bad.yaml"
    text = EXAMPLE_POLICY.read_text().replace("ack_within: 5m", "ack_within: 5 minutes", 1)
    bad.write_text(text)
    line = next(i for i, ln in enumerate(text.splitlines(), 1) if "5 minutes" in ln)
    result = runner.invoke(main, ["policy", "check", str(bad)])
    assert result.exit_code == 1
    assert f"bad.yaml:{line}:" in result.output
    assert "ack_within" in result.output and "duration" in result.output


def test_config_masks_secrets(runner, monkeypatch):
    monkeypatch.setenv("HUB_SECRET_KEY", "s3cret-value")
    monkeypatch.setenv("HUB_SMTP_URL", "smtp+starttls://bob:pw123@mail.example.com:587")
    result = runner.invoke(main, ["config"])
    assert "s3cret-value" not in result.output and "pw123" not in result.output
    assert "HUB_SECRET_KEY" in result.output and "****" in result.output


def test_token_create_prints_token_last(runner):
    result = runner.invoke(main, ["token", "create", "anna"])
    assert result.exit_code == 0, result.output
    assert result.output.split()[-1].startswith("mih_")
    bad = runner.invoke(main, ["token", "create", "nobody"])
    assert bad.exit_code != 0 and "unknown person" in bad.output


def test_refuses_to_start_with_bad_policy(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("people: {}\n")
    env = dict(os.environ, HUB_POLICY=str(bad), HUB_DATA_DIR=str(tmp_path / "var"))
    proc = subprocess.run([sys.executable, "-m", "hub.cli", "web"], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0
    assert "policy has errors" in proc.stderr and "bad.yaml:" in proc.stderr
