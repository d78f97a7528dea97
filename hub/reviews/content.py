"""What a review contains (Google SRE template) and how edits to it are checked and cleaned."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from urllib.parse import urlsplit

from hub.app.errors import Invalid
from hub.app.timefmt import parse_iso
from hub.core.classify import resolve_services
from hub.policy.model import Policy

# field, heading, what to write: the order of the template and of every rendering
SECTIONS: tuple[tuple[str, str, str], ...] = (
    ("summary", "Summary", "What happened and what fixed it, in a few sentences."),
    ("impact", "Impact", "Who and what was affected, for how long, and the business impact."),
    ("root_causes", "Root causes", "Why it happened; ask why until the answer is a process."),
    ("trigger", "Trigger", "The event that set it off (a change, a load spike, an expiry)."),
    ("detection", "Detection", "How we found out, and how we could have known sooner."),
    ("resolution", "Resolution and recovery", "What restored service, and the clean-up."),
    ("contributing_factors", "Contributing factors", "What made it worse or slower to fix."),
    ("went_well", "What went well", "Keep doing these."),
    ("went_poorly", "What went poorly", "Fix these."),
    ("lucky", "Where we got lucky", "Near misses that could have made it worse."),
    ("lessons", "Lessons learned", "What the organisation should remember."),
)
TEXT_FIELDS = tuple(f for f, _h, _w in SECTIONS)
HEADINGS = {f: h for f, h, _w in SECTIONS}
# a review is submitted only when these say something
REQUIRED = ("summary", "impact", "root_causes", "trigger", "detection", "resolution")
PRIORITIES = ("P1", "P2", "P3")
ITEM_STATUSES = ("open", "in_progress", "done", "cancelled")
OPEN_ITEM = ("open", "in_progress")
MAX_TEXT = 20_000
MAX_ITEMS = 100
MAX_TIMELINE = 500
READ_ONLY_ITEM = {"incident", "owner_name", "overdue", "done_at", "updated_at"}  # from GET
# C0/C1 controls (but tab and newline) and the bidi overrides that can reorder what people read
_INVISIBLE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def clean_text(value: str, limit: int = MAX_TEXT, *, field: str = "text") -> str:
    """Normalised newlines, no control characters, trimmed, at most `limit` characters."""
    if not isinstance(value, str):
        raise Invalid(f"{field} must be a string", code="wrong_type")
    text = _INVISIBLE.sub("", value.replace("\r\n", "\n").replace("\r", "\n")).strip()
    if len(text) > limit:
        raise Invalid(
            f"{field} is {len(text)} characters long; the most is {limit}", code="too_long"
        )
    return text


def clean_line(value: str, limit: int, *, field: str) -> str:
    """One line of text: whitespace runs (newlines too) become one space."""
    return " ".join(clean_text(value, limit * 2, field=field).split())[:limit]


def check_ticket(value: str | None) -> str | None:
    """An http(s) link to a ticket, or None; anything else is refused."""
    if value is None or not str(value).strip():
        return None
    text = str(value).strip()
    parts = urlsplit(text)
    if (
        parts.scheme not in ("http", "https")
        or not parts.netloc
        or len(text) > 500
        or re.search(r"[\s\"'<>\\`\x00-\x1f\x7f]", text)
    ):
        raise Invalid(f"ticket must be an http(s) link, got {text[:80]!r}", code="invalid_value")
    return text


def check_due(value) -> date | None:
    """A due date: `2026-04-01` (or a date), or None."""
    if value is None or value == "":
        return None
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    try:
        return date.fromisoformat(str(value).strip())
    except ValueError as exc:
        raise Invalid(
            f"due must be a date like 2026-04-01, got {str(value)[:40]!r}", code="invalid_value"
        ) from exc


def check_time(value, field: str) -> datetime:
    """An ISO 8601 time with a UTC offset (or an aware datetime)."""
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise Invalid(f"{field} must carry a UTC offset", code="invalid_value")
        return value
    try:
        return parse_iso(str(value))
    except ValueError as exc:
        raise Invalid(f"{field}: {exc}", code="invalid_value") from exc


def check_owner(value, policy: Policy) -> str | None:
    """A person key (or their email, mapped to the key), else short free text such as a team."""
    if value is None or not str(value).strip():
        return None
    text = clean_line(str(value), 120, field="owner")
    if text in policy.people:
        return text
    person = policy.person_by_email(text) if "@" in text else None
    return person.key if person else text


def check_item(raw: dict, policy: Policy, where: str) -> dict:
    """One action item as a clean dict (id kept when given)."""
    if not isinstance(raw, dict):
        raise Invalid(f"{where} must be an object", code="wrong_type")
    unknown = sorted(
        set(raw) - {"id", "title", "owner", "due", "priority", "status", "ticket"} - READ_ONLY_ITEM
    )
    if unknown:
        raise Invalid(f"{where}: unknown field(s) {', '.join(unknown)}", code="unknown_field")
    title = clean_line(str(raw.get("title") or ""), 300, field=f"{where}.title")
    if not title:
        raise Invalid(f"{where}.title is required", code="missing_field")
    priority = str(raw.get("priority") or "P2").upper()
    status = str(raw.get("status") or "open").lower()
    if priority not in PRIORITIES:
        raise Invalid(
            f"{where}.priority must be one of {', '.join(PRIORITIES)}", code="invalid_value"
        )
    if status not in ITEM_STATUSES:
        raise Invalid(
            f"{where}.status must be one of {', '.join(ITEM_STATUSES)}", code="invalid_value"
        )
    item = {
        "title": title,
        "owner": check_owner(raw.get("owner"), policy),
        "due": check_due(raw.get("due")),
        "priority": priority,
        "status": status,
        "ticket": check_ticket(raw.get("ticket")),
    }
    if raw.get("id") is not None:
        if isinstance(raw["id"], bool) or not isinstance(raw["id"], int):
            raise Invalid(f"{where}.id must be a whole number", code="wrong_type")
        item["id"] = raw["id"]
    return item


def check_timeline(entries, policy: Policy) -> list[dict]:
    """The review's timeline: [{at, kind, text}], sorted by time."""
    if not isinstance(entries, list) or len(entries) > MAX_TIMELINE:
        raise Invalid(
            f"timeline must be a list of at most {MAX_TIMELINE} entries", code="wrong_type"
        )
    out = []
    for n, raw in enumerate(entries):
        where = f"timeline[{n}]"
        if not isinstance(raw, dict) or set(raw) - {"at", "kind", "text", "actor"}:
            raise Invalid(f"{where} must be an object with at, kind and text", code="wrong_type")
        at = check_time(raw.get("at"), f"{where}.at")
        kind = clean_line(str(raw.get("kind") or "note"), 40, field=f"{where}.kind")
        text = clean_line(str(raw.get("text") or ""), 2000, field=f"{where}.text")
        actor = (
            clean_line(str(raw["actor"]), 120, field=f"{where}.actor") if raw.get("actor") else None
        )
        out.append(
            {
                "at": at.astimezone(UTC).isoformat(timespec="seconds"),
                "kind": kind,
                "text": text,
                "actor": actor,
            }
        )
    return sorted(out, key=lambda e: e["at"])


def check_tags(tags, policy: Policy) -> list[str]:
    """Free tags from the policy's allowed list (`reviews.tags_allowed`)."""
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        raise Invalid("tags must be a list of strings", code="wrong_type")
    allowed = set(policy.review_tags)
    wrong = [t for t in tags if t.strip().lower() not in allowed]
    if wrong:
        raise Invalid(
            f"tag(s) not allowed: {', '.join(w[:40] for w in wrong)}; the policy "
            f"allows: {', '.join(policy.review_tags) or 'none'}",
            code="invalid_value",
        )
    return list(dict.fromkeys(t.strip().lower() for t in tags))


def check_services(services, policy: Policy) -> list[str]:
    """Service catalogue keys (aliases are mapped to their key)."""
    if not isinstance(services, list) or not all(isinstance(s, str) for s in services):
        raise Invalid("services must be a list of strings", code="wrong_type")
    keys, unknown = resolve_services(tuple(services), policy)
    if unknown:
        raise Invalid(
            f"unknown service(s): {', '.join(u[:40] for u in unknown)}", code="invalid_value"
        )
    return list(dict.fromkeys(keys))


def missing_sections(values: dict) -> list[str]:
    """Headings of the required sections that are still empty."""
    return [HEADINGS[f] for f in REQUIRED if not (values.get(f) or "").strip()]
