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
    for args in (
        [],
        ["run"],
        ["web"],
        ["worker"],
        ["config"],
        ["policy", "check"],
        ["db", "upgrade"],
        ["token", "create"],
        ["token", "revoke"],
    ):
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
    # stdout alone: CliRunner captures the process's stderr too, where another test's
    # server thread may print (socketserver's "----" error banner, seen once in CI)
    assert result.stdout.split()[-1].startswith("mih_"), result.stdout
    bad = runner.invoke(main, ["token", "create", "nobody"])
    assert bad.exit_code != 0 and "unknown person" in bad.output


def test_refuses_to_start_with_bad_policy(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("people: {}\n")
    env = dict(os.environ, HUB_POLICY=str(bad), HUB_DATA_DIR=str(tmp_path / "var"))
    proc = subprocess.run(
        [sys.executable, "-m", "hub.cli", "web"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode != 0
    assert "policy has errors" in proc.stderr and "bad.yaml:" in proc.stderr


def _mihub(args, env, *, block=()):
    """`mihub ARGS` as a process; `block`: top-level packages that will not import, as if
    they were not installed (a meta-path finder placed before every other)."""
    script = (
        "import sys\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        f"        if name.split('.')[0] in {tuple(block)!r}:\n"
        "            raise ModuleNotFoundError(f'No module named {name!r}', name=name)\n"
        "sys.meta_path.insert(0, Block())\n"
        "from hub.cli import main\n"
        "main(sys.argv[1:], prog_name='mihub')\n"
    )
    return subprocess.run(
        [sys.executable, "-c", script, *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize(
    "setting, value, allowed",
    [
        ("HUB_ENV", "prod", "development or production"),
        ("HUB_LOG_LEVEL", "LOUD", "DEBUG, INFO, WARNING, ERROR or CRITICAL"),
    ],
)
def test_a_typo_in_a_closed_setting_stops_start_up(tmp_path, setting, value, allowed):
    env = dict(
        os.environ,
        HUB_POLICY=str(EXAMPLE_POLICY),
        HUB_DATA_DIR=str(tmp_path / "var"),
        **{setting: value},
    )
    env.pop("HUB_DATABASE_URL", None)
    proc = _mihub(["db", "upgrade"], env)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert f"{setting} must be {allowed}, got {value!r}" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "var").exists()  # refused before touching anything


def test_missing_scale_out_drivers_stop_start_up_without_a_traceback(tmp_path):
    env = dict(
        os.environ,
        HUB_POLICY=str(EXAMPLE_POLICY),
        HUB_DATA_DIR=str(tmp_path / "var"),
        HUB_DATABASE_URL="postgresql+psycopg://postgres@127.0.0.1:5432/test",
        HUB_QUEUE_URL="redis://127.0.0.1:6379/0",
    )
    proc = _mihub(["db", "upgrade"], env, block=("psycopg", "redis"))
    assert proc.returncode == 1, proc.stdout + proc.stderr
    lines = proc.stderr.splitlines()
    assert lines[0] == "Error: the hub cannot start:"
    assert (
        "  HUB_DATABASE_URL (postgresql+psycopg://…) needs the Python package psycopg, "
        "which is not installed: install the scale-out extra: pip install 'mihub[scaleout]'"
        in lines
    )
    assert (
        "  HUB_QUEUE_URL (redis://…) needs the Python package redis, which is not "
        "installed: install the scale-out extra: pip install 'mihub[scaleout]'" in lines
    )
    assert "Traceback" not in proc.stderr
    # the same process without the blocker gets past the check (to the database)
    ok = _mihub(
        ["config"],
        {
            **env,
            "HUB_DATABASE_URL": "sqlite:///" + str(tmp_path / "x.db"),
            "HUB_QUEUE_URL": "memory://",
        },
        block=("psycopg", "redis"),
    )
    assert ok.returncode == 0, ok.stderr


def test_run_banner_names_where_each_part_listens(runner, monkeypatch):
    import hub.runner

    monkeypatch.setenv("HUB_HTTP", "127.0.0.1:18080")
    monkeypatch.setenv("HUB_SMTP_LISTEN", "0.0.0.0:12525")
    monkeypatch.delenv("HUB_BASE_URL", raising=False)
    started = []
    monkeypatch.setattr(hub.runner, "run_all", lambda: started.append(True) or 0)
    result = runner.invoke(main, ["run"])
    assert result.exit_code == 0, result.output
    assert started
    lines = result.output.splitlines()
    assert "  web console and API  http://127.0.0.1:18080/" in lines
    assert "  SMTP intake          0.0.0.0:12525" in lines

    monkeypatch.setenv("HUB_BASE_URL", "https://hub.example.com")
    monkeypatch.setenv("HUB_HTTP", "[::1]:18080")
    result = runner.invoke(main, ["run"])
    assert (
        "  web console and API  http://[::1]:18080/ (public address https://hub.example.com/)"
        in result.output.splitlines()
    ), result.output


def test_healthz_of_every_worker_reports_a_broken_policy_edit(backend, tmp_path):
    """Under gunicorn each worker process has its own Hub; /healthz, answered by a worker
    that has not used the policy since the file was edited, still tells the truth."""
    from hub import create_app
    from hub.app.context import Hub
    from hub.app.settings import load_settings
    from hub.policy.load import load_policy

    path = tmp_path / "policy.yaml"
    good = EXAMPLE_POLICY.read_text()
    path.write_text(good)
    settings = load_settings(
        overrides={
            "HUB_DATA_DIR": str(backend["data_dir"]),
            "HUB_DATABASE_URL": backend["database_url"],
            "HUB_QUEUE_URL": "memory://",
            "HUB_POLICY": str(path),
        }
    )
    workers = [Hub(settings, policy=load_policy(path)) for _ in range(2)]
    clients = []
    for worker in workers:
        worker.policies.check_every = 0  # the file is looked at on each use
        clients.append(create_app({"TESTING": True}, hub=worker).test_client())
    try:
        assert [c.get("/healthz").get_json()["checks"]["policy"] for c in clients] == ["ok"] * 2
        path.write_text(good.replace("default_severity:", "default_severity_typo:"))
        os.utime(path, (1, 1))
        first = workers[0].policy  # one worker uses the policy and finds the bad edit
        assert workers[0].policies.last_error
        for c in clients:
            r = c.get("/healthz")
            assert r.get_json()["checks"]["policy"] == "reload failed; running the last good one"
            problems = r.get_json()["checks"]["policy_problems"]  # what to fix, where
            assert any(str(path) in p and "default_severity" in p for p in problems), problems
        assert workers[1].policy is not first and workers[1].policies.last_error
        path.write_text(good)
        os.utime(path, (2, 2))
        assert [c.get("/healthz").get_json()["checks"]["policy"] for c in clients] == ["ok"] * 2
    finally:
        for worker in workers:
            worker.db.dispose()


def _one_unset_env_reference(tmp_path):
    """The example policy and an environment where only TEAMS_ONCALL_WEBHOOK is unset."""
    env = dict(
        os.environ,
        HUB_POLICY=str(EXAMPLE_POLICY),
        HUB_DATA_DIR=str(tmp_path / "var"),
        TEAMS_EXEC_WEBHOOK="https://hooks.example/exec",
        TEAMS_IT_WEBHOOK="https://hooks.example/it",
        TEAMS_SERVICEDESK_WEBHOOK="https://hooks.example/desk",
    )
    for name in ("TEAMS_ONCALL_WEBHOOK", "HUB_DATABASE_URL", "HUB_QUEUE_URL", "HUB_CHILD"):
        env.pop(name, None)
    return env


@pytest.mark.parametrize(
    "args, times",
    [
        (["policy", "check"], 1),  # printed as a warning by the check itself
        (["config"], 0),  # settings only: the policy is not read
        (["mail", "quarantine"], 0),  # a one-shot command: its own output only
        (["token", "create", "anna"], 0),
        (["token", "create", "--source", "alertmanager"], 0),
    ],
)
def test_each_policy_warning_is_said_once_per_process(tmp_path, args, times):
    proc = _mihub(args, _one_unset_env_reference(tmp_path))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    said = [
        ln
        for ln in (proc.stdout + proc.stderr).splitlines()
        if "TEAMS_ONCALL_WEBHOOK is not set" in ln
    ]
    assert len(said) == times, proc.stdout + proc.stderr
    assert not any("TEAMS_EXEC_WEBHOOK" in ln for ln in proc.stderr.splitlines())


def test_a_part_started_by_mihub_run_leaves_the_policy_warnings_to_its_parent(tmp_path):
    env = _one_unset_env_reference(tmp_path)
    # a long-running part (here one that stops at once: no mailbox is configured)
    alone = _mihub(["mailbox", "--once"], env)
    child = _mihub(["mailbox", "--once"], {**env, "HUB_CHILD": "1"})
    for proc in (alone, child):
        assert "needs HUB_GRAPH_MAILBOX" in proc.stderr, proc.stderr
    assert "TEAMS_ONCALL_WEBHOOK is not set" in alone.stderr
    assert "is not set" not in child.stderr


def test_a_token_is_all_token_create_prints(tmp_path):
    proc = _mihub(["token", "create", "anna"], _one_unset_env_reference(tmp_path))
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    (line,) = proc.stdout.splitlines()
    assert line.startswith("API token for anna (shown once; store it safely): mih_")


def test_settings_that_cannot_work_stop_start_up_with_one_line_each(tmp_path):
    env = dict(
        os.environ,
        HUB_POLICY=str(EXAMPLE_POLICY),
        HUB_DATA_DIR=str(tmp_path / "var"),
        HUB_MAX_BODY_BYTES="0",
        HUB_RETRY_BASE="-3",
        HUB_HTTP="127.0.0.1:99999",
        HUB_BASE_URL="ftp://x",
        HUB_DATABASE_URL="mysql://u:pw@db/hub",
    )
    env.pop("HUB_QUEUE_URL", None)
    proc = _mihub(["db", "upgrade"], env)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    lines = proc.stderr.splitlines()
    assert lines[0] == "Error: the hub cannot start:"
    assert sorted(lines[1:]) == sorted(
        [
            "  HUB_HTTP: expected host:port with a port from 1 to 65535, got '127.0.0.1:99999'",
            "  HUB_BASE_URL must be an http:// or https:// URL (e.g. https://hub.example.com), "
            "got 'ftp://x'",
            "  HUB_MAX_BODY_BYTES must be a whole number of at least 1024, got '0'",
            "  HUB_RETRY_BASE must be a number greater than 0, got '-3'",
            "  HUB_DATABASE_URL (mysql://…): only SQLite (sqlite:///path/hub.db) and PostgreSQL "
            "(postgresql+psycopg://user@host/db) are supported",
        ]
    ), proc.stderr
    assert "Traceback" not in proc.stderr and "MySQLdb" not in proc.stderr
    assert not (tmp_path / "var").exists()  # refused before touching anything
