"""The hub's settings: defaults from the table, then HUB_* environment, then overrides.

Code reads a setting through a typed accessor of `Settings`; the default it falls back on
comes from the table (hub/app/settings_table.py) and is written nowhere else.
"""

from __future__ import annotations

import builtins
import os
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from hub.app.settings_table import BY_NAME, SETTINGS, Setting
from hub.policy.checks import parse_duration

DEV_SECRET = "dev-insecure-secret-key"


class SettingsError(Exception):
    """A setting is missing or malformed."""


@dataclass(frozen=True)
class Settings:
    """The settings of one process, read through typed accessors.

    - `settings.text(name)`: the value as text; unset (or empty) gives the table's default,
      and "" when the table has none.
    - `settings.int(name)`, `settings.float(name)`: a number ("whole" and "number" settings).
    - `settings.duration(name)`: a timedelta from a duration like `15m` or `12h`.
    - `settings.path(name)`: a Path, as written (not resolved).
    - `settings[name]`: the raw value, None when unset: for code that tells unset apart.

    A name that is not in the table is a KeyError. The start-up checks
    (hub/app/settings_checks.py) have refused malformed values before the hub runs, so the
    number and duration accessors only raise on a value that skipped them.
    Derived values with a default computed from other settings are properties:
    `data_dir`, `database_url`, `queue_url`, `base_url`, `secret_key`, `production`,
    `mailbox_source`.
    """

    values: dict[str, str | None]
    unknown: tuple[str, ...] = ()  # HUB_* names in the environment that are no setting

    def __getitem__(self, name: str) -> str | None:
        return self.values[name]

    def text(self, name: str) -> str:
        """The value, else the table's default, else ""."""
        return self.values[name] or BY_NAME[name].default or ""

    def int(self, name: str) -> int:
        """A whole-number setting."""
        return builtins.int(self._required(name))

    def float(self, name: str) -> float:
        """A number setting."""
        return builtins.float(self._required(name))

    def duration(self, name: str) -> timedelta:
        """A duration setting (`90s`, `15m`, `12h`, `2d`)."""
        return parse_duration(self._required(name))

    def path(self, name: str) -> Path:
        """A path setting, as written."""
        return Path(self._required(name))

    def _required(self, name: str) -> str:
        value = self.text(name)
        if not value:
            raise SettingsError(f"{name} is not set")
        return value

    @property
    def data_dir(self) -> Path:
        return self.path("HUB_DATA_DIR").resolve()

    @property
    def database_url(self) -> str:
        return self.values["HUB_DATABASE_URL"] or f"sqlite:///{self.data_dir / 'hub.db'}"

    @property
    def queue_url(self) -> str:
        return self.values["HUB_QUEUE_URL"] or f"sqlite:///{self.data_dir / 'queue.db'}"

    @property
    def base_url(self) -> str:
        if self.values["HUB_BASE_URL"]:
            return self.values["HUB_BASE_URL"].rstrip("/")
        host, port = split_hostport(self.text("HUB_HTTP"))
        return f"http://{_url_host(host)}:{port}"

    @property
    def secret_key(self) -> str:
        return self.values["HUB_SECRET_KEY"] or DEV_SECRET

    @property
    def production(self) -> bool:
        return self.text("HUB_ENV").lower() == "production"

    @property
    def mailbox_source(self) -> str:
        """HUB_MAILBOX_SOURCE, else `imap` when HUB_IMAP_URL is set, else `graph`."""
        return self.values["HUB_MAILBOX_SOURCE"] or (
            "imap" if self.values["HUB_IMAP_URL"] else "graph"
        )


def _url_host(host: str) -> str:
    """The host as written in a URL or `host:port` (an IPv6 address in brackets)."""
    return f"[{host}]" if ":" in host else host


def join_hostport(host: str, port: int) -> str:
    """`host:port` again, from split_hostport's parts."""
    return f"{_url_host(host)}:{port}"


def split_hostport(value: str) -> tuple[str, int]:
    """Split `host:port` into its parts."""
    host, _, port = value.rpartition(":")
    if not host or not port.isdigit() or not 1 <= int(port) <= 65535:
        raise SettingsError(f"expected host:port with a port from 1 to 65535, got {value!r}")
    return host.strip("[]"), int(port)


def load_settings(env: dict[str, str] | None = None, overrides: dict | None = None) -> Settings:
    """Defaults, then HUB_* environment variables, then explicit overrides."""
    env = os.environ if env is None else env
    values: dict[str, str | None] = {s.name: s.default for s in SETTINGS}
    for name in values:
        if env.get(name) not in (None, ""):
            values[name] = env[name]
    for name, value in (overrides or {}).items():
        if name.startswith("HUB_"):
            if name not in BY_NAME:
                raise SettingsError(f"unknown setting {name}")
            values[name] = None if value is None else str(value)
    for s in SETTINGS:  # `Production`, `debug`: the spelling the code compares against
        value = values[s.name]
        if s.choices and value is not None:
            values[s.name] = next(
                (c for c in s.choices if c.lower() == value.strip().lower()), value
            )
    unknown = tuple(
        sorted(n for n in env if n.startswith("HUB_") and n not in BY_NAME and env.get(n))
    )
    return Settings(values, unknown)


def mask(setting: Setting, value: str | None) -> str:
    """The value as shown to people: secrets masked, passwords in URLs hidden."""
    if value is None:
        return "(unset)"
    if setting.secret:
        if "://" in value:
            parts = urlsplit(value)
            if parts.password:
                netloc = parts.netloc.replace(f":{parts.password}@", ":****@")
                return urlunsplit(parts._replace(netloc=netloc))
            return value
        return "****"
    if "://" in value:
        parts = urlsplit(value)
        if parts.password:
            return urlunsplit(parts._replace(netloc=parts.netloc.replace(parts.password, "****")))
    return value
