"""Text from policy files and people, made safe for HTML (the console's pages, email bodies)."""

from __future__ import annotations

from urllib.parse import urlsplit

from markupsafe import Markup, escape


def nl2br(value, br: str = "<br>") -> Markup:
    """Escaped text with its line breaks kept as `br` (None: nothing)."""
    return Markup(br).join(escape(line) for line in str(value or "").splitlines())


def safe_url(value) -> str:
    """The URL if it is http(s), else `#`: no `javascript:` links from policy or user text."""
    text = str(value or "").strip()
    return text if urlsplit(text).scheme in ("http", "https") else "#"
