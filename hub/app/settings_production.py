"""What HUB_ENV=production refuses: settings that work on a laptop and fail people in earnest.

Each problem is one line. `mihub config` prints them and exits non-zero; every long-running
command refuses to start with them (hub/cli/common.py: settings_or_exit).
"""

from __future__ import annotations

import difflib
from urllib.parse import urlsplit

from hub.app.settings import Settings
from hub.app.settings_table import BY_NAME

MIN_SECRET_BYTES = 32
# HUB_* names that are not settings but are allowed in the environment: the one `mihub run`
# gives its children, and the test suite's own.
NOT_SETTINGS_PREFIXES = ("HUB_CHILD", "HUB_TEST_")

# Settings that only the named choice of another setting reads: (setting, the one that
# chooses, the values that read it). Set with another choice, they are a mistake waiting:
# the administrator believes mail goes through the SMTP server they configured.
USED_ONLY_WITH = (
    ("HUB_SMTP_URL", "HUB_MAIL_TRANSPORT", ("smtp",)),
    ("HUB_SMTP_CONNECTIONS", "HUB_MAIL_TRANSPORT", ("smtp",)),
    ("HUB_GRAPH_MAIL_FORMAT", "HUB_MAIL_TRANSPORT", ("graph",)),
    ("HUB_GRAPH_SEND_PER_MINUTE", "HUB_MAIL_TRANSPORT", ("graph",)),
    ("HUB_TEAMS_WEBHOOK_RATE", "HUB_TEAMS_TRANSPORT", ("webhook", "auto")),
)


def unknown_problems(settings: Settings) -> list[str]:
    """One line per unknown HUB_* name, with the nearest setting's name when one is close."""
    problems = []
    for name in settings.unknown:
        if name.startswith(NOT_SETTINGS_PREFIXES):
            continue
        near = difflib.get_close_matches(name, BY_NAME, n=1, cutoff=0.75)
        hint = f"; did you mean {near[0]}?" if near else " (see `mihub config`)"
        problems.append(f"{name} is not a setting of the hub{hint}")
    return problems


def _explicit(settings: Settings, name: str) -> bool:
    """Whether the setting was given a value other than its default."""
    value = settings.values[name]
    return value is not None and value != BY_NAME[name].default


def production_problems(settings: Settings) -> list[str]:
    """What HUB_ENV=production refuses (empty list: fine)."""
    problems = []
    key = settings.values["HUB_SECRET_KEY"]
    if key and len(key.encode()) < MIN_SECRET_BYTES:
        problems.append(
            f"HUB_SECRET_KEY is {len(key.encode())} bytes; production needs at least "
            f"{MIN_SECRET_BYTES} (e.g. python -c 'import secrets; print(secrets.token_hex(32))')"
        )
    for name, what in (("HUB_MAIL_TRANSPORT", "mail"), ("HUB_TEAMS_TRANSPORT", "Teams cards")):
        if settings.values[name] == "sink":
            problems.append(
                f"{name}=sink writes {what} to local files that nobody reads; "
                "production needs a real transport"
            )
    base = settings.values["HUB_BASE_URL"]
    if not base:
        problems.append(
            "HUB_BASE_URL is not set: links in mail and cards would point at "
            f"{settings.base_url}; set the hub's public https:// address"
        )
    elif urlsplit(base.strip()).scheme.lower() != "https":
        problems.append(
            f"HUB_BASE_URL must be an https:// address in production, got {base!r} "
            "(sign-in cookies and links travel over it)"
        )
    for name, chooser, users in USED_ONLY_WITH:
        choice = settings.text(chooser)
        if _explicit(settings, name) and choice not in users:
            problems.append(
                f"{name} is set but unused: {chooser}={choice} "
                f"(it is read only with {chooser}={' or '.join(users)})"
            )
    if settings.values["HUB_IMAP_URL"] and settings.mailbox_source != "imap":
        problems.append(
            "HUB_IMAP_URL is set but unused: HUB_MAILBOX_SOURCE=graph "
            "(it is read only with HUB_MAILBOX_SOURCE=imap)"
        )
    return problems + unknown_problems(settings)
