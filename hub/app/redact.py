"""The one way a secret is kept out of what people and logs see.

`redact_text` is applied to every API answer and console page (hub/http/error_handler.py),
every log line (`RedactingFormatter`), and every error stored on an outbox row. It removes:
- the secrets this process knows: setting values marked secret, passwords in URL settings and
  the policy's webhook URLs (`remember_secrets`, called when settings and policy are loaded);
- in any URL: user-info, query and fragment (a Workflows webhook's `sig=` is in its query),
  and a long path is cut (legacy connector URLs carry their key in the path);
- `password=`, `sig=`, `token=`-like parameters and `Bearer` credentials written out of a URL
  (requests writes "…url: /workflows/…?sig=…" without the scheme).
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterable
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from hub.app.settings_table import SETTINGS

MASK = "****"
SHOWN_PATH = 40  # characters of a URL's path shown in text (webhook keys lie beyond)
_URL = re.compile(r"\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s\"'<>()\[\]{}]+")
_PARAM = re.compile(
    r"(?i)\b((?:sig|signature|secret|client_secret|password|passwd|pwd"
    r"|token|access_token|refresh_token|id_token|api[-_]?key)=)[^&\s\"'<>]+"
)
_BEARER = re.compile(r"\b(Bearer|Basic) [A-Za-z0-9._~+/=-]{16,}")
_MIN_SECRET = 6  # shorter values are not searched for (too many false matches)

_known: set[str] = set()
_ordered: tuple[str, ...] = ()  # replaced whole: readers iterate a consistent snapshot
_lock = threading.Lock()


def redact_url(url: Any, path_chars: int | None = None) -> str:
    """A URL fit to show: no user-info, query or fragment (webhook URLs carry their secret
    there); the path cut to `path_chars` characters if given."""
    if not isinstance(url, str):
        return repr(url)
    parts = urlsplit(url)
    path = parts.path
    if path_chars is not None and len(path) > path_chars:
        path = path[:path_chars] + "…"
    return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}{path}"


def remember_secrets(values: Iterable[str | None]) -> None:
    """Add values (and a URL's password and query values) to the secrets never shown."""
    found = set()
    for value in values:
        if not value:
            continue
        found.add(value)
        if "://" in value:
            parts = urlsplit(value)
            found.update(filter(None, (parts.password, parts.query, parts.fragment)))
            found.update(v for k, v in parse_qsl(parts.query) if _PARAM.match(f"{k}=x"))
    global _ordered
    found = {s for s in found if len(s) >= _MIN_SECRET} - _known
    if found:
        with _lock:
            _known.update(found)
            _ordered = tuple(sorted(_known, key=len, reverse=True))  # a URL before its parts


def secrets_of_settings(settings) -> list[str]:
    """The values of the settings marked secret (of a URL, its password: the server's
    address is no secret and is shown, e.g. by `mihub config`)."""
    values = [settings.values[s.name] for s in SETTINGS if s.secret]
    return [urlsplit(v).password if v and "://" in v else v for v in values]


def secrets_of_policy(policy) -> list[str]:
    """The policy's webhook URLs (their `sig=` lets anyone post into the channel)."""
    hooks = [t.webhook for a in policy.audiences.values() for t in a.teams]
    return [*hooks, policy.teams_pages_webhook]


def redact_text(text: Any) -> str:
    """The text with every secret the hub knows, URL credentials and tokens masked."""
    if text is None:
        return ""
    text = str(text)
    for secret in _ordered:  # first, while URLs are still whole
        if secret in text:
            text = text.replace(secret, MASK)
    if "://" in text:
        text = _URL.sub(lambda m: redact_url(m.group(0), SHOWN_PATH), text)
    if "=" in text:
        text = _PARAM.sub(lambda m: m.group(1) + MASK, text)
    return _BEARER.sub(lambda m: f"{m.group(1)} {MASK}", text)


def contains_secret(text: str) -> bool:
    """Whether any remembered secret occurs in `text` (for the answer filter's fast path)."""
    return any(secret in text for secret in _ordered)


def redact_known(text: str) -> str:
    """Only the remembered secrets masked: for whole pages and documents, where URLs and
    parameters are the hub's own and must stay as they are."""
    for secret in _ordered:
        if secret in text:
            text = text.replace(secret, MASK)
    return text


class RedactingFormatter(logging.Formatter):
    """A log formatter whose lines (message and traceback) pass through `redact_text`."""

    def format(self, record: logging.LogRecord) -> str:
        return redact_text(super().format(record))
