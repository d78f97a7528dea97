"""Request bodies: JSON objects checked field by field against a small spec."""

from __future__ import annotations

from typing import Any

from flask import request
from werkzeug.exceptions import RequestEntityTooLarge

from hub.core.lifecycle import STATES
from hub.errors import BadRequest, Invalid, UnsupportedMediaType

# field -> (kind, required, description); the OpenAPI document reads the same specs.
# kind: a Python type (str, int, bool, list: a list of strings), [Spec] (a list of objects
# each checked against Spec), or a tuple of strings (one of these values).
Spec = dict[str, tuple[Any, bool, str]]

# What the databases can store: INTEGER columns are 32-bit signed on PostgreSQL, and no
# text column takes NUL (PostgreSQL refuses it) or lone surrogates (not encodable as UTF-8).
INT_MAX = 2_147_483_647
IMPACTS = ("outage", "degraded", "minor")

CREATE: Spec = {
    "title": (str, True, "What is broken, in a line"),
    "description": (str, False, "Details"),
    "services": (list, False, "Service catalogue keys or aliases"),
    "impact": (IMPACTS, False, "outage | degraded | minor"),
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
    """The request's JSON object, checked against `spec`.

    400 malformed, 413 larger than the limit (with or without Content-Length), 415 not JSON,
    422 invalid."""
    raw = _read_body()
    if not raw.strip():
        data: Any = {}
    else:
        if request.mimetype not in ("application/json", "") and not request.is_json:
            raise UnsupportedMediaType(f"expected application/json, got {request.mimetype}")
        try:
            data = request.get_json(force=True, silent=False)
        except RequestEntityTooLarge:
            raise
        except Exception as exc:  # werkzeug raises BadRequest with HTML; say it plainly
            raise BadRequest("the body is not valid JSON", code="malformed_json") from exc
    if not isinstance(data, dict):
        raise BadRequest("the body must be a JSON object", code="malformed_json")
    return check(data, spec)


def _read_body() -> bytes:
    """The whole body, or RequestEntityTooLarge (413) when it is over the size limit.

    With a Content-Length over the limit werkzeug refuses at once. A chunked body (no
    Content-Length; the server sets wsgi.input_terminated) is read up to the limit and then
    silently cut there: a body that fills the limit is too large if one more byte follows.
    """
    raw = request.get_data(cache=True)
    limit = request.max_content_length
    if (limit is not None and request.content_length is None and len(raw) >= limit
            and request.environ.get("wsgi.input_terminated")
            and request.environ["wsgi.input"].read(1)):
        raise RequestEntityTooLarge()
    return raw


def check(data: dict, spec: Spec) -> dict:
    """Check types, required and unknown fields, choices, and what the database can store."""
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
        if isinstance(kind, tuple):  # one of these strings
            if not isinstance(value, str) or value not in kind:
                raise Invalid(f"field {name!r} must be {_one_of(kind)}", code="invalid_value")
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
        if kind is int and value > INT_MAX:
            raise Invalid(f"field {name!r} must be at most {INT_MAX}", code="out_of_range")
        if kind is str:
            _storable_text(name, value)
        if kind is list:
            for index, item in enumerate(value):
                _storable_text(f"{name}[{index}]", item)
    return data


def _storable_text(name: str, value: str) -> None:
    if "\x00" in value:
        raise Invalid(f"field {name!r} must not contain NUL characters", code="invalid_text")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise Invalid(f"field {name!r} must be valid Unicode text (it contains a lone "
                      "surrogate)", code="invalid_text") from None


def _one_of(values: tuple[str, ...]) -> str:
    return values[0] if len(values) == 1 else f"{', '.join(values[:-1])} or {values[-1]}"


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


# Query filters of GET /api/v1/incidents: name -> description (the OpenAPI document reads it)
LIMIT_DEFAULT, LIMIT_MAX = 100, 1000
LIST_FILTERS = {
    "state": "Lifecycle states, comma-separated",
    "severity": "Severities of the policy, comma-separated (any case)",
    "major": "true or false",
    "limit": f"How many incidents, 1 to {LIMIT_MAX} (default {LIMIT_DEFAULT})",
}


def list_filters(args, severities) -> dict:
    """The list filters from query `args`: {state, severity (policy keys), major, limit}.

    None means no filter; an empty value is no filter. Anything unknown is 422, naming what
    is allowed: a typo must not quietly answer with everything, or with nothing."""
    out: dict[str, Any] = {"state": None, "severity": None, "major": None,
                           "limit": LIMIT_DEFAULT}
    states = _csv(args.get("state"))
    if states:
        bad = [x for x in states if x not in STATES]
        if bad:
            raise Invalid(f"unknown state {', '.join(map(repr, bad))}; states are: "
                          f"{', '.join(STATES)}", code="invalid_value")
        out["state"] = states
    wanted = _csv(args.get("severity"))
    if wanted:
        keys = {k.lower(): k for k in severities}
        bad = [x for x in wanted if x.lower() not in keys]
        if bad:
            raise Invalid(f"unknown severity {', '.join(map(repr, bad))}; severities are: "
                          f"{', '.join(severities)}", code="invalid_value")
        out["severity"] = [keys[x.lower()] for x in wanted]
    major = (args.get("major") or "").strip().lower()
    if major:
        if major not in ("true", "false"):
            raise Invalid(f"major must be true or false, not {args['major']!r}",
                          code="invalid_value")
        out["major"] = major == "true"
    if "limit" in args:
        try:
            limit = int(args["limit"])
        except ValueError:
            raise Invalid(f"limit must be a whole number from 1 to {LIMIT_MAX}, not "
                          f"{args['limit']!r}", code="invalid_value") from None
        if not 1 <= limit <= LIMIT_MAX:
            raise Invalid(f"limit must be from 1 to {LIMIT_MAX}, not {limit}",
                          code="invalid_value")
        out["limit"] = limit
    return out


def _csv(value: str | None) -> list[str]:
    return [x.strip() for x in (value or "").split(",") if x.strip()]


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
