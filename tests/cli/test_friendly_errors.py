"""Ordinary mistakes end a command with one clear line and a non-zero exit, no traceback."""

from __future__ import annotations

import os
import socket
import subprocess

import pytest

from hub.testing.harness import MIHUB, free_port
from tests.conftest import EXAMPLE_POLICY


@pytest.fixture
def env(tmp_path):
    """A development environment of its own (SQLite in tmp_path) for a `mihub` process."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")}
    return {
        **base,
        "HUB_DATA_DIR": str(tmp_path / "var"),
        "HUB_POLICY": str(EXAMPLE_POLICY),
        "HUB_QUEUE_URL": "memory://",
        "HUB_HTTP": f"127.0.0.1:{free_port()}",
        "HUB_SMTP_LISTEN": f"127.0.0.1:{free_port()}",
    }


def one_line_error(args: list[str], env: dict, cwd) -> str:
    """Run `mihub args`; assert it failed with one `Error: …` line; return that line."""
    done = subprocess.run(
        [*MIHUB, *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=60
    )
    assert done.returncode != 0, done.stdout
    assert "Traceback" not in done.stderr, done.stderr
    # (the example policy's warnings about its unset webhooks are not errors)
    lines = [ln for ln in done.stderr.splitlines() if ln.strip() and not ln.startswith("policy:")]
    errors = [ln for ln in lines if ln.startswith("Error: ")]
    assert len(errors) == 1 and len(lines) == 1, done.stderr
    return errors[0].removeprefix("Error: ")


@pytest.mark.parametrize(
    "command", ["run", "web", "worker", "smtpd", "db upgrade", "token create anna"]
)
def test_the_data_dir_is_a_file(env, tmp_path, command):
    (tmp_path / "var").write_text("not a directory")
    del env["HUB_QUEUE_URL"]  # the default: a SQLite queue in the data directory
    line = one_line_error(command.split(), env, tmp_path)
    assert line == f"HUB_DATA_DIR={tmp_path / 'var'} is a file, not a directory"


def test_the_data_dir_cannot_be_created(env, tmp_path):
    (tmp_path / "file").write_text("")
    env["HUB_DATA_DIR"] = str(tmp_path / "file" / "var")
    line = one_line_error(["run"], env, tmp_path)
    assert line.startswith(f"HUB_DATA_DIR={tmp_path / 'file' / 'var'} does not exist and cannot")


def test_the_data_dir_is_not_writable(env, tmp_path):
    if os.geteuid() == 0:  # root writes through permission bits; sysfs refuses even root
        target = "/sys"
    else:
        target = str(tmp_path / "readonly")
        os.mkdir(target, 0o500)
    env["HUB_DATA_DIR"] = target
    line = one_line_error(["web"], env, tmp_path)
    assert line.startswith(f"HUB_DATA_DIR={target} is not writable by user ")


@pytest.mark.parametrize(
    "command, setting",
    [("run", "HUB_HTTP"), ("run", "HUB_SMTP_LISTEN"), ("web", "HUB_HTTP")]
    + [("smtpd", "HUB_SMTP_LISTEN")],
)
def test_a_port_in_use_is_named_before_anything_starts(env, tmp_path, command, setting):
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        env[setting] = f"127.0.0.1:{port}"
        line = one_line_error([command], env, tmp_path)
    assert line == f"127.0.0.1:{port} is in use — is another mihub running?"
    assert not (tmp_path / "var" / "hub.db").exists()  # nothing migrated, no part started


def test_the_database_is_unreachable(env, tmp_path):
    port = free_port()
    env["HUB_DATABASE_URL"] = f"postgresql+psycopg://hub:pw-4711@127.0.0.1:{port}/hub"
    line = one_line_error(["web"], env, tmp_path)
    assert line.startswith(f"the database at postgresql+psycopg://hub:***@127.0.0.1:{port}/hub")
    assert "cannot be used" in line and "refused" in line.lower()
    assert "pw-4711" not in line


def test_the_smtp_certificate_is_not_a_certificate(env, tmp_path):
    for name in ("cert.pem", "key.pem"):
        (tmp_path / name).write_text("-----BEGIN NONSENSE-----\n")
    env.update(
        HUB_SMTP_TLS_CERT=str(tmp_path / "cert.pem"), HUB_SMTP_TLS_KEY=str(tmp_path / "key.pem")
    )
    line = one_line_error(["smtpd"], env, tmp_path)
    assert line.startswith("HUB_SMTP_TLS_CERT/HUB_SMTP_TLS_KEY cannot be used for STARTTLS: ")


def test_the_policy_is_missing(env, tmp_path):
    env["HUB_POLICY"] = str(tmp_path / "nowhere.yaml")
    line = one_line_error(["worker"], env, tmp_path)
    assert line.startswith(f"no policy file at {tmp_path / 'nowhere.yaml'}: set HUB_POLICY")


@pytest.mark.parametrize("command", ["worker", "token create anna", "classify payroll"])
def test_the_policy_is_a_directory(env, tmp_path, command):
    env["HUB_POLICY"] = str(tmp_path)
    line = one_line_error(command.split(), env, tmp_path)
    assert line == f"{tmp_path}: cannot read the policy file: Is a directory"


def test_the_sqlite_database_folder_cannot_be_made(env, tmp_path):
    (tmp_path / "file").write_text("")
    env["HUB_DATABASE_URL"] = f"sqlite:///{tmp_path / 'file' / 'hub.db'}"
    line = one_line_error(["db", "upgrade"], env, tmp_path)
    assert line.startswith(f"the database at sqlite:///{tmp_path / 'file' / 'hub.db'} cannot be")
    assert f"its directory {tmp_path / 'file'} cannot be made" in line


def test_a_review_file_whose_front_matter_is_not_yaml(env, tmp_path):
    (tmp_path / "review.md").write_text("---\ntitle: [unclosed\n---\n# Summary\n")
    line = one_line_error(
        ["review", "import", "INC-1", str(tmp_path / "review.md"), "--as", "anna"], env, tmp_path
    )
    assert line.startswith("the front matter is not valid YAML: ")
    assert line.endswith("(line 3 of the file)")


def test_the_teams_package_cannot_be_written(env, tmp_path):
    env.update(
        HUB_BOT_APP_ID="6f1f3b8e-1111-4222-8333-944445555666",
        HUB_BASE_URL="https://hub.example.com",
    )
    out = tmp_path / "missing" / "app.zip"
    line = one_line_error(["teams", "app-package", "--output", str(out)], env, tmp_path)
    assert line == f"cannot write {out}: No such file or directory"


def test_the_demo_data_dir_cannot_be_made(env, tmp_path):
    (tmp_path / "file").write_text("")
    where = tmp_path / "file" / "demo"
    line = one_line_error(["demo", "--data-dir", str(where)], env, tmp_path)
    assert line.startswith(f"--data-dir={where} does not exist and cannot be created")


def test_one_mailbox_poll_that_cannot_connect(env, tmp_path):
    port = free_port()  # nothing listens there
    env.update(
        HUB_IMAP_URL=f"imaps://intake:pw-4711@127.0.0.1:{port}/INBOX", HUB_LOG_LEVEL="WARNING"
    )
    line = one_line_error(["mailbox", "--once"], env, tmp_path)
    assert line.startswith("the mailbox poll failed: ConnectionRefusedError")
    assert "pw-4711" not in line
