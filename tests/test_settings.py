"""Settings: one table drives defaults, `mihub config` and the README."""

from __future__ import annotations

import re

import pytest

from hub.settings import SETTINGS, Setting, check_settings, load_settings, mask
from tests.conftest import ROOT


def test_defaults_then_env_then_overrides():
    s = load_settings(env={"HUB_HTTP": "0.0.0.0:9000"}, overrides={"HUB_LOG_LEVEL": "DEBUG"})
    assert s["HUB_HTTP"] == "0.0.0.0:9000"
    assert s["HUB_LOG_LEVEL"] == "DEBUG"
    assert s.database_url.startswith("sqlite:///") and s.database_url.endswith("hub.db")
    assert s.base_url == "http://0.0.0.0:9000"


def test_unknown_override_is_refused():
    from hub.settings import SettingsError

    with pytest.raises(SettingsError):
        load_settings(env={}, overrides={"HUB_NOPE": "1"})


@pytest.mark.parametrize("env, problem", [
    ({"HUB_ENV": "production"}, "HUB_SECRET_KEY is required"),
    ({"HUB_MAIL_TRANSPORT": "pigeon"}, "must be smtp, graph or sink"),
    ({"HUB_MAIL_TRANSPORT": "smtp"}, "needs HUB_SMTP_URL"),
    ({"HUB_MAIL_TRANSPORT": "graph"}, "needs HUB_GRAPH_TENANT_ID"),
    ({"HUB_HTTP": "8080"}, "HUB_HTTP: expected host:port"),
    ({"HUB_MAX_BODY_BYTES": "1MB"}, "must be a whole number"),
])
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
    from hub.cli import settings_markdown

    readme = (ROOT / "README.md").read_text()
    table = {m.group(1) for m in re.finditer(r"^\| `(HUB_[A-Z0-9_]+)` \|", readme, re.M)}
    assert table == {s.name for s in SETTINGS}, "README settings table differs from SETTINGS"
    block = readme.split("<!-- settings:start -->")[1].split("<!-- settings:end -->")[0]
    assert block.strip() == settings_markdown().strip(), (
        "README settings table is stale: regenerate it with `mihub config --markdown`")


@pytest.mark.parametrize("name, value", [
    ("HUB_ENV", "prod"), ("HUB_LOG_LEVEL", "LOUD"), ("HUB_MAIL_TRANSPORT", "pigeon"),
    ("HUB_TEAMS_TRANSPORT", "carrier"), ("HUB_GRAPH_MAIL_FORMAT", "html"),
    ("HUB_MAILBOX_SOURCE", "pop3"),
])
def test_a_value_outside_a_closed_set_is_refused(name, value):
    setting = next(s for s in SETTINGS if s.name == name)
    problems = check_settings(load_settings(env={name: value}))
    allowed = ", ".join(setting.choices[:-1]) + " or " + setting.choices[-1]
    assert f"{name} must be {allowed}, got {value!r}" in problems, problems


def test_every_closed_set_is_checked():
    """Each setting that lists its values refuses others; its default is one of them."""
    closed = {s.name for s in SETTINGS if s.choices}
    assert {"HUB_ENV", "HUB_LOG_LEVEL", "HUB_MAIL_TRANSPORT", "HUB_TEAMS_TRANSPORT",
            "HUB_GRAPH_MAIL_FORMAT", "HUB_MAILBOX_SOURCE"} <= closed
    for s in SETTINGS:
        if s.choices:
            assert s.default is None or s.default in s.choices, s
            assert any(p.startswith(f"{s.name} must be ")
                       for p in check_settings(load_settings(env={s.name: "no-such-value"})))
    assert check_settings(load_settings(env={})) == []


def test_a_typo_of_production_is_not_development():
    """HUB_ENV=prod used to run as development, without the secret-key check."""
    settings = load_settings(env={"HUB_ENV": "prod"})
    assert any("HUB_ENV" in p and "'prod'" in p for p in check_settings(settings))


def test_closed_sets_ignore_case_and_give_the_spelling_the_code_uses():
    s = load_settings(env={"HUB_ENV": "Production", "HUB_LOG_LEVEL": "debug",
                           "HUB_SECRET_KEY": "x", "HUB_TEAMS_TRANSPORT": " SINK "})
    assert (s["HUB_ENV"], s["HUB_LOG_LEVEL"], s["HUB_TEAMS_TRANSPORT"]) == (
        "production", "DEBUG", "sink")
    assert s.production and check_settings(s) == []
    import logging

    assert logging.getLevelName(s["HUB_LOG_LEVEL"]) == logging.DEBUG


@pytest.mark.parametrize("env, problem", [
    ({"HUB_SMTP_URL": "http://mail:25"},
     "HUB_SMTP_URL must be a smtp://, smtp+starttls:// or smtps:// URL"),
    ({"HUB_IMAP_URL": "pop3://u:p@mail"}, "HUB_IMAP_URL must be a imaps://, imap:// or"),
    ({"HUB_QUEUE_URL": "amqp://rabbit"}, "HUB_QUEUE_URL must be a sqlite:///path, redis://"),
    ({"HUB_DATABASE_URL": "oracle9://u:pw@db/x"}, "HUB_DATABASE_URL: unknown database"),
    ({"HUB_DATABASE_URL": "not a url:pw"}, "HUB_DATABASE_URL is not a database URL"),
])
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
    from hub.settings import driver_problems

    settings = load_settings(env={"HUB_DATABASE_URL": "postgresql+psycopg://u:pw@db/hub",
                                  "HUB_QUEUE_URL": "redis://127.0.0.1:6379/0"})
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
