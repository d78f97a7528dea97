"""Adaptive Cards drawn as HTML, readably: TextBlock, FactSet, ColumnSet, Container, actions.

The cards come from our own templates or the local sink, but their text holds user input, so
everything is escaped; the small Markdown that Teams renders (bold, italic, links, list
items, `<at>` mentions, backslash escapes) becomes HTML here, and links only when http(s).
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from markupsafe import Markup, escape

_TOKEN = re.compile(
    r"\\(?P<esc>[\\`*_\[\]()<>~|&#+\-=.!{}])"
    r"|\*\*(?P<bold>.+?)\*\*"
    r"|\[(?P<label>[^\]]+)\]\((?P<href>[^)\s]+)\)"
    r"|<at>(?P<at>[^<]{1,200})</at>"
)
SIZES = {"small": "s", "default": "m", "medium": "l", "large": "xl", "extralarge": "xxl"}
MAX_DEPTH = 12


def _web_url(value) -> str | None:
    text = str(value or "").strip()
    return text if urlsplit(text).scheme in ("http", "https") else None


def markdown_line(text: str) -> Markup:
    """One line of card Markdown as HTML (escaped; only http(s) links become links)."""
    out, pos = [], 0
    for match in _TOKEN.finditer(text):
        out.append(escape(text[pos : match.start()]))
        if match.group("esc") is not None:
            out.append(escape(match.group("esc")))
        elif match.group("bold") is not None:
            out.append(Markup("<strong>{}</strong>").format(markdown_line(match.group("bold"))))
        elif match.group("href") is not None:
            label, href = markdown_line(match.group("label")), _web_url(match.group("href"))
            out.append(
                Markup('<a href="{}" rel="noopener noreferrer">{}</a>').format(href, label)
                if href
                else label
            )
        else:
            out.append(Markup('<span class="mention">@{}</span>').format(match.group("at")))
        pos = match.end()
    out.append(escape(text[pos:]))
    return Markup("").join(out)


def markdown(text: str) -> Markup:
    """Card Markdown with line breaks and `- ` list items."""
    lines, items, html = str(text or "").split("\n"), [], []
    for line in lines + [""]:
        if line.startswith(("- ", "* ")) and not line.startswith("**"):
            items.append(Markup("<li>{}</li>").format(markdown_line(line[2:])))
            continue
        if items:
            html.append(Markup("<ul>{}</ul>").format(Markup("").join(items)))
            items = []
        if line:
            html.append(markdown_line(line))
    return Markup("<br>").join(html)


def _classes(element: dict) -> str:
    names = ["ac-" + str(element.get("type", "x")).lower().replace(".", "-")]
    if element.get("weight") == "Bolder":
        names.append("ac-bold")
    if element.get("isSubtle"):
        names.append("ac-subtle")
    size = SIZES.get(str(element.get("size", "default")).lower())
    if size:
        names.append(f"ac-size-{size}")
    colour = str(element.get("color", "")).lower()
    if colour in ("attention", "warning", "good", "accent"):
        names.append(f"ac-{colour}")
    return " ".join(names)


def element_html(element, depth: int = 0) -> Markup:
    """One card element (and its children) as HTML."""
    if not isinstance(element, dict) or depth > MAX_DEPTH:
        return Markup("")
    kind = element.get("type")
    if kind == "TextBlock":
        return Markup('<div class="{}">{}</div>').format(
            _classes(element), markdown(str(element.get("text", "")))
        )
    if kind == "FactSet":
        facts = Markup("").join(
            Markup("<dt>{}</dt><dd>{}</dd>").format(
                markdown_line(str(f.get("title", ""))), markdown(str(f.get("value", "")))
            )
            for f in element.get("facts") or ()
            if isinstance(f, dict)
        )
        return Markup('<dl class="ac-factset">{}</dl>').format(facts)
    if kind in ("Container", "Column"):
        return Markup('<div class="{}">{}</div>').format(
            _classes(element), children(element.get("items") or (), depth + 1)
        )
    if kind == "ColumnSet":
        return Markup('<div class="ac-columnset">{}</div>').format(
            children(element.get("columns") or (), depth + 1)
        )
    if kind == "Image":
        return Markup('<span class="ac-image">[image: {}]</span>').format(
            element.get("altText") or "no description"
        )
    if kind == "ActionSet":
        return actions_html(element.get("actions") or ())
    return Markup('<div class="ac-unknown">[{} not shown]</div>').format(kind or "element")


def children(items, depth: int) -> Markup:
    """Several elements in order."""
    return Markup("").join(element_html(e, depth) for e in items if isinstance(e, dict))


def actions_html(actions) -> Markup:
    """Action.OpenUrl as links (the only action that works in webhook cards)."""
    links = []
    for action in actions or ():
        if not isinstance(action, dict):
            continue
        url = _web_url(action.get("url")) if action.get("type") == "Action.OpenUrl" else None
        title = action.get("title") or action.get("type") or "action"
        links.append(
            Markup('<a class="ac-action" href="{}" rel="noopener noreferrer">{}</a>').format(
                url, title
            )
            if url
            else Markup('<span class="ac-action disabled">{}</span>').format(title)
        )
    return (
        Markup('<div class="ac-actions">{}</div>').format(Markup("").join(links))
        if links
        else Markup("")
    )


def card_html(card) -> Markup:
    """A whole Adaptive Card."""
    if not isinstance(card, dict):
        return Markup('<div class="ac-card ac-unknown">[not a card]</div>')
    return Markup('<div class="ac-card">{}{}</div>').format(
        children(card.get("body") or (), 0), actions_html(card.get("actions"))
    )


def message_cards(message) -> list[dict]:
    """The Adaptive Cards inside a Teams message envelope or bot activity."""
    if not isinstance(message, dict):
        return []
    return [
        a.get("content")
        for a in message.get("attachments") or ()
        if isinstance(a, dict) and isinstance(a.get("content"), dict)
    ]
