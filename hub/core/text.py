"""Small text helpers of classification: cleaning, names, the reporter's own words. Pure."""

from __future__ import annotations

import re

_QUOTE_START = re.compile(
    r"^\s*(?:-{2,}\s*(?:original message|forwarded message)\s*-{2,}|on .{3,200} wrote:"
    r"|(?:from|von|de|da):\s.+|_{10,})\s*$",
    re.IGNORECASE | re.MULTILINE,
)


def clean(text: str) -> str:
    """Typographic apostrophes from Outlook and Teams as plain ones."""
    return text.replace("\u2019", "'")


def norm(name: str) -> str:
    """A service name as looked up: spacing collapsed, lower case."""
    return " ".join(name.split()).lower()


def strip_quoted(text: str) -> str:
    """The text without quoted replies (`> …` lines, an earlier message below a header)."""
    match = _QUOTE_START.search(text)
    if match:
        text = text[: match.start()]
    return "\n".join(line for line in text.splitlines() if not line.lstrip().startswith(">"))
