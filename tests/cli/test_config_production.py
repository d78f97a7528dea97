"""`mihub config` and start-up refuse unsafe production settings, one line each."""

from __future__ import annotations

import os
import subprocess

import pytest
from click.testing import CliRunner

from hub.cli import main
from hub.testing.harness import MIHUB
from tests.conftest import EXAMPLE_POLICY

SAFE = {
    "HUB_ENV": "production",
    "HUB_SECRET_KEY": "k" * 32,
    "HUB_BASE_URL": "https://hub.example.com",
    "HUB_MAIL_TRANSPORT": "smtp",
    "HUB_SMTP_URL": "smtp://mail.example.com:25",
    "HUB_TEAMS_TRANSPORT": "webhook",
}


@pytest.fixture
def config(tmp_path, monkeypatch):
    """Run `mihub config` with SAFE changed by `changes` (None: unset); (exit code, problems)."""
    for name in list(os.environ):
        if name.startswith("HUB_") and not name.startswith("HUB_TEST_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("HUB_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("HUB_POLICY", str(EXAMPLE_POLICY))
    monkeypatch.setenv("HUB_QUEUE_URL", "memory://")

    def run(**changes):
        for name, value in {**SAFE, **changes}.items():
            if value is None:
                monkeypatch.delenv(name, raising=False)
            else:
                monkeypatch.setenv(name, value)
        result = CliRunner().invoke(main, ["config"])
        lines = result.stderr.splitlines()
        return result.exit_code, [ln.removeprefix("problem: ") for ln in lines]

    return run


def test_a_safe_production_setup_passes(config):
    assert config() == (0, [])


@pytest.mark.parametrize(
    "changes, expected",
    [
        ({"HUB_SECRET_KEY": "x"}, "HUB_SECRET_KEY is 1 bytes; production needs at least 32"),
        ({"HUB_SECRET_KEY": "k" * 31}, "HUB_SECRET_KEY is 31 bytes"),
        ({"HUB_SECRET_KEY": None}, "HUB_SECRET_KEY is required when HUB_ENV=production"),
        (
            {"HUB_MAIL_TRANSPORT": "sink", "HUB_SMTP_URL": None},
            "HUB_MAIL_TRANSPORT=sink writes mail to local files",
        ),
        ({"HUB_TEAMS_TRANSPORT": "sink"}, "HUB_TEAMS_TRANSPORT=sink writes Teams cards"),
        ({"HUB_BASE_URL": None}, "HUB_BASE_URL is not set: links in mail and cards would point"),
        ({"HUB_BASE_URL": "http://hub.example.com"}, "HUB_BASE_URL must be an https:// address"),
        (
            {
                "HUB_MAIL_TRANSPORT": "graph",
                "HUB_GRAPH_TENANT_ID": "t",
                "HUB_GRAPH_CLIENT_ID": "c",
                "HUB_GRAPH_CLIENT_SECRET": "s",
                "HUB_GRAPH_MAILBOX": "hub@example.com",
            },
            "HUB_SMTP_URL is set but unused: HUB_MAIL_TRANSPORT=graph",
        ),
        ({"HUB_GRAPH_MAIL_FORMAT": "json"}, "HUB_GRAPH_MAIL_FORMAT is set but unused"),
        (
            {"HUB_IMAP_URL": "imaps://u:p@mail.example.com/INBOX", "HUB_MAILBOX_SOURCE": "graph"},
            "HUB_IMAP_URL is set but unused: HUB_MAILBOX_SOURCE=graph",
        ),
        (
            {"HUB_MAIL_TRANSPRT": "smtp"},
            "HUB_MAIL_TRANSPRT is not a setting of the hub; did you mean HUB_MAIL_TRANSPORT?",
        ),
        ({"HUB_WHATEVER_ELSE": "1"}, "HUB_WHATEVER_ELSE is not a setting of the hub (see"),
        ({"HUB_SIGNIN": "entra"}, "HUB_SIGNIN=entra needs the Entra app registration"),
    ],
)
def test_each_unsafe_setting_is_one_line_and_exit_1(config, changes, expected):
    code, problems = config(**changes)
    assert code == 1
    assert len(problems) == 1, problems
    assert problems[0].startswith(expected), problems


def test_development_only_warns_about_an_unknown_name(config):
    code, lines = config(HUB_ENV="development", HUB_MAIL_TRANSPRT="smtp")
    assert code == 0
    assert lines == [
        "warning: HUB_MAIL_TRANSPRT is not a setting of the hub; did you mean HUB_MAIL_TRANSPORT?"
    ]


def test_secrets_are_not_printed_in_the_problems(config):
    code, problems = config(HUB_SMTP_URL="smtps://bob:pw-4711@mail.example.com:99999")
    assert code == 1 and problems
    assert not any("pw-4711" in p for p in problems)


def test_a_production_process_refuses_to_start(tmp_path):
    """The same checks stop `mihub web` before anything starts: one line each, exit 1."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")}
    env.update(
        HUB_ENV="production",
        HUB_SECRET_KEY="short",
        HUB_DATA_DIR=str(tmp_path / "var"),
        HUB_POLICY=str(EXAMPLE_POLICY),
        HUB_QUEUE_URL="memory://",
    )
    done = subprocess.run(
        [*MIHUB, "web"], env=env, capture_output=True, text=True, timeout=60, cwd=tmp_path
    )
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert "HUB_SECRET_KEY is 5 bytes" in done.stderr
    assert "HUB_MAIL_TRANSPORT=sink" in done.stderr  # the default, refused in production
    assert "HUB_BASE_URL is not set" in done.stderr
    assert not (tmp_path / "var").exists()  # nothing started, nothing created
