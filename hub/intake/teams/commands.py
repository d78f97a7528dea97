"""Teams' layer over the chat commands (`hub.intake.commands`): HTML and bot mentions removed."""

from __future__ import annotations

import html
import re
from collections.abc import Collection

from hub.intake.commands import Command, parse_chat

_AT = re.compile(r"<at\b[^>]*>(.*?)</at>", re.IGNORECASE | re.DOTALL)
_BLOCK = re.compile(r"</?(?:p|div|br|li|ul|ol|blockquote|pre|h[1-6])\b[^>]*>", re.IGNORECASE)
_INLINE = re.compile(r"</?(?:span|b|i|u|strong|em|s|strike|code|font)\b[^>]*>", re.IGNORECASE)
_BLANKS = re.compile(r"\n{3,}")


def _strip_tags(text: str) -> str:
    return _INLINE.sub("", _BLOCK.sub("\n", text))


def clean(text: str, bot_names: Collection[str] = ()) -> tuple[str, tuple[str, ...]]:
    """Text without HTML and bot mentions; other mentions become `@Name`. Returns (text, names)."""
    bots = {" ".join(n.split()).lower() for n in bot_names if n}
    parts, mentions, pos, leading = [], [], 0, True
    for match in _AT.finditer(text):
        before = text[pos : match.start()]
        if html.unescape(_strip_tags(before)).strip():
            leading = False
        name = " ".join(html.unescape(_strip_tags(match.group(1))).split())
        parts.append(before)
        if leading or name.lower() in bots:
            parts.append(" ")
        else:
            mentions.append(name)
            parts.append(f" @{name} ")
        pos = match.end()
    parts.append(text[pos:])
    plain = html.unescape(_strip_tags("".join(parts))).replace("\xa0", " ")
    lines = [" ".join(line.split()) for line in plain.replace("\r", "\n").split("\n")]
    return _BLANKS.sub("\n\n", "\n".join(lines)).strip(), tuple(mentions)


def parse(
    text: str,
    *,
    bot_names: Collection[str] = (),
    severities: Collection[str] = (),
    services: Collection[str] = (),
) -> Command:
    """The command a Teams message asks for (`parse_chat` on its text without the markup)."""
    body, mentions = clean(text or "", bot_names)
    return parse_chat(body, mentions=mentions, severities=severities, services=services)
