"""Adaptive Cards from templates/teams/: render, parse, check, wrap, fit under the size limit."""

from __future__ import annotations

import copy
import json
import re
from typing import Any

import jinja2

from hub.app.templates import TEMPLATES
from hub.channels.base import PermanentError
from hub.policy.templates import STANDARD, Kind, register_kind, sample_context

MAX_BYTES = 27_000  # Workflows fail from ~28 KB (earlier with many mentions); compact JSON bytes
TRUNCATED = "… (see the hub)"
MIN_KEEP = 100  # never cut a text below this many characters; fail instead
ADAPTIVE = "application/vnd.microsoft.card.adaptive"

ELEMENTS = {"TextBlock", "FactSet", "ColumnSet", "Column", "Container", "Image", "ActionSet"}
ACTIONS = frozenset({"Action.OpenUrl"})
# Universal Actions call the bot back: only in cards the bot posts (webhooks cannot answer).
BOT_ACTIONS = ACTIONS | {"Action.Execute"}

# Markdown that Teams renders in TextBlocks; escaped so user text stays literal text.
_MD_INLINE = re.compile(r"([\\`*_\[\]()<>~|&])")
_MD_LINE_START = re.compile(r"^(\s*)([-+#=])", re.MULTILINE)
_MD_ORDERED = re.compile(r"^(\s*\d+)\.", re.MULTILINE)
_AT_UNSAFE = re.compile(r"[<>\[\]()*_~`\\|#]")


def tojson(value: Any) -> str:
    """JSON-encode a value for embedding in card JSON (UTF-8 kept, lone surrogates replaced)."""
    text = json.dumps(value, ensure_ascii=False)
    return text.encode("utf-8", "replace").decode("utf-8")


def md_escape(value: Any) -> str:
    """Backslash-escape Markdown in user text so it cannot add links, formatting or mentions."""
    if value is None:
        return ""
    text = str(value).replace("\r\n", "\n").replace("\r", "\n")
    text = _MD_INLINE.sub(r"\\\1", text)
    text = _MD_LINE_START.sub(r"\1\\\2", text)
    return _MD_ORDERED.sub(r"\1\\.", text)


def at_name(value: Any) -> str:
    """A display name safe inside `<at>…</at>`: no tag or Markdown characters, one line."""
    name = " ".join(_AT_UNSAFE.sub("", str(value or "")).split())
    return name or "someone"


def at_tag(mention: Any) -> str:
    """The `<at>Name</at>` text that must match the mention entity exactly."""
    return f"<at>{at_name(mention['name'])}</at>"


def _make_env(
    loader: jinja2.BaseLoader | None = None, cls=jinja2.Environment
) -> jinja2.Environment:
    """The cards' environment (over the policy's overrides: a sandboxed `cls`)."""
    env = cls(
        loader=loader or jinja2.FileSystemLoader(str(TEMPLATES / "teams")),
        undefined=jinja2.StrictUndefined,
        autoescape=False,
        keep_trailing_newline=True,
    )
    env.filters.update(tojson=tojson, md_escape=md_escape, at_name=at_name, at_tag=at_tag)
    return env


ENV = _make_env()
register_kind(
    Kind(
        "teams",
        TEMPLATES / "teams",
        _make_env,
        (*STANDARD, "via_bot"),
        lambda: sample_context(via_bot=False),
        is_json=True,
    )
)


def render_card(template: str, context: dict, env: jinja2.Environment | None = None) -> dict:
    """Render `templates/teams/<template>.json.j2` (with `env`: the policy's override) and
    parse it; any failure is permanent."""
    name = template if template.endswith(".j2") else f"{template}.json.j2"
    try:
        text = (env or ENV).get_template(name).render(**context)
    except jinja2.TemplateError as exc:
        raise PermanentError(f"Teams card template {name}: {exc}") from exc
    try:
        card = json.loads(text)
    except json.JSONDecodeError as exc:
        raise PermanentError(f"Teams card template {name} produced invalid JSON: {exc}") from exc
    if not isinstance(card, dict):
        raise PermanentError(f"Teams card template {name} did not produce a JSON object")
    return card


def envelope(card: dict) -> dict:
    """The message envelope a Workflows webhook (and a bot activity) carries the card in."""
    return {
        "type": "message",
        "attachments": [{"contentType": ADAPTIVE, "contentUrl": None, "content": card}],
    }


def size_of(value: Any) -> int:
    """Bytes of compact UTF-8 JSON, as posted."""
    return len(json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8"))


def _text_slots(node: Any, slots: list) -> list:
    """(container, key) pairs of every long-text field a card shows: TextBlock text, facts."""
    if isinstance(node, dict):
        text = node.get("text")
        # a text with a mention is never cut: its <at> tag must match the entity exactly
        if node.get("type") == "TextBlock" and isinstance(text, str) and "<at>" not in text:
            slots.append((node, "text"))
        if isinstance(node.get("title"), str) and isinstance(node.get("value"), str):
            slots.extend([(node, "value"), (node, "title")])
        for child in node.values():
            _text_slots(child, slots)
    elif isinstance(node, list):
        for child in node:
            _text_slots(child, slots)
    return slots


def _cut(text: str, keep: int) -> str:
    kept = text[:keep]
    trailing = len(kept) - len(kept.rstrip("\\"))
    if trailing % 2:  # never leave a dangling Markdown escape
        kept = kept[:-1]
    return kept + TRUNCATED


def check_size(message: dict, limit: int = MAX_BYTES) -> dict:
    """The envelope if it fits; else a copy with the longest texts cut; PermanentError if it can't."""
    size = size_of(message)
    if size <= limit:
        return message
    message = copy.deepcopy(message)
    while size > limit:
        slots = _text_slots(message, [])
        if not slots:
            break
        node, key = max(slots, key=lambda slot: len(slot[0][slot[1]]))
        text = node[key]
        keep = len(text) - (size - limit) - len(TRUNCATED) - 16
        if keep < MIN_KEEP or len(text) <= MIN_KEEP + len(TRUNCATED):
            break
        node[key] = _cut(text, keep)
        size = size_of(message)
    if size > limit:
        raise PermanentError(f"Teams card is {size} bytes, over the {limit}-byte limit")
    return message


def _is_web_url(value: Any) -> bool:
    return isinstance(value, str) and value.lower().startswith(("https://", "http://"))


def _check_action(action: Any, where: str, problems: list[str], allowed=ACTIONS) -> None:
    kind = action.get("type") if isinstance(action, dict) else None
    if kind not in allowed:
        problems.append(f"{where}: action type {kind!r} not allowed (only {', '.join(allowed)})")
        return
    if kind == "Action.Execute":
        if not isinstance(action.get("verb"), str) or not action["verb"]:
            problems.append(f"{where}: Action.Execute needs a verb")
        if not isinstance(action.get("title"), str) or not action["title"]:
            problems.append(f"{where}: Action.Execute needs a title")
        if not isinstance(action.get("data", {}), dict):
            problems.append(f"{where}: Action.Execute data must be an object")
        return
    if not _is_web_url(action.get("url")):
        problems.append(f"{where}: Action.OpenUrl needs an http(s) url, got {action.get('url')!r}")
    if not isinstance(action.get("title"), str) or not action["title"]:
        problems.append(f"{where}: Action.OpenUrl needs a title")


def _check_element(
    element: Any, where: str, problems: list[str], texts: list[str], allowed=ACTIONS
) -> None:
    kind = element.get("type") if isinstance(element, dict) else None
    if kind == "Input.Text" and "Action.Execute" in allowed:  # a bot card's box (its Edit)
        if not isinstance(element.get("id"), str) or not element["id"]:
            problems.append(f"{where}: Input.Text needs an id")
        return
    if kind not in ELEMENTS:
        problems.append(f"{where}: element type {kind!r} not allowed")
        return
    if kind == "TextBlock":
        if not isinstance(element.get("text"), str):
            problems.append(f"{where}: TextBlock needs a text string")
        else:
            texts.append(element["text"])
    elif kind == "FactSet":
        facts = element.get("facts")
        if not isinstance(facts, list) or not all(
            isinstance(f, dict)
            and isinstance(f.get("title"), str)
            and isinstance(f.get("value"), str)
            for f in facts
        ):
            problems.append(f"{where}: FactSet needs facts of {{title, value}} strings")
    elif kind == "Image" and not _is_web_url(element.get("url")):
        problems.append(f"{where}: Image needs an http(s) url")
    children = {"Container": "items", "Column": "items", "ColumnSet": "columns"}.get(kind)
    if kind == "ActionSet":
        for i, action in enumerate(element.get("actions") or []):
            _check_action(action, f"{where}.actions[{i}]", problems, allowed)
    elif children:
        items = element.get(children, [])
        if not isinstance(items, list):
            problems.append(f"{where}: {kind}.{children} must be a list")
            return
        for i, child in enumerate(items):
            _check_element(child, f"{where}.{children}[{i}]", problems, texts, allowed)


def card_problems(card: Any, allowed=ACTIONS) -> list[str]:
    """What is wrong with a card for Teams webhooks (schema 1.4 subset; `allowed` actions:
    BOT_ACTIONS for the bot's own cards); empty if nothing."""
    if not isinstance(card, dict):
        return ["card is not a JSON object"]
    problems: list[str] = []
    if card.get("type") != "AdaptiveCard":
        problems.append(f"type must be AdaptiveCard, got {card.get('type')!r}")
    if card.get("version") != "1.4":
        problems.append(f"version must be '1.4', got {card.get('version')!r}")
    body, texts = card.get("body"), []
    if not isinstance(body, list) or not body:
        problems.append("body must be a non-empty list")
        body = []
    for i, element in enumerate(body):
        _check_element(element, f"body[{i}]", problems, texts, allowed)
    for i, action in enumerate(card.get("actions") or []):
        _check_action(action, f"actions[{i}]", problems, allowed)
    msteams = card.get("msteams") or {}
    for i, entity in enumerate(msteams.get("entities") or []):
        mentioned = entity.get("mentioned") or {}
        if entity.get("type") != "mention" or not mentioned.get("id") or not mentioned.get("name"):
            problems.append(f"msteams.entities[{i}]: a mention needs mentioned.id and .name")
        elif not any(entity.get("text", "\0") in text for text in texts):
            problems.append(f"msteams.entities[{i}]: {entity.get('text')!r} is in no TextBlock")
    return problems


def validate_card(card: Any, allowed=ACTIONS) -> None:
    """Raise PermanentError unless the card is a valid schema-1.4 card of allowed parts."""
    problems = card_problems(card, allowed)
    if problems:
        raise PermanentError("invalid Teams card: " + "; ".join(problems))


def validate_envelope(message: Any, allowed=ACTIONS) -> dict:
    """Check the Workflows envelope (or bot activity) and its card; return the card."""
    if not isinstance(message, dict):
        raise PermanentError("Teams message must be a JSON object")
    attachments = message.get("attachments")
    if message.get("type") != "message" or not isinstance(attachments, list) or not attachments:
        raise PermanentError("Teams message must be {type: message, attachments: [...]}")
    first = attachments[0]
    if not isinstance(first, dict) or first.get("contentType") != ADAPTIVE:
        raise PermanentError(f"Teams attachment contentType must be {ADAPTIVE}")
    validate_card(first.get("content"), allowed)
    return first["content"]


def render_message(template: str, context: dict) -> dict:
    """Render, validate, wrap and size-check a card: the envelope ready for the outbox."""
    card = render_card(template, context)
    validate_card(card)
    return check_size(envelope(card))


def combine(envelopes: list[dict]) -> dict | None:
    """One card for several (pages to one channel in the same moment): each card's body and
    its actions in a separated Container, every @mention kept; None if it would not be valid
    or would not fit in one message."""
    try:
        cards = [validate_envelope(e) for e in envelopes]
    except PermanentError:
        return None
    card = copy.deepcopy(cards[0])
    body, entities = [], []
    for each in cards:
        items = list(copy.deepcopy(each.get("body") or []))
        if each.get("actions"):
            items.append({"type": "ActionSet", "actions": copy.deepcopy(each["actions"])})
        body.append({"type": "Container", "separator": True, "items": items})
        for entity in (each.get("msteams") or {}).get("entities") or []:
            if entity not in entities:
                entities.append(entity)
    card["body"], card["actions"] = body, []
    card["msteams"] = {**(card.get("msteams") or {}), "entities": entities}
    message = envelope(card)
    if card_problems(card) or size_of(message) > MAX_BYTES:
        return None
    return message
