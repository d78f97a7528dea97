"""A review as one Markdown file with YAML front matter, to write in an editor and import back.

The front matter holds the structured parts (figures' inputs, services, tags, action items,
timeline); each section is a `## Heading` of the template. Import reads the file back into
the same changes the API's PUT takes, so the same checks apply.
"""

from __future__ import annotations

import re
from datetime import date, datetime

import yaml

from hub.app.errors import Invalid
from hub.app.models import Review
from hub.app.timefmt import iso
from hub.reviews.content import SECTIONS

EDITABLE_KEYS = (
    "version",
    "started_at",
    "affected_users",
    "services",
    "tags",
    "action_items",
    "timeline",
)
FRONT_KEYS = ("incident", "title", "state", *EDITABLE_KEYS)  # the first three are shown only
_HEADING = re.compile(r"^##[ \t]+(.+?)[ \t#]*$")
_BY_HEADING = {h.lower(): f for f, h, _p in SECTIONS} | {f: f for f, _h, _p in SECTIONS}
_PROMPTS = {f"<!-- {p} -->" for _f, _h, p in SECTIONS}


def dump_front_matter(data: dict) -> str:
    """`---` YAML `---`, written by yaml.safe_dump: no user text can end the block early."""
    text = yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=10_000)
    if any(line in ("---", "...") for line in text.splitlines()):  # safe_dump quotes these
        raise ValueError("front matter would end early")
    return f"---\n{text}---\n"


def export_markdown(review: Review) -> str:
    """The review as Markdown for an editor."""
    incident = review.incident
    front = {
        "incident": incident.ref,
        "title": incident.title,
        "state": review.state,
        "version": review.version,
        "started_at": iso(review.started_at),
        "affected_users": review.affected_users,
        "services": list(review.services or ()),
        "tags": list(review.tags or ()),
        "action_items": [
            {
                "id": i.id,
                "title": i.title,
                "owner": i.owner,
                "due": i.due.isoformat() if i.due else None,
                "priority": i.priority,
                "status": i.status,
                "ticket": i.ticket,
            }
            for i in review.action_items
        ],
        "timeline": [
            {"at": e["at"], "kind": e["kind"], "text": e["text"]} for e in review.timeline or ()
        ],
    }
    parts = [dump_front_matter(front), f"\n# {incident.ref}: {' '.join(incident.title.split())}\n"]
    for field, heading, prompt in SECTIONS:
        value = (getattr(review, field) or "").strip()
        parts.append(f"\n## {heading}\n\n" + (f"{value}\n" if value else f"<!-- {prompt} -->\n"))
    return "".join(parts)


def _split(text: str) -> tuple[dict, str]:
    text = text.replace("\r\n", "\n").lstrip("\ufeff")
    if not text.startswith("---\n"):
        raise Invalid(
            "the file must start with YAML front matter (a line `---`)", code="malformed_review"
        )
    end = re.search(r"^(?:---|\.\.\.)[ \t]*$", text[4:], re.MULTILINE)
    if end is None:
        raise Invalid("the front matter has no closing `---` line", code="malformed_review")
    try:
        front = yaml.safe_load(text[4 : 4 + end.start()]) or {}
    except yaml.YAMLError as exc:
        raise Invalid(_yaml_problem(exc), code="malformed_review") from None
    if not isinstance(front, dict):
        raise Invalid("the front matter must be a mapping", code="malformed_review")
    return front, text[4 + end.end() :]


def _plain(value):
    """YAML turns unquoted dates and times into objects; the checks take ISO text."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def parse_markdown(text: str, ref: str) -> dict:
    """The changes an exported-then-edited file makes, checked to belong to incident `ref`."""
    front, body = _split(text)
    unknown = sorted(str(k) for k in front if k not in FRONT_KEYS)
    if unknown:
        raise Invalid(f"unknown front matter key(s): {', '.join(unknown)}", code="unknown_field")
    if not front.get("incident"):  # not an export: say where one comes from
        raise Invalid(
            f"the front matter names no incident; start from `mihub review export {ref}`",
            code="wrong_incident",
        )
    if str(front.get("incident", "")).upper() != ref.upper():
        raise Invalid(
            f"this file is the review of {front.get('incident')!r}, not {ref}",
            code="wrong_incident",
        )
    changes = {k: _plain(front[k]) for k in EDITABLE_KEYS if k in front}
    sections: dict[str, list[str]] = {}
    current = None
    for line in body.split("\n"):
        match = _HEADING.match(line)
        field = _BY_HEADING.get(match.group(1).strip().lower()) if match else None
        if field:
            current = field
            sections[current] = []
        elif current is not None and line.strip() not in _PROMPTS:
            sections[current].append(line)
    changes.update({f: "\n".join(lines).strip() for f, lines in sections.items()})
    return changes


def _yaml_problem(exc: yaml.YAMLError) -> str:
    """A front matter syntax error on one line, at its line in the file (after the `---`)."""
    mark = getattr(exc, "problem_mark", None)
    said = getattr(exc, "problem", None) or getattr(exc, "context", None)
    said = " ".join(str(said or exc).split())
    where = f" (line {mark.line + 2} of the file)" if mark is not None else ""
    return f"the front matter is not valid YAML: {said}{where}"
