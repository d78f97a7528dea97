"""Request bodies: JSON objects checked field by field against a small spec."""

from __future__ import annotations

from typing import Any, NamedTuple

from flask import request
from werkzeug.exceptions import RequestEntityTooLarge

from hub.app import jsondoc
from hub.app.errors import BadRequest, Invalid, UnsupportedMediaType, one_of
from hub.core.lifecycle import STATES
from hub.reviews.content import ITEM_STATUSES, OPEN_ITEM
from hub.reviews.problems import STATES as PROBLEM_STATES

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
UPDATE: Spec = {
    "text": (str, True, "The update stakeholders will read"),
    "public_text": (str, False, "What the public status page says (none: not shown there)"),
}
APPROVE_DRAFT: Spec = {
    "text": (str, False, "The text as approved (an edit is recorded)"),
    "public_text": (
        str,
        False,
        "The public status page's text as approved (an edit is recorded; empty: not shown there)",
    ),
}
ROLE: Spec = {"role": (str, True, "Role name"), "person": (str, True, "Person key")}
CLASSIFY: Spec = {
    "severity": (str, True, "New severity"),
    "reason": (str, True, "Why (recorded on the timeline)"),
}
RESOLVE: Spec = {"summary": (str, True, "What fixed it")}
STATE: Spec = {"reason": (str, True, "Why")}
SPLIT: Spec = {"reason": (str, False, "Why it is a different problem")}
MERGE: Spec = {
    "into": (str, True, "The incident to merge into, INC-n"),
    "reason": (str, False, "Why"),
}
OVERRIDE: Spec = {
    "person": (str, True, "Person key taking the shift"),
    "start": (str, True, "ISO 8601 with a UTC offset"),
    "end": (str, True, "ISO 8601 with a UTC offset, after start"),
}

_TYPE_NAMES = {
    str: "a string",
    int: "a whole number",
    bool: "true or false",
    list: "a list",
    dict: "an object",
}


def json_body(spec: Spec) -> dict:
    """The request's JSON object, checked against `spec`.

    An empty body is `{}` whatever its Content-Type; any other body needs
    `Content-Type: application/json` (415 without it). 400 not valid JSON, 413 larger than
    the limit (with or without Content-Length), 422 valid JSON but not an object, or
    invalid."""
    raw = _read_body()
    if not raw.strip():
        data: Any = {}
    else:
        if not request.is_json:  # a body needs its media type, even one that parses
            raise UnsupportedMediaType(
                f"expected application/json, got {request.mimetype or 'no Content-Type'}"
            )
        try:
            data = jsondoc.loads(raw)
        except jsondoc.TooDeep as exc:
            raise BadRequest(str(exc), code="too_deep") from None
        except ValueError as exc:  # not JSON, or not UTF-8/16/32
            raise BadRequest("the body is not valid JSON", code="malformed_json") from exc
    if not isinstance(data, dict):
        raise Invalid("the body must be a JSON object", code="invalid_body")
    return check(data, spec)


def _read_body() -> bytes:
    """The whole body, or RequestEntityTooLarge (413) when it is over the size limit.

    With a Content-Length over the limit werkzeug refuses at once. A chunked body (no
    Content-Length; the server sets wsgi.input_terminated) is read up to the limit and then
    silently cut there: a body that fills the limit is too large if one more byte follows.
    """
    raw = request.get_data(cache=True)
    limit = request.max_content_length
    if (
        limit is not None
        and request.content_length is None
        and len(raw) >= limit
        and request.environ.get("wsgi.input_terminated")
        and request.environ["wsgi.input"].read(1)
    ):
        raise RequestEntityTooLarge()
    return raw


def check(data: dict, spec: Spec) -> dict:
    """Check types, required and unknown fields, choices, and what the database can store."""
    unknown = sorted(set(data) - set(spec))
    if unknown:
        raise Invalid(
            f"unknown field(s): {', '.join(unknown)}; expected: {', '.join(spec) or 'no fields'}",
            code="unknown_field",
        )
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
                raise Invalid(f"field {name!r} must be {one_of(kind)}", code="invalid_value")
            continue
        ok = isinstance(value, kind) and not (kind is int and isinstance(value, bool))
        if not ok:
            raise Invalid(
                f"field {name!r} must be {_TYPE_NAMES.get(kind, kind.__name__)}", code="wrong_type"
            )
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
        raise Invalid(
            f"field {name!r} must be valid Unicode text (it contains a lone surrogate)",
            code="invalid_text",
        ) from None


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


# Query parameters of the GET list endpoints, one table per endpoint: the endpoints parse
# their query with `query()` and the OpenAPI document is built from the same tables, so the
# two cannot differ. kind: "csv" (a comma-separated list; a repeated parameter adds to it),
# "bool" (true | false), "int" (a whole number from minimum to maximum), "text".
class Param(NamedTuple):
    kind: str
    help: str
    choices: tuple[str, ...] | None = None  # csv: the allowed values (None: given at parse time)
    plural: str = ""  # csv: how the error names the allowed values ("states are: ...")
    any_case: bool = False  # csv: matched case-insensitively, answered as the choice's spelling
    default: Any = None
    minimum: int | None = None
    maximum: int | None = None
    required: bool = False


LIMIT_DEFAULT, LIMIT_MAX = 100, 1000

LIST_FILTERS: dict[str, Param] = {  # GET /api/v1/incidents
    "state": Param("csv", "Lifecycle states, comma-separated", STATES, "states"),
    "severity": Param(
        "csv",
        "Severities of the policy, comma-separated (any case)",
        None,
        "severities",
        any_case=True,
    ),
    "major": Param("bool", "true or false"),
    "limit": Param(
        "int",
        f"How many incidents, 1 to {LIMIT_MAX} (default {LIMIT_DEFAULT})",
        default=LIMIT_DEFAULT,
        minimum=1,
        maximum=LIMIT_MAX,
    ),
    "q": Param("text", "Words to find in titles, descriptions, updates and reviews (all of them)"),
    "service": Param("csv", "Service keys of the catalogue, comma-separated", None, "services"),
    "since": Param("text", "Declared on or after this day (YYYY-MM-DD) or time (ISO 8601)"),
    "until": Param("text", "Declared before the end of this day (YYYY-MM-DD) or this time"),
    "mine": Param("bool", "true: only incidents where the caller held a role or reported"),
}
TASK: Spec = {
    "done": (bool, False, "true (default): done; false: not done after all"),
    "note": (str, False, "A note for the timeline"),
}
AUDIT_FILTERS: dict[str, Param] = {  # GET /api/v1/audit
    "since": Param("text", "Records at or after this time (ISO 8601 with an offset)"),
    "action": Param("csv", "One kind of change", None, "actions"),
    "actor": Param("text", "Person key (or address) that made the change"),
    "limit": Param(
        "int", "How many records, 1 to 10000 (default 1000)", default=1000, minimum=1, maximum=10000
    ),
}
PROBLEM_FILTERS: dict[str, Param] = {  # GET /api/v1/problems
    "state": Param("csv", "Problem states, comma-separated", PROBLEM_STATES, "states"),
}
ITEM_FILTERS: dict[str, Param] = {  # GET /api/v1/action-items
    "status": Param(
        "csv",
        "Item statuses, comma-separated (default open,in_progress)",
        ITEM_STATUSES,
        "statuses",
        default=OPEN_ITEM,
    ),
    "owner": Param("text", "Person key (or team name) the items belong to"),
    "overdue": Param("bool", "true: only items past their due date; false: no such filter"),
}
MAIL_FIND_FILTERS: dict[str, Param] = {  # GET /api/v1/mail/messages
    "queued_as": Param(
        "text", "The name in the SMTP listener's 250 answer (`queued as ...`)", required=True
    ),
}
MAIL_ENVELOPE: dict[str, Param] = {  # POST /intake/email (or X-Envelope-From / X-Original-To)
    "mail_from": Param("text", "The envelope sender (MAIL FROM); `<>` for a bounce's null sender"),
    "rcpt_to": Param("text", "The envelope recipients (RCPT TO), comma-separated"),
}
# endpoint -> its query parameters; every GET list endpoint under /api/v1 is here
QUERIES: dict[str, dict[str, Param]] = {
    "api.list_incidents": LIST_FILTERS,
    "worklog.list_audit": AUDIT_FILTERS,
    "reviews.list_problems": PROBLEM_FILTERS,
    "reviews.list_items": ITEM_FILTERS,
    "email_intake.list_quarantine": {},
    "email_intake.find_messages": MAIL_FIND_FILTERS,
    "schedules_api.list_schedules": {},
    "email_intake.list_suppressions": {},
}
# endpoints taking a body that also read query parameters
POST_QUERIES: dict[str, dict[str, Param]] = {"email_intake.intake": MAIL_ENVELOPE}


def query(args, params: dict[str, Param], choices: dict[str, Any] | None = None) -> dict:
    """The query `args` (a MultiDict) checked against `params`: name -> value, or the default.

    An unknown parameter is 422 `unknown_parameter` naming the allowed ones; a bad value is
    422 `invalid_value`. An empty value is no filter. A repeated list parameter is the union
    of its values (`?state=a&state=b` is `?state=a,b`); a repeated single value must agree.
    `choices` gives the allowed values known only at run time (the policy's severities)."""
    unknown = sorted(set(args) - set(params))
    if unknown:
        raise Invalid(
            f"unknown query parameter(s): {', '.join(unknown)}; allowed: "
            f"{', '.join(params) or 'none'}",
            code="unknown_parameter",
            details={"unknown": unknown, "allowed": list(params)},
        )
    out: dict[str, Any] = {}
    for name, param in params.items():
        values = [x.strip() for x in args.getlist(name)]
        if param.kind == "csv":
            out[name] = _csv_param(name, param, values, (choices or {}).get(name))
            continue
        given = list(dict.fromkeys(x for x in values if x))
        if len(given) > 1:
            raise Invalid(
                f"{name} is given more than once, with different values", code="invalid_value"
            )
        if not given:
            if param.required:
                raise Invalid(f"give ?{name}=: {param.help}", code="missing_parameter")
            out[name] = param.default
            continue
        raw = given[0]
        if param.kind == "bool":
            if raw.lower() not in ("true", "false"):
                raise Invalid(f"{name} must be true or false, not {raw!r}", code="invalid_value")
            out[name] = raw.lower() == "true"
        elif param.kind == "int":
            try:
                number = int(raw)
            except ValueError:
                raise Invalid(
                    f"{name} must be a whole number from {param.minimum} to "
                    f"{param.maximum}, not {raw!r}",
                    code="invalid_value",
                ) from None
            if not param.minimum <= number <= param.maximum:
                raise Invalid(
                    f"{name} must be from {param.minimum} to {param.maximum}, not {number}",
                    code="invalid_value",
                )
            out[name] = number
        else:
            _storable_text(name, raw)
            out[name] = raw
    return out


def _csv_param(name: str, param: Param, values: list[str], choices) -> Any:
    wanted = list(dict.fromkeys(x for value in values for x in _csv(value)))
    if not wanted:
        return param.default
    allowed = tuple(choices if choices is not None else param.choices or ())
    norm = str.lower if param.any_case else str
    spelling = {norm(k): k for k in allowed}
    bad = [x for x in wanted if norm(x) not in spelling]
    if bad:
        raise Invalid(
            f"unknown {name} {', '.join(map(repr, bad))}; {param.plural} are: {', '.join(allowed)}",
            code="invalid_value",
        )
    return list(dict.fromkeys(spelling[norm(x)] for x in wanted))


def list_filters(args, severities, services=()) -> dict:
    """The filters of GET /api/v1/incidents: {state, severity (policy keys), major, limit, q,
    service (catalogue keys), since, until, mine}."""
    return query(args, LIST_FILTERS, {"severity": list(severities), "service": list(services)})


def _csv(value: str | None) -> list[str]:
    return [x.strip() for x in (value or "").split(",") if x.strip()]


# Post-incident reviews and problem management (hub/http/reviews_api.py)
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
    "action_items": (
        [ACTION_ITEM],
        False,
        "The full list: items without id are added, items left out are removed",
    ),
    "timeline": ([TIMELINE_ENTRY], False, "The review's timeline (replaces it)"),
}
REVIEW_STEP: Spec = {}
REVIEW_REJECT: Spec = {"reason": (str, True, "What must change (recorded on the timeline)")}
ITEM_UPDATE: Spec = {
    k: (t, False, h)
    for k, (t, _r, h) in ACTION_ITEM.items()
    if k not in ("id", "incident", "owner_name", "overdue", "done_at", "updated_at")
}
PROBLEM: Spec = {
    "title": (str, True, "The problem, in a line"),
    "description": (str, False, "Details"),
    "root_cause": (str, False, "The root cause, once known"),
    "workaround": (str, False, "The workaround (needed for a known error)"),
    "state": (str, False, "open | known_error | resolved | closed"),
    "incidents": (list, False, "Incidents to link, INC-n"),
}
PROBLEM_UPDATE: Spec = {k: (t, False, h) for k, (t, _r, h) in PROBLEM.items()}
MAINTENANCE: Spec = {
    "services": (list, True, "Service catalogue keys or aliases"),
    "start": (str, True, "ISO 8601 with a UTC offset"),
    "end": (str, True, "ISO 8601 with a UTC offset, after start (at most 31 days)"),
    "text": (str, True, "What is done, for staff"),
    "public_text": (str, False, "What the public status page says (none: not shown there)"),
}
STATUS_QUERY: dict[str, Param] = {  # GET /api/v1/status
    "view": Param(
        "csv",
        "internal (default) or public: what the public page shows",
        ("internal", "public"),
        "views",
    ),
}
QUERIES["status_api.status"] = STATUS_QUERY
QUERIES["status_api.list_maintenance"] = {}
SHOW_QUERY: dict[str, Param] = {  # GET /api/v1/incidents/{id}
    "notifications": Param(
        "csv",
        "all: list every notification (left out: the latest 200; notifications_total counts all)",
        ("all",),
        "values",
    ),
}
QUERIES["api.show"] = SHOW_QUERY
