"""Settings: one table drives defaults, `mihub config` and the README."""

from __future__ import annotations

import re

import pytest

from hub.app.settings import load_settings, mask
from hub.app.settings_checks import check_settings
from hub.app.settings_table import SETTINGS, Setting
from tests.conftest import ROOT


def test_defaults_then_env_then_overrides():
    s = load_settings(env={"HUB_HTTP": "0.0.0.0:9000"}, overrides={"HUB_LOG_LEVEL": "DEBUG"})
    assert s["HUB_HTTP"] == "0.0.0.0:9000"
    assert s["HUB_LOG_LEVEL"] == "DEBUG"
    assert s.database_url.startswith("sqlite:///") and s.database_url.endswith("hub.db")
    assert s.base_url == "http://0.0.0.0:9000"


def test_unknown_override_is_refused():
    from hub.app.settings import SettingsError

    with pytest.raises(SettingsError):
        load_settings(env={}, overrides={"HUB_NOPE": "1"})


@pytest.mark.parametrize(
    "env, problem",
    [
        ({"HUB_ENV": "production"}, "HUB_SECRET_KEY is required"),
        ({"HUB_MAIL_TRANSPORT": "pigeon"}, "must be smtp, graph or sink"),
        ({"HUB_MAIL_TRANSPORT": "smtp"}, "needs HUB_SMTP_URL"),
        ({"HUB_MAIL_TRANSPORT": "graph"}, "needs HUB_GRAPH_TENANT_ID"),
        ({"HUB_HTTP": "8080"}, "HUB_HTTP: expected host:port"),
        ({"HUB_MAX_BODY_BYTES": "1MB"}, "must be a whole number"),
        ({"HUB_TICKET_WEBHOOK_URL": "https://t.example/h"}, "needs HUB_TICKET_WEBHOOK_SECRET"),
        ({"HUB_TICKET_WEBHOOK_URL": "tickets.example"}, "HUB_TICKET_WEBHOOK_URL"),
        ({"HUB_TICKET_WEBHOOK_URL": "http://tickets.example/h"}, "must be https://"),
    ],
)
def test_start_up_problems(env, problem):
    problems = check_settings(load_settings(env=env))
    assert any(problem in p for p in problems), problems


def test_secrets_are_masked():
    secret = Setting("X", None, "", secret=True)
    assert mask(secret, "hunter2") == "****"
    assert mask(secret, "smtps://bob:hunter2@mail:465") == "smtps://bob:****@mail:465"
    plain = Setting("Y", None, "")
    assert mask(plain, "postgresql+psycopg://u:pw@db/x") == "postgresql+psycopg://u:****@db/x"
    assert mask(plain, None) == "(unset)"


def test_every_setting_is_in_the_readme():
    from hub.cli.config import settings_markdown

    readme = (ROOT / "README.md").read_text()
    table = {m.group(1) for m in re.finditer(r"^\| `(HUB_[A-Z0-9_]+)` \|", readme, re.M)}
    assert table == {s.name for s in SETTINGS}, "README settings table differs from SETTINGS"
    block = readme.split("<!-- settings:start -->")[1].split("<!-- settings:end -->")[0]
    assert block.strip() == settings_markdown().strip(), (
        "README settings table is stale: regenerate it with `mihub config --markdown`"
    )


@pytest.mark.parametrize(
    "name, value",
    [
        ("HUB_ENV", "prod"),
        ("HUB_LOG_LEVEL", "LOUD"),
        ("HUB_MAIL_TRANSPORT", "pigeon"),
        ("HUB_TEAMS_TRANSPORT", "carrier"),
        ("HUB_GRAPH_MAIL_FORMAT", "html"),
        ("HUB_MAILBOX_SOURCE", "pop3"),
    ],
)
def test_a_value_outside_a_closed_set_is_refused(name, value):
    setting = next(s for s in SETTINGS if s.name == name)
    problems = check_settings(load_settings(env={name: value}))
    allowed = ", ".join(setting.choices[:-1]) + " or " + setting.choices[-1]
    assert f"{name} must be {allowed}, got {value!r}" in problems, problems


def test_every_closed_set_is_checked():
    """Each setting that lists its values refuses others; its default is one of them."""
    closed = {s.name for s in SETTINGS if s.choices}
    assert {
        "HUB_ENV",
        "HUB_LOG_LEVEL",
        "HUB_MAIL_TRANSPORT",
        "HUB_TEAMS_TRANSPORT",
        "HUB_GRAPH_MAIL_FORMAT",
        "HUB_MAILBOX_SOURCE",
    } <= closed
    for s in SETTINGS:
        if s.choices:
            assert s.default is None or s.default in s.choices, s
            assert any(
                p.startswith(f"{s.name} must be ")
                for p in check_settings(load_settings(env={s.name: "no-such-value"}))
            )
    assert check_settings(load_settings(env={})) == []


def test_a_typo_of_production_is_not_development():
    """HUB_ENV=prod used to run as development, without the secret-key check."""
    settings = load_settings(env={"HUB_ENV": "prod"})
    assert any("HUB_ENV" in p and "'prod'" in p for p in check_settings(settings))


def test_closed_sets_ignore_case_and_give_the_spelling_the_code_uses():
    s = load_settings(
        env={
            "HUB_ENV": "Production",
            "HUB_LOG_LEVEL": "debug",
            "HUB_SECRET_KEY": "x" * 32,
            "HUB_TEAMS_TRANSPORT": " WebHook ",
            "HUB_MAIL_TRANSPORT": "SMTP",
            "HUB_SMTP_URL": "smtp://mail.example.com:25",
            "HUB_BASE_URL": "https://hub.example.com",
        }
    )
    assert (s["HUB_ENV"], s["HUB_LOG_LEVEL"], s["HUB_TEAMS_TRANSPORT"]) == (
        "production",
        "DEBUG",
        "webhook",
    )
    assert s.production and check_settings(s) == []
    import logging

    assert logging.getLevelName(s["HUB_LOG_LEVEL"]) == logging.DEBUG


@pytest.mark.parametrize(
    "env, problem",
    [
        (
            {"HUB_SMTP_URL": "http://mail:25"},
            "HUB_SMTP_URL must be a smtp://, smtp+starttls:// or smtps:// URL",
        ),
        ({"HUB_IMAP_URL": "pop3://u:p@mail"}, "HUB_IMAP_URL must be a imaps://, imap:// or"),
        ({"HUB_QUEUE_URL": "amqp://rabbit"}, "HUB_QUEUE_URL must be a sqlite:///path, redis://"),
        (
            {"HUB_DATABASE_URL": "oracle9://u:pw@db/x"},
            "HUB_DATABASE_URL (oracle9://…): only SQLite",
        ),
        (
            {"HUB_DATABASE_URL": "postgresql+nosuchdriver://u:pw@db/x"},
            "HUB_DATABASE_URL: unknown database 'postgresql+nosuchdriver'",
        ),
        ({"HUB_DATABASE_URL": "not a url:pw"}, "HUB_DATABASE_URL is not a database URL"),
    ],
)
def test_url_schemes_are_checked(env, problem):
    problems = check_settings(load_settings(env=env))
    assert any(p.startswith(problem) for p in problems), problems
    assert not any("pw" in p for p in problems), problems  # the password is never repeated


def _block_imports(monkeypatch, *modules):
    """Make `import <module>` fail as if the package were not installed."""
    import sys

    for name in list(sys.modules):
        if name.split(".")[0] in modules:
            monkeypatch.delitem(sys.modules, name)
    for name in modules:
        monkeypatch.setitem(sys.modules, name, None)  # import raises ModuleNotFoundError


def test_missing_scale_out_drivers_name_the_setting_and_the_extra(monkeypatch):
    from hub.app.settings_checks import driver_problems

    settings = load_settings(
        env={
            "HUB_DATABASE_URL": "postgresql+psycopg://u:pw@db/hub",
            "HUB_QUEUE_URL": "redis://127.0.0.1:6379/0",
        }
    )
    assert driver_problems(settings) == []  # installed here (the test extra)
    _block_imports(monkeypatch, "psycopg", "redis")
    problems = driver_problems(settings)
    assert problems == [
        "HUB_DATABASE_URL (postgresql+psycopg://…) needs the Python package psycopg, which is "
        "not installed: install the scale-out extra: pip install 'mihub[scaleout]'",
        "HUB_QUEUE_URL (redis://…) needs the Python package redis, which is not installed: "
        "install the scale-out extra: pip install 'mihub[scaleout]'",
    ]
    assert all(p in check_settings(settings) for p in problems)
    assert driver_problems(load_settings(env={})) == []  # SQLite needs nothing more


ONLY_SQLITE_AND_POSTGRES = (
    "only SQLite (sqlite:///path/hub.db) and PostgreSQL "
    "(postgresql+psycopg://user@host/db) are supported"
)


@pytest.mark.parametrize("env, problem", [
    # sizes and counts that cannot work: nothing fits, nothing is sent, nothing is parsed
    ({"HUB_MAX_BODY_BYTES": "0"}, "HUB_MAX_BODY_BYTES must be a whole number of at least 1024, got '0'"),
    ({"HUB_MAX_BODY_BYTES": "-1"}, "HUB_MAX_BODY_BYTES must be a whole number of at least 1024, got '-1'"),
    ({"HUB_MAX_BODY_BYTES": "100"}, "HUB_MAX_BODY_BYTES must be a whole number of at least 1024, got '100'"),
    ({"HUB_MAIL_MAX_HEADER_BYTES": "10"},
     "HUB_MAIL_MAX_HEADER_BYTES must be a whole number of at least 1024, got '10'"),
    ({"HUB_MAIL_MAX_PARTS": "0"}, "HUB_MAIL_MAX_PARTS must be a whole number of at least 1, got '0'"),
    ({"HUB_MAIL_MAX_DEPTH": "0"}, "HUB_MAIL_MAX_DEPTH must be a whole number of at least 1, got '0'"),
    ({"HUB_MAILBOX_POLL_SECONDS": "0"},
     "HUB_MAILBOX_POLL_SECONDS must be a whole number of at least 1, got '0'"),
    ({"HUB_SMTP_CONNECTIONS": "0"}, "HUB_SMTP_CONNECTIONS must be a whole number of at least 1, got '0'"),
    ({"HUB_SMTP_CONNECTIONS": "many"},
     "HUB_SMTP_CONNECTIONS must be a whole number of at least 1, got 'many'"),
    ({"HUB_WEB_WORKERS": "-2"}, "HUB_WEB_WORKERS must be a whole number, got '-2'"),
    # durations, rates and seconds: negative, zero or not a number
    ({"HUB_RETRY_BASE": "-3"}, "HUB_RETRY_BASE must be a number greater than 0, got '-3'"),
    ({"HUB_RETRY_BASE": "0"}, "HUB_RETRY_BASE must be a number greater than 0, got '0'"),
    ({"HUB_RETRY_BASE": "inf"}, "HUB_RETRY_BASE must be a number greater than 0, got 'inf'"),
    ({"HUB_TEAMS_WEBHOOK_RATE": "0"}, "HUB_TEAMS_WEBHOOK_RATE must be a number greater than 0, got '0'"),
    ({"HUB_TEAMS_BOT_RATE": "-4"}, "HUB_TEAMS_BOT_RATE must be a number greater than 0, got '-4'"),
    ({"HUB_GRAPH_SEND_PER_MINUTE": "fast"},
     "HUB_GRAPH_SEND_PER_MINUTE must be a number greater than 0, got 'fast'"),
    ({"HUB_DELIVERY_LEASE": "3"}, "HUB_DELIVERY_LEASE must be a number of at least 6, got '3'"),
    ({"HUB_DELIVERY_LEASE": "-120"}, "HUB_DELIVERY_LEASE must be a number of at least 6, got '-120'"),
    ({"HUB_SESSION_LIFETIME": "0h"}, "HUB_SESSION_LIFETIME must be longer than 0, got '0h'"),
    ({"HUB_SIGNIN_LINK_LIFETIME": "-15m"},
     "HUB_SIGNIN_LINK_LIFETIME: expected a duration like 90s, 5m, 4h or 2d, got '-15m'"),
    # ports
    ({"HUB_HTTP": "127.0.0.1:99999"},
     "HUB_HTTP: expected host:port with a port from 1 to 65535, got '127.0.0.1:99999'"),
    ({"HUB_HTTP": "[::1]:0"}, "HUB_HTTP: expected host:port with a port from 1 to 65535, got '[::1]:0'"),
    ({"HUB_SMTP_LISTEN": "0.0.0.0:65536"},
     "HUB_SMTP_LISTEN: expected host:port with a port from 1 to 65535, got '0.0.0.0:65536'"),
    ({"HUB_SMTP_URL": "smtp://bob:pw@mail.example.com:70000"},
     "HUB_SMTP_URL must have a port from 1 to 65535, got 'smtp://bob:****@mail.example.com:70000'"),
    ({"HUB_IMAP_URL": "imaps://bob:pw@mail.example.com:0/INBOX"},
     "HUB_IMAP_URL must have a port from 1 to 65535, got 'imaps://bob:****@mail.example.com:0/INBOX'"),
    ({"HUB_DATABASE_URL": "postgresql+psycopg://u:pw@db:99999/hub"},
     "HUB_DATABASE_URL must have a port from 1 to 65535, got 'postgresql+psycopg://u:****@db:99999/hub'"),
    ({"HUB_QUEUE_URL": "redis://127.0.0.1:123456/0"},
     "HUB_QUEUE_URL must have a port from 1 to 65535, got 'redis://127.0.0.1:123456/0'"),
    ({"HUB_BASE_URL": "https://hub.example.com:99999"},
     "HUB_BASE_URL must have a port from 1 to 65535, got 'https://hub.example.com:99999'"),
    # http(s) URLs
    ({"HUB_BASE_URL": "ftp://x"}, "HUB_BASE_URL must be an http:// or https:// URL "
                                  "(e.g. https://hub.example.com), got 'ftp://x'"),
    ({"HUB_BASE_URL": "hub.example.com"}, "HUB_BASE_URL must be an http:// or https:// URL "
                                          "(e.g. https://hub.example.com), got 'hub.example.com'"),
    ({"HUB_GRAPH_API": "https://"}, "HUB_GRAPH_API must be an http:// or https:// URL "
                                    "(e.g. https://graph.microsoft.com/v1.0), got 'https://'"),
    ({"HUB_AUTHORITY_HOST": "login.microsoftonline.com"}, "HUB_AUTHORITY_HOST must be an http://"),
    ({"HUB_BOT_API": "ws://smba.example"}, "HUB_BOT_API must be an http:// or https:// URL"),
    ({"HUB_BOT_OPENID_METADATA": "file:///etc/keys"}, "HUB_BOT_OPENID_METADATA must be an http://"),
    # databases the hub does not support
    ({"HUB_DATABASE_URL": "mysql://u:pw@x/y"}, f"HUB_DATABASE_URL (mysql://…): {ONLY_SQLITE_AND_POSTGRES}"),
    ({"HUB_DATABASE_URL": "mssql+pyodbc://u:pw@x/y"},
     f"HUB_DATABASE_URL (mssql+pyodbc://…): {ONLY_SQLITE_AND_POSTGRES}"),
])  # fmt: skip
def test_values_that_cannot_work_are_refused_naming_setting_value_and_expectation(env, problem):
    problems = check_settings(load_settings(env=env))
    assert len(problems) == 1 and problems[0].startswith(problem), problems
    assert "pw" not in problems[0] and "pip install" not in problems[0]


@pytest.mark.parametrize("env", [
    {"HUB_MAX_BODY_BYTES": "1024", "HUB_MAIL_MAX_HEADER_BYTES": "1024", "HUB_MAIL_MAX_PARTS": "1",
     "HUB_MAIL_MAX_DEPTH": "1", "HUB_MAILBOX_POLL_SECONDS": "1", "HUB_SMTP_CONNECTIONS": "1",
     "HUB_WEB_WORKERS": "0"},
    {"HUB_RETRY_BASE": "0.5", "HUB_TEAMS_WEBHOOK_RATE": "0.2", "HUB_TEAMS_BOT_RATE": "10",
     "HUB_GRAPH_SEND_PER_MINUTE": "1", "HUB_DELIVERY_LEASE": "60"},
    {"HUB_SESSION_LIFETIME": "1h30m", "HUB_SIGNIN_LINK_LIFETIME": "90s"},
    {"HUB_HTTP": "[::1]:1", "HUB_SMTP_LISTEN": "0.0.0.0:65535"},
    {"HUB_BASE_URL": "HTTPS://hub.example.com:8443/mihub", "HUB_GRAPH_API": "http://127.0.0.1:9/v1.0",
     "HUB_DATABASE_URL": "postgresql+psycopg://u@db:5432/hub", "HUB_QUEUE_URL": "redis://r:6379/0"},
    {"HUB_DATABASE_URL": "sqlite:///tmp/hub.db", "HUB_SMTP_URL": "smtps://u:p@mail:465",
     "HUB_IMAP_URL": "imaps://u:p@mail/INBOX"},
])  # fmt: skip
def test_the_edges_of_each_range_are_accepted(env):
    assert check_settings(load_settings(env=env)) == []
