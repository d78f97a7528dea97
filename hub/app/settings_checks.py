"""The start-up checks of the settings: problems that must stop the hub from starting.

Every check reads the table (hub/app/settings_table.py): choices, kinds and URL schemes are
declared there, so nothing here imports the modules that use the values.
"""

from __future__ import annotations

import math
from pathlib import Path
from urllib.parse import urlsplit

from hub.app.errors import one_of
from hub.app.settings import Settings, SettingsError, mask, split_hostport
from hub.app.settings_production import production_problems
from hub.app.settings_table import SETTINGS, Setting
from hub.policy.checks import parse_duration


def check_settings(settings: Settings) -> list[str]:
    """Problems that must stop the hub from starting (empty list: fine)."""
    problems = []
    if settings.production and not settings.values["HUB_SECRET_KEY"]:
        problems.append("HUB_SECRET_KEY is required when HUB_ENV=production")
    for s in SETTINGS:  # a typo (HUB_ENV=prod) must not quietly mean the default
        value = settings.values[s.name]
        if s.choices and value is not None and value not in s.choices:
            problems.append(f"{s.name} must be {one_of(s.choices)}, got {value!r}")
    transport = settings.values["HUB_MAIL_TRANSPORT"]
    if transport == "smtp" and not settings.values["HUB_SMTP_URL"]:
        problems.append(
            "HUB_MAIL_TRANSPORT=smtp needs HUB_SMTP_URL (e.g. smtp://mail.example.com:25)"
        )
    if transport == "graph":
        for name in (
            "HUB_GRAPH_TENANT_ID",
            "HUB_GRAPH_CLIENT_ID",
            "HUB_GRAPH_CLIENT_SECRET",
            "HUB_GRAPH_MAILBOX",
        ):
            if not settings.values[name]:
                problems.append(f"HUB_MAIL_TRANSPORT=graph needs {name}")
    problems += _ticket_problems(settings)
    problems += _signin_problems(settings)
    problems += _tls_problems(settings)
    for s in SETTINGS:
        value = settings.values[s.name]
        problem = None if value is None else _kind_problem(s, value)
        if problem:
            problems.append(problem)
    problems += _url_scheme_problems(settings)
    problems += _url_port_problems(settings)
    problems += driver_problems(settings)
    if settings.production:
        problems += production_problems(settings)
    return problems


def _kind_problem(s: Setting, value: str) -> str | None:
    """What is wrong with a value of a setting with a `kind`, as one line; None: fine."""
    if s.kind == "whole":
        at_least = int(s.minimum or 0)
        expected = "a whole number" + (f" of at least {at_least}" if at_least else "")
        if not value.strip().isdigit() or int(value) < at_least:
            return f"{s.name} must be {expected}, got {value!r}"
    elif s.kind == "number":
        expected = f"a number of at least {s.minimum:g}" if s.minimum else "a number greater than 0"
        try:
            number = float(value)
        except ValueError:
            number = None
        if (
            number is None
            or not math.isfinite(number)
            or number <= 0
            or (s.minimum is not None and number < s.minimum)
        ):
            return f"{s.name} must be {expected}, got {value!r}"
    elif s.kind == "duration":
        try:
            duration = parse_duration(value)
        except ValueError as exc:
            return f"{s.name}: {exc}"
        if not duration:
            return f"{s.name} must be longer than 0, got {value!r}"
    elif s.kind == "hostport":
        try:
            split_hostport(value)
        except SettingsError as exc:
            return f"{s.name}: {exc}"
    elif s.kind == "http":
        parts = urlsplit(value.strip())
        if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
            example = s.default or "https://hub.example.com"
            return (
                f"{s.name} must be an http:// or https:// URL (e.g. {example}), "
                f"got {mask(s, value)!r}"
            )
    return None


def _url_port_problems(settings: Settings) -> list[str]:
    """A port in any URL setting must be from 1 to 65535 (urllib refuses it only on use)."""
    problems = []
    for s in SETTINGS:
        value = settings.values[s.name]
        if not value or "://" not in value:
            continue
        try:
            port = urlsplit(value.strip()).port
        except ValueError:
            port = 0
        if port is not None and not 1 <= port <= 65535:
            problems.append(f"{s.name} must have a port from 1 to 65535, got {mask(s, value)!r}")
    return problems


def _url_scheme_problems(settings: Settings) -> list[str]:
    """URL settings with a closed set of schemes (the outgoing SMTP and intake IMAP URLs)."""
    problems = []
    for setting in SETTINGS:
        value = settings.values[setting.name]
        if setting.schemes and value and urlsplit(value).scheme not in setting.schemes:
            problems.append(
                f"{setting.name} must be a {one_of(f'{s}://' for s in setting.schemes)} URL "
                f"(e.g. {setting.example}), got scheme {urlsplit(value).scheme!r}"
            )
    return problems


def _ticket_problems(settings: Settings) -> list[str]:
    """The ticket export needs its secret, and https unless the ticket system is local."""
    url = settings.values["HUB_TICKET_WEBHOOK_URL"]
    if not url:
        return []
    problems = []
    if not settings.values["HUB_TICKET_WEBHOOK_SECRET"]:
        problems.append("HUB_TICKET_WEBHOOK_URL needs HUB_TICKET_WEBHOOK_SECRET (to sign exports)")
    parts = urlsplit(url)
    if parts.scheme == "http" and parts.hostname not in ("localhost", "127.0.0.1", "::1"):
        problems.append(
            "HUB_TICKET_WEBHOOK_URL must be https:// (plain http only to this machine), "
            f"got {parts.scheme}://{parts.hostname}"
        )
    return problems


ENTRA_CREDENTIALS = ("HUB_GRAPH_TENANT_ID", "HUB_GRAPH_CLIENT_ID", "HUB_GRAPH_CLIENT_SECRET")
SCALEOUT_INSTALL = "pip install 'mihub[scaleout]'"


def driver_problems(settings: Settings) -> list[str]:
    """The Python packages the database and queue URLs need, and whether they import.

    Without this, a PostgreSQL or Redis URL without the `scaleout` extra installed fails deep
    inside SQLAlchemy or Huey with a ModuleNotFoundError traceback.
    """
    import importlib

    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError

    problems = []
    try:
        url = make_url(settings.database_url)
    except ArgumentError:  # its message repeats the URL, password and all
        url = None
        problems.append(
            "HUB_DATABASE_URL is not a database URL (e.g. sqlite:///path/hub.db or "
            "postgresql+psycopg://user@host/db)"
        )
    if url is not None and url.get_backend_name() not in ("sqlite", "postgresql"):
        # not "pip install MySQLdb": the hub's migrations and locking know these two only
        problems.append(
            f"HUB_DATABASE_URL ({url.drivername}://…): only SQLite "
            "(sqlite:///path/hub.db) and PostgreSQL "
            "(postgresql+psycopg://user@host/db) are supported"
        )
        url = None
    if url is not None:
        try:
            url.get_dialect().import_dbapi()
        except NoSuchModuleError:
            problems.append(
                f"HUB_DATABASE_URL: unknown database {url.drivername!r} "
                "(use sqlite:///path/hub.db or postgresql+psycopg://user@host/db)"
            )
        except ImportError as exc:
            problems.append(f"HUB_DATABASE_URL ({url.drivername}://…) " + _missing_package(exc))
    scheme = urlsplit(settings.queue_url).scheme
    if scheme in ("redis", "rediss"):
        try:
            importlib.import_module("redis")
        except ImportError as exc:
            problems.append(f"HUB_QUEUE_URL ({scheme}://…) " + _missing_package(exc))
    elif scheme not in ("sqlite", "memory"):
        problems.append(
            f"HUB_QUEUE_URL must be a sqlite:///path, redis://host:6379/0, "
            f"rediss:// or memory:// URL, got scheme {scheme!r}"
        )
    return problems


def _missing_package(exc: ImportError) -> str:
    """`needs the Python package X: install it with …` for a driver's failed import."""
    module = (exc.name or "").split(".")[0]
    if not module:  # installed, but it would not import (e.g. psycopg without libpq)
        return f"needs a driver that does not import: {exc}"
    if module in ("psycopg", "redis"):
        how = f"install the scale-out extra: {SCALEOUT_INSTALL}"
    elif module == "psycopg2":
        how = f"pip install psycopg2-binary, or write postgresql+psycopg:// and {SCALEOUT_INSTALL}"
    else:
        how = f"pip install {module}"
    return f"needs the Python package {module}, which is not installed: {how}"


def _tls_problems(settings: Settings) -> list[str]:
    """The SMTP listener's certificate and key: both or neither, and readable files."""
    cert, key = settings.values["HUB_SMTP_TLS_CERT"], settings.values["HUB_SMTP_TLS_KEY"]
    if bool(cert) != bool(key):
        return ["HUB_SMTP_TLS_CERT and HUB_SMTP_TLS_KEY must be set together (STARTTLS)"]
    return [
        f"{name}={path}: no such file"
        for name, path in (("HUB_SMTP_TLS_CERT", cert), ("HUB_SMTP_TLS_KEY", key))
        if path and not Path(path).is_file()
    ]


def _signin_problems(settings: Settings) -> list[str]:
    """The web console's sign-in methods (its durations are checked by their kind)."""
    problems = []
    methods = {m.strip() for m in settings.text("HUB_SIGNIN").split(",")}
    if not methods <= {"auto", "entra", "link"} or ("auto" in methods and len(methods) > 1):
        problems.append(
            f"HUB_SIGNIN must be auto, entra, link or entra,link, got {settings['HUB_SIGNIN']!r}"
        )
    missing = [n for n in ENTRA_CREDENTIALS if not settings.values[n]]
    if "entra" in methods and missing:  # it used to fall back to mailed links, silently
        problems.append(
            f"HUB_SIGNIN={settings['HUB_SIGNIN']} needs the Entra app registration: "
            f"{', '.join(missing)} not set"
        )
    return problems
