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
