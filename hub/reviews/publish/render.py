"""Markdown pages from templates/reviews/, with every piece of user text made literal.

MkDocs sanitises nothing: raw HTML and `javascript:` links pass through Markdown, and the
theme prints page titles unescaped. So the one Jinja environment here escapes every `{{ }}`
value by default (HTML first-class characters become entities, Markdown syntax is
backslash-escaped), lines are normalised so no block syntax can start, and only values the
code built itself are marked `Markup` to pass through. Front matter is `yaml.safe_dump`ed.
"""

from __future__ import annotations

import html
import re
from functools import lru_cache

import jinja2
from markupsafe import Markup

from hub.app.templates import TEMPLATES
from hub.reviews.content import _INVISIBLE
from hub.reviews.markdown import dump_front_matter

REVIEW_TEMPLATES = TEMPLATES / "reviews"
# Inline syntax, escaped wherever it is: code, emphasis, links and images (their `(` and `!`
# mean nothing once `[` is escaped), attribute lists. `<`, `>` and `&` become entities.
_BACKSLASH = re.compile(r"([\\`*_{}\[\]])")
# Block syntax counts only at the start of a line: headings, list items, `1.` lists, rules.
_LINE_START = re.compile(r"^([#+-])|^(\d+)([.)])")
# characters no backslash can neutralise: setext `=`, table `|`, and extension syntax
_ENTITIES = {"|": "&#124;", "=": "&#61;", "~": "&#126;", "^": "&#94;"}
_ENTITY_RE = re.compile("[" + re.escape("".join(_ENTITIES)) + "]")
_BULLET = re.compile(r"^\s*[-*•]\s+")  # `- `, `* `, `• ` lines; numbers stay as written


def one_line(value) -> str:
    """The text on one line, without control or bidi-override characters."""
    return " ".join(_INVISIBLE.sub("", str(value)).split())


def md_inline(value) -> Markup:
    """User text as literal inline Markdown and HTML: nothing in it can become markup."""
    if value is None:
        return Markup("")
    text = _BACKSLASH.sub(r"\\\1", one_line(value))
    text = _LINE_START.sub(lambda m: f"\\{m[1]}" if m[1] else f"{m[2]}\\{m[3]}", text)
    text = html.escape(text, quote=True)
    return Markup(_ENTITY_RE.sub(lambda m: _ENTITIES[m.group(0)], text))


def md_block(value) -> Markup:
    """Multi-line user text: paragraphs, and `- ` lines as bullets, every line literal."""
    groups: list[tuple[bool, list[str]]] = []  # (is a list, escaped lines)
    previous_blank = True
    for raw in _INVISIBLE.sub("", str(value or "")).replace("\r", "\n").split("\n"):
        if not raw.strip():
            previous_blank = True
            continue
        bullet = _BULLET.match(raw)
        line = f"- {md_inline(raw[bullet.end() :])}" if bullet else str(md_inline(raw))
        if previous_blank or not groups or groups[-1][0] != bool(bullet):
            groups.append((bool(bullet), []))
        groups[-1][1].append(line)
        previous_blank = False
    return Markup(
        "\n\n".join(("\n" if is_list else "  \n").join(lines) for is_list, lines in groups)
    )


def html_text(value) -> Markup:
    """User text for a raw HTML block (Markdown does not run there): HTML-escaped, one line."""
    return Markup(html.escape(one_line(value), quote=True))


def page_title(value) -> str:
    """A page title for front matter: the theme prints it unescaped, so it is escaped here."""
    return html.escape(one_line(value), quote=True)[:600]


def front_matter(**data) -> Markup:
    """The YAML front matter block."""
    return Markup(dump_front_matter({k: v for k, v in data.items() if v is not None}))


def _finalize(value):
    if isinstance(value, Markup):
        return value
    if value is None:
        return ""
    return md_inline(value)


@lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    """The Jinja environment for review pages: every value escaped unless it is Markup."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(REVIEW_TEMPLATES)),
        autoescape=False,
        undefined=jinja2.StrictUndefined,
        finalize=_finalize,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(
        md=md_inline, md_block=md_block, html=html_text, safe_path=lambda v: Markup(str(v))
    )
    return env


def render_page(template: str, **context) -> str:
    """Render one page template."""
    return environment().get_template(template).render(**context)
