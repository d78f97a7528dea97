"""Settings are read through typed accessors whose defaults come from the table alone."""

from __future__ import annotations

import ast
import re
from datetime import timedelta
from pathlib import Path

import pytest

from hub.app.settings import Settings, SettingsError, load_settings
from hub.app.settings_table import BY_NAME, SETTINGS
from hub.policy.checks import parse_duration

ROOT = Path(__file__).resolve().parents[2]
# `settings["HUB_X"] or 30`: a default written again next to a read of the setting
FALLBACK = re.compile(r"""settings(?:\.values)?\[\s*["'](HUB_\w+)["']\s*\]\s*or\b""")
KNOWN_FALLBACKS: dict[str, int] = {}


def _unset(name: str) -> Settings:
    return load_settings(env={}, overrides={name: None})


@pytest.mark.parametrize("setting", [s for s in SETTINGS if s.default], ids=lambda s: s.name)
def test_every_default_comes_from_the_table(setting):
    settings = _unset(setting.name)
    assert settings[setting.name] is None
    assert settings.text(setting.name) == setting.default
    if setting.kind == "whole":
        assert settings.int(setting.name) == int(setting.default)
    if setting.kind in ("whole", "number"):
        assert settings.float(setting.name) == float(setting.default)
    if setting.kind == "duration":
        assert settings.duration(setting.name) == parse_duration(setting.default)


def test_values_given_win_over_the_table():
    settings = load_settings(
        env={"HUB_MAX_BODY_BYTES": "2048"},
        overrides={"HUB_SESSION_LIFETIME": "2d", "HUB_TEAMS_WEBHOOK_RATE": "0.5"},
    )
    assert settings.int("HUB_MAX_BODY_BYTES") == 2048
    assert settings.duration("HUB_SESSION_LIFETIME") == timedelta(days=2)
    assert settings.float("HUB_TEAMS_WEBHOOK_RATE") == 0.5
    assert settings.path("HUB_POLICY") == Path("policy.yaml")


def test_unset_without_a_default():
    settings = load_settings(env={})
    assert settings["HUB_GRAPH_MAILBOX"] is None
    assert settings.text("HUB_GRAPH_MAILBOX") == ""
    with pytest.raises(SettingsError, match="HUB_GRAPH_MAILBOX is not set"):
        settings.path("HUB_GRAPH_MAILBOX")
    with pytest.raises(KeyError):
        settings.text("HUB_NO_SUCH_SETTING")


def test_typed_settings_have_a_default():
    """A number or duration the code reads must not depend on the environment to exist."""
    typed = [s for s in SETTINGS if s.kind in ("whole", "number", "duration")]
    assert typed and all(s.default for s in typed)


def test_derived_defaults():
    assert load_settings(env={}).mailbox_source == "graph"
    imap = {"HUB_IMAP_URL": "imaps://u:p@mail.example.com/INBOX"}
    assert load_settings(env=imap).mailbox_source == "imap"
    chosen = {**imap, "HUB_MAILBOX_SOURCE": "graph"}
    assert load_settings(env=chosen).mailbox_source == "graph"


def test_no_default_is_written_again_next_to_a_read():
    found: dict[str, list[str]] = {}
    for path in sorted([*(ROOT / "hub").rglob("*.py"), *(ROOT / "bench").rglob("*.py")]):
        names = FALLBACK.findall(path.read_text())
        if names:
            found[path.relative_to(ROOT).as_posix()] = names
    extra = {
        path: names for path, names in found.items() if len(names) > KNOWN_FALLBACKS.get(path, 0)
    }
    assert not extra, f"read these through settings.text/int/float/duration/path: {extra}"


def test_url_schemes_match_the_transports():
    from hub.channels.email.transports import SMTP_PORTS
    from hub.intake.email.mailbox import IMAP_PORTS

    assert BY_NAME["HUB_SMTP_URL"].schemes == tuple(SMTP_PORTS)
    assert BY_NAME["HUB_IMAP_URL"].schemes == tuple(IMAP_PORTS)


def test_the_app_layer_imports_no_intake_or_channel():
    for path in (ROOT / "hub" / "app").rglob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            else:
                continue
            for name in names:
                assert not name.startswith(("hub.intake", "hub.channels")), (path, name)
