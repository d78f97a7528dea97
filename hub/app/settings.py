"""One table of settings: name, default, help. It drives defaults, `mihub config` and the README."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from hub.app.errors import one_of


@dataclass(frozen=True)
class Setting:
    name: str
    default: str | None
    help: str
    secret: bool = False
    choices: tuple[str, ...] = ()  # a closed set of values (matched ignoring case)
    # What a value must look like, checked at start-up (see check_settings): "whole" (a whole
    # number of at least `minimum`, default 0), "number" (above 0, at least `minimum`),
    # "duration" (like 15m, longer than 0), "hostport" (host:port, port 1-65535) or "http"
    # (an http:// or https:// URL with a host). "" : free text, or checked on its own.
    kind: str = ""
    minimum: float | None = None


SETTINGS: tuple[Setting, ...] = (
    Setting(
        "HUB_DATA_DIR", "./var", "Where the embedded database, queue, sinks and built site live."
    ),
    Setting(
        "HUB_DATABASE_URL",
        None,
        "SQLAlchemy URL of the database; default SQLite `hub.db` in the data dir. "
        "Scale-out: `postgresql+psycopg://user@host/db`.",
    ),
    Setting(
        "HUB_QUEUE_URL",
        None,
        "Huey queue; default SQLite `queue.db` in the data dir. Scale-out: `redis://host:6379/0`.",
    ),
    Setting(
        "HUB_POLICY", "./policy.yaml", "The policy file (people, services, severities, rules)."
    ),
    Setting(
        "HUB_SECRET_KEY",
        None,
        "Signs sessions, reply tokens and Message-IDs. Required outside development.",
        secret=True,
    ),
    Setting(
        "HUB_HTTP",
        "127.0.0.1:8080",
        "Address the web server listens on (`host:port`).",
        kind="hostport",
    ),
    Setting(
        "HUB_WEB_WORKERS",
        "0",
        "Processes of the production WSGI server (gunicorn); 0: two per CPU, at most 8.",
        kind="whole",
    ),
    Setting(
        "HUB_SMTP_LISTEN", "127.0.0.1:2525", "Address of the SMTP intake listener.", kind="hostport"
    ),
    Setting(
        "HUB_BASE_URL",
        None,
        "The hub's public address for links in mail and cards; default from HUB_HTTP.",
        kind="http",
    ),
    Setting(
        "HUB_MAIL_TRANSPORT",
        "sink",
        "`smtp`, `graph` or `sink` (local files under the data dir, viewable in the console).",
        choices=("smtp", "graph", "sink"),
    ),
    Setting(
        "HUB_SMTP_URL",
        None,
        "Outgoing SMTP server: `smtp://host:25`, `smtp+starttls://user:pass@host:587`, "
        "`smtps://user:pass@host:465`.",
        secret=True,
    ),
    Setting(
        "HUB_MAIL_FROM",
        "Major Incident Hub <incidents@localhost>",
        "From address of outgoing mail.",
    ),
    Setting("HUB_GRAPH_TENANT_ID", None, "Microsoft Entra tenant id (Graph mail, bot, sign-in)."),
    Setting("HUB_GRAPH_CLIENT_ID", None, "App registration (client) id."),
    Setting("HUB_GRAPH_CLIENT_SECRET", None, "App registration client secret.", secret=True),
    Setting(
        "HUB_GRAPH_MAILBOX", None, "Mailbox (UPN) the hub sends from and reads intake mail from."
    ),
    Setting(
        "HUB_TEAMS_OUTGOING_SECRET",
        None,
        "Security token shown when the Teams outgoing webhook was created (base64).",
        secret=True,
    ),
    Setting(
        "HUB_TEAMS_TRANSPORT",
        "auto",
        "`webhook` (post to Workflows webhooks), `sink` (local files), or `auto`: "
        "sink when no webhook is configured.",
        choices=("webhook", "sink", "auto"),
    ),
    Setting(
        "HUB_AUTHORITY_HOST",
        "https://login.microsoftonline.com",
        "Microsoft identity platform host (override for local fakes).",
        kind="http",
    ),
    Setting(
        "HUB_GRAPH_API",
        "https://graph.microsoft.com/v1.0",
        "Microsoft Graph base URL.",
        kind="http",
    ),
    Setting(
        "HUB_BOT_API",
        "https://smba.trafficmanager.net/teams",
        "Bot Framework connector base URL.",
        kind="http",
    ),
    Setting(
        "HUB_MAX_BODY_BYTES",
        "1048576",
        "Largest accepted API request body (bytes, at least 1024); larger gets 413.",
        kind="whole",
        minimum=1024,
    ),
    Setting(
        "HUB_LOG_LEVEL",
        "INFO",
        "Python log level: `DEBUG`, `INFO`, `WARNING`, `ERROR` or `CRITICAL`.",
        choices=("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"),
    ),
    Setting(
        "HUB_ENV",
        "development",
        "`development` or `production`; production refuses to start without HUB_SECRET_KEY.",
        choices=("development", "production"),
    ),
    Setting(
        "HUB_GRAPH_MAIL_FORMAT",
        "mime",
        "How Graph sendMail gets each message: `mime` keeps Message-ID, In-Reply-To, References "
        "and Auto-Submitted (threading); `json` keeps only X- headers but can skip Sent Items.",
        choices=("mime", "json"),
    ),
    Setting(
        "HUB_SMTP_CONNECTIONS",
        "8",
        "Most SMTP connections one process keeps open to HUB_SMTP_URL (reused across sends).",
        kind="whole",
        minimum=1,
    ),
    Setting(
        "HUB_SIGNIN",
        "auto",
        "How people sign in to the web console: `entra` (Microsoft Entra ID, needs "
        "HUB_GRAPH_TENANT_ID, HUB_GRAPH_CLIENT_ID and HUB_GRAPH_CLIENT_SECRET), `link` (a "
        "one-time link mailed to the person), `entra,link`, or `auto`: entra when a tenant "
        "is configured, else link.",
    ),
    Setting(
        "HUB_SESSION_LIFETIME",
        "12h",
        "How long a web console sign-in lasts (e.g. 8h, 12h, 2d); then sign in again.",
        kind="duration",
    ),
    Setting(
        "HUB_SIGNIN_LINK_LIFETIME",
        "15m",
        "How long a mailed one-time sign-in link stays valid; each link works once.",
        kind="duration",
    ),
    Setting(
        "HUB_MAIL_TRUSTED_AUTHSERV_IDS",
        None,
        "Comma-separated authserv-ids (your mail gateway's, e.g. `mx.example.com`) whose "
        "Authentication-Results headers are believed: DMARC fail is quarantined, pass verifies "
        "the sender. Unset: no such header is believed and the allowlist alone decides.",
    ),
    Setting(
        "HUB_MAIL_MAX_HEADER_BYTES",
        "65536",
        "Largest header block of inbound mail (bytes, at least 1024); larger messages are "
        "refused unparsed.",
        kind="whole",
        minimum=1024,
    ),
    Setting(
        "HUB_MAIL_MAX_PARTS",
        "100",
        "Most MIME parts of inbound mail; more are refused.",
        kind="whole",
        minimum=1,
    ),
    Setting(
        "HUB_MAIL_MAX_DEPTH",
        "10",
        "Deepest MIME nesting of inbound mail; deeper is refused.",
        kind="whole",
        minimum=1,
    ),
    Setting(
        "HUB_IMAP_URL",
        None,
        "Intake mailbox for `mihub mailbox` over IMAP: `imaps://user:pass@host:993/INBOX` "
        "(or `imap://…` with STARTTLS, `imap+plain://…` for a local test server).",
        secret=True,
    ),
    Setting(
        "HUB_MAILBOX_SOURCE",
        None,
        "`imap` or `graph` (delta query on HUB_GRAPH_MAILBOX's inbox); default: imap when "
        "HUB_IMAP_URL is set, else graph.",
        choices=("imap", "graph"),
    ),
    Setting(
        "HUB_MAILBOX_POLL_SECONDS",
        "30",
        "Seconds between two polls of the intake mailbox.",
        kind="whole",
        minimum=1,
    ),
    Setting(
        "HUB_BOT_APP_ID",
        None,
        "Microsoft App ID of the Teams bot: the audience of Bot Framework tokens at "
        "/intake/bot and the bot of the Teams app package. Unset: /intake/bot answers 503.",
    ),
    Setting(
        "HUB_BOT_OPENID_METADATA",
        "https://login.botframework.com/v1/.well-known/openidconfiguration",
        "OpenID metadata of the Bot Framework token issuer (its signing keys); override "
        "for a local fake.",
        kind="http",
    ),
    Setting(
        "HUB_TEAMS_WEBHOOK_RATE",
        "4",
        "Most requests per second to one Teams Workflows webhook (Teams throttles above 4).",
        kind="number",
    ),
    Setting(
        "HUB_TEAMS_BOT_RATE",
        "4",
        "Most bot messages per second to one Teams conversation.",
        kind="number",
    ),
    Setting(
        "HUB_GRAPH_SEND_PER_MINUTE",
        "30",
        "Most Graph sendMail messages per minute per mailbox (Exchange's limit is 30).",
        kind="number",
    ),
    Setting(
        "HUB_RETRY_BASE",
        "15",
        "Seconds before the first retry of a failed delivery; doubles each attempt up to 30 "
        "minutes (a provider's Retry-After wins).",
        kind="number",
    ),
    Setting(
        "HUB_DELIVERY_LEASE",
        "120",
        "Seconds a worker owns a notification it is sending (at least 60: one send may take "
        "45); a dead worker's rows return to the queue after this.",
        kind="number",
        minimum=60,
    ),
)

_BY_NAME = {s.name: s for s in SETTINGS}
DEV_SECRET = "dev-insecure-secret-key"


class SettingsError(Exception):
    """A setting is missing or malformed."""


@dataclass(frozen=True)
class Settings:
    values: dict[str, str | None]

    def __getitem__(self, name: str) -> str | None:
        return self.values[name]

    @property
    def data_dir(self) -> Path:
        return Path(self.values["HUB_DATA_DIR"] or "./var").resolve()

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
        host, port = split_hostport(self.values["HUB_HTTP"] or "127.0.0.1:8080")
        return f"http://{_url_host(host)}:{port}"

    @property
    def secret_key(self) -> str:
        return self.values["HUB_SECRET_KEY"] or DEV_SECRET

    @property
    def production(self) -> bool:
        return (self.values["HUB_ENV"] or "").lower() == "production"


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
            if name not in _BY_NAME:
                raise SettingsError(f"unknown setting {name}")
            values[name] = None if value is None else str(value)
    for s in SETTINGS:  # `Production`, `debug`: the spelling the code compares against
        value = values[s.name]
        if s.choices and value is not None:
            values[s.name] = next(
                (c for c in s.choices if c.lower() == value.strip().lower()), value
            )
    return Settings(values)


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
    problems += _signin_problems(settings)
    for s in SETTINGS:
        value = settings.values[s.name]
        problem = None if value is None else _kind_problem(s, value)
        if problem:
            problems.append(problem)
    problems += _url_scheme_problems(settings)
    problems += _url_port_problems(settings)
    problems += driver_problems(settings)
    return problems


def _kind_problem(s: Setting, value: str) -> str | None:
    """What is wrong with a value of a setting with a `kind`, as one line; None: fine."""
    from hub.policy.checks import parse_duration

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
    """The outgoing SMTP and intake IMAP URLs: each knows a closed set of schemes."""
    from hub.channels.email.transports import SMTP_PORTS
    from hub.intake.email.mailbox import IMAP_PORTS

    problems = []
    for name, schemes, example in (
        ("HUB_SMTP_URL", SMTP_PORTS, "smtp://mail.example.com:25"),
        ("HUB_IMAP_URL", IMAP_PORTS, "imaps://user:pass@mail.example.com:993/INBOX"),
    ):
        value = settings.values[name]
        if value and urlsplit(value).scheme not in schemes:
            problems.append(
                f"{name} must be a {one_of(f'{s}://' for s in schemes)} URL "
                f"(e.g. {example}), got scheme {urlsplit(value).scheme!r}"
            )
    return problems


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


def _signin_problems(settings: Settings) -> list[str]:
    """The web console's sign-in methods (its durations are checked by their kind)."""
    problems = []
    methods = {m.strip() for m in (settings["HUB_SIGNIN"] or "auto").split(",")}
    if not methods <= {"auto", "entra", "link"} or ("auto" in methods and len(methods) > 1):
        problems.append(
            f"HUB_SIGNIN must be auto, entra, link or entra,link, got {settings['HUB_SIGNIN']!r}"
        )
    return problems


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
