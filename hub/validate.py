"""Request bodies: JSON objects checked field by field against a small spec."""

from __future__ import annotations

from typing import Any

from flask import request

from hub.errors import BadRequest, Invalid

# field -> (python type(s), required, description); the OpenAPI document reads the same specs
Spec = dict[str, tuple[Any, bool, str]]

CREATE: Spec = {
    "title": (str, True, "What is broken, in a line"),
    "description": (str, False, "Details"),
    "services": (list, False, "Service catalogue keys or aliases"),
    "impact": (str, False, "outage | degraded | minor"),
    "affected_users": (int, False, "How many people are affected"),
    "security": (bool, False, "A security incident (breach, compromise)"),
    "reporter": (str, False, "Person key or email; default: the token's person"),
    "correlate": (bool, False, "Attach to an active incident of the same service (default true)"),
}
ACK: Spec = {}
UPDATE: Spec = {"text": (str, True, "The update stakeholders will read")}
ROLE: Spec = {"role": (str, True, "Role name"), "person": (str, True, "Person key")}
CLASSIFY: Spec = {"severity": (str, True, "New severity"),
                  "reason": (str, True, "Why (recorded on the timeline)")}
RESOLVE: Spec = {"summary": (str, True, "What fixed it")}
STATE: Spec = {"reason": (str, True, "Why")}
MERGE: Spec = {"into": (str, True, "The incident to merge into, INC-n"),
               "reason": (str, False, "Why")}

_TYPE_NAMES = {str: "a string", int: "a whole number", bool: "true or false", list: "a list",
               dict: "an object"}


def json_body(spec: Spec) -> dict:
    """The request's JSON object, checked against `spec` (400 malformed, 422 invalid)."""
    raw = request.get_data(cache=True)
    if not raw.strip():
        data: Any = {}
    else:
        if request.mimetype not in ("application/json", "") and not request.is_json:
            raise BadRequest(f"expected application/json, got {request.mimetype}",
                             code="unsupported_media_type")
        try:
            data = request.get_json(force=True, silent=False)
        except Exception as exc:  # werkzeug raises BadRequest with HTML; say it plainly
            raise BadRequest("the body is not valid JSON", code="malformed_json") from exc
    if not isinstance(data, dict):
        raise BadRequest("the body must be a JSON object", code="malformed_json")
    return check(data, spec)


def check(data: dict, spec: Spec) -> dict:
    """Check types, required and unknown fields."""
    unknown = sorted(set(data) - set(spec))
    if unknown:
        raise Invalid(f"unknown field(s): {', '.join(unknown)}; expected: "
                      f"{', '.join(spec) or 'no fields'}", code="unknown_field")
    for name, (kind, required, _help) in spec.items():
        if name not in data or data[name] is None:
            if required:
                raise Invalid(f"field {name!r} is required", code="missing_field")
            continue
        value = data[name]
        if isinstance(kind, list):  # [Spec]: a list of objects, each checked against Spec
            data[name] = _check_objects(name, value, kind[0])
            continue
        ok = isinstance(value, kind) and not (kind is int and isinstance(value, bool))
        if not ok:
            raise Invalid(f"field {name!r} must be {_TYPE_NAMES.get(kind, kind.__name__)}",
                          code="wrong_type")
        if kind is str and required and not value.strip():
            raise Invalid(f"field {name!r} must not be empty", code="missing_field")
        if kind is list and not all(isinstance(v, str) for v in value):
            raise Invalid(f"field {name!r} must be a list of strings", code="wrong_type")
        if kind is int and value < 0:
            raise Invalid(f"field {name!r} must not be negative", code="wrong_type")
    return data


def _check_objects(name: str, value: Any, spec: Spec) -> list[dict]:
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise Invalid(f"field {name!r} must be a list of objects", code="wrong_type")
    checked = []
    for index, item in enumerate(value):
        try:
            checked.append(check(dict(item), spec))
        except Invalid as exc:
            raise Invalid(f"{name}[{index}]: {exc.message}", code=exc.code) from None
    return checked


# Post-incident reviews and problem management (hub/reviews_api.py)
ACTION_ITEM: Spec = {
    "id": (int, False, "The item's id (omit for a new item)"),
    "title": (str, True, "What will be done"),
    "owner": (str, False, "Person key (or email), else a team name"),
    "due": (str, False, "Due date, YYYY-MM-DD"),
    "priority": (str, False, "P1 | P2 | P3 (default P2)"),
    "status": (str, False, "open | in_progress | done | cancelled (default open)"),
    "ticket": (str, False, "http(s) link to the ticket"),
    "incident": (str, False, "Read-only, ignored"),
    "owner_name": (str, False, "Read-only, ignored"),
    "overdue": (bool, False, "Read-only, ignored"),
    "done_at": (str, False, "Read-only, ignored"),
    "updated_at": (str, False, "Read-only, ignored"),
}
TIMELINE_ENTRY: Spec = {
    "at": (str, True, "ISO 8601 time with a UTC offset"),
    "kind": (str, False, "Event kind (default note)"),
    "text": (str, False, "What happened"),
    "actor": (str, False, "Who (person key), if anyone"),
}
REVIEW: Spec = {
    "version": (int, False, "The version you edited; a newer one on the server answers 409"),
    "summary": (str, False, "What happened and what fixed it"),
    "impact": (str, False, "Who and what was affected, for how long, business impact"),
    "root_causes": (str, False, "Why it happened"),
    "trigger": (str, False, "The event that set it off"),
    "detection": (str, False, "How we found out"),
    "resolution": (str, False, "What restored service"),
    "contributing_factors": (str, False, "What made it worse or slower to fix"),
    "went_well": (str, False, "What went well"),
    "went_poorly": (str, False, "What went poorly"),
    "lucky": (str, False, "Where we got lucky"),
    "lessons": (str, False, "Lessons learned"),
    "started_at": (str, False, "When the impact began (ISO 8601 with offset); null clears"),
    "affected_users": (int, False, "How many people were affected"),
    "services": (list, False, "Service catalogue keys or aliases"),
    "tags": (list, False, "Free tags from the policy's reviews.tags_allowed"),
    "action_items": ([ACTION_ITEM], False, "The full list: items without id are added, "
                     "items left out are removed"),
    "timeline": ([TIMELINE_ENTRY], False, "The review's timeline (replaces it)"),
}
REVIEW_STEP: Spec = {}
REVIEW_REJECT: Spec = {"reason": (str, True, "What must change (recorded on the timeline)")}
ITEM_UPDATE: Spec = {k: (t, False, h) for k, (t, _r, h) in ACTION_ITEM.items()
                     if k not in ("id", "incident", "owner_name", "overdue", "done_at",
                                  "updated_at")}
PROBLEM: Spec = {
    "title": (str, True, "The problem, in a line"),
    "description": (str, False, "Details"),
    "root_cause": (str, False, "The root cause, once known"),
    "workaround": (str, False, "The workaround (needed for a known error)"),
    "state": (str, False, "open | known_error | resolved | closed"),
    "incidents": (list, False, "Incidents to link, INC-n"),
}
PROBLEM_UPDATE: Spec = {k: (t, False, h) for k, (t, _r, h) in PROBLEM.items()}
