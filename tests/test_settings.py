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
