"""The OpenAPI document, built from the routes the app really has and the body specs."""

from __future__ import annotations

import re

from flask import Flask

from hub import validate as v
from hub.core.lifecycle import STATES

# endpoint -> (request body spec or None, summary override)
BODIES = {
    "api.create": v.CREATE, "api.acknowledge": v.ACK, "api.post_update": v.UPDATE,
    "api.assign_role": v.ROLE, "api.classify": v.CLASSIFY, "api.resolve": v.RESOLVE,
    "api.cancel": v.STATE, "api.close": v.STATE, "api.merge": v.MERGE,
    "reviews.update_review": v.REVIEW, "reviews.submit": v.REVIEW_STEP,
    "reviews.approve": v.REVIEW_STEP, "reviews.publish": v.REVIEW_STEP,
    "reviews.reject": v.REVIEW_REJECT, "reviews.create_problem": v.PROBLEM,
    "reviews.update_problem": v.PROBLEM_UPDATE, "reviews.update_item": v.ITEM_UPDATE,
}
# endpoints whose body is another protocol's document: (media type, description)
RAW_BODIES = {
    "teams_intake.teams_webhook": ("application/json", "A Bot Framework `message` activity from a "
                                   "Teams outgoing webhook, signed `Authorization: HMAC <base64 "
                                   "HMAC-SHA256 of the raw body>`; at most 256 KiB."),
    "teams_intake.bot_messages": ("application/json", "A Bot Framework activity with "
                                  "`Authorization: Bearer <Bot Connector JWT>`; at most 256 KiB."),
    "email_intake.intake": ("message/rfc822", "One raw RFC 5322 message, with `Authorization: "
                            "Bearer <token>`; at most intake.email.max_message_bytes."),
}
# endpoints that are not part of the documented JSON API
_SKIP = {"static"}
_TYPES = {str: "string", int: "integer", bool: "boolean", list: "array", dict: "object"}


def _schema(spec: v.Spec) -> dict:
    props = {}
    for name, (kind, _required, help_) in spec.items():
        if isinstance(kind, list):  # [Spec]: a list of objects
            props[name] = {"type": "array", "items": _schema(kind[0]), "description": help_}
            continue
        if isinstance(kind, tuple):  # one of these strings
            props[name] = {"type": "string", "enum": list(kind), "description": help_}
            continue
        prop = {"type": _TYPES[kind], "description": help_}
        if kind is list:
            prop["items"] = {"type": "string"}
        if kind is int:
            prop.update(minimum=0, maximum=v.INT_MAX)
        props[name] = prop
    return {"type": "object", "additionalProperties": False, "properties": props,
            "required": [n for n, (_k, req, _h) in spec.items() if req]}


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict) -> dict:
    return {"application/json": {"schema": schema}}


ERROR_TEXT = {
    "400": "Malformed request (the body is not a JSON object)",
    "401": "No token, or the token is unknown or revoked",
    "403": "Not allowed for the caller's role",
    "404": "No such incident (or other resource)",
    "409": "Not allowed in the current state, or edited meanwhile",
    "413": "The body is larger than the limit",
    "415": "The body is not of the expected media type",
    "422": "Invalid fields or query parameters",
}


def error_statuses(path: str, method: str, endpoint: str) -> list[str]:
    """The 4xx statuses an operation can answer, each documented with the Error schema."""
    out = set()
    if (path.startswith("/api/") and endpoint != "api.openapi") or endpoint in RAW_BODIES:
        out.add("401")
    if endpoint in BODIES:
        out |= {"400", "413", "415", "422"}
    if endpoint in RAW_BODIES:
        out |= {"400", "413"}
        if endpoint == "email_intake.intake":
            out.add("415")
    if "{" in path:
        out.add("404")
        if method in ("post", "put") and path.startswith("/api/"):
            out |= {"403", "409"}
    if endpoint == "api.list_incidents":
        out.add("422")
    return sorted(out)


def list_parameters(app: Flask) -> list[dict]:
    """The query parameters of GET /api/v1/incidents (validate.list_filters reads them)."""
    severities = list(app.extensions["hub"].policy.severities)
    schemas = {
        "state": {"type": "array", "items": {"type": "string", "enum": list(STATES)}},
        "severity": {"type": "array", "items": {"type": "string"},
                     "examples": [severities[:1]]},
        "major": {"type": "boolean"},
        "limit": {"type": "integer", "minimum": 1, "maximum": v.LIMIT_MAX,
                  "default": v.LIMIT_DEFAULT},
    }
    out = []
    for name, text in v.LIST_FILTERS.items():
        param = {"name": name, "in": "query", "required": False, "description": text,
                 "schema": schemas[name]}
        if name == "severity":
            param["description"] += f": {', '.join(severities)}"
        if schemas[name]["type"] == "array":
            param.update(style="form", explode=False)
        out.append(param)
    return out


INCIDENT_SUMMARY = {
    "type": "object",
    "required": ["id", "title", "state", "major", "severity", "rule", "reasons"],
    "properties": {
        "id": {"type": "string", "examples": ["INC-42"]},
        "title": {"type": "string"},
        "state": {"type": "string", "enum": list(STATES)},
        "major": {"type": "boolean"},
        "severity": {"type": "string"},
        "rule": {"type": "string", "description": "The matched rule, manual or default"},
        "reasons": {"type": "array", "items": {"type": "string"}},
        "services": {"type": "array", "items": {"type": "string"}},
        "impact": {"type": ["string", "null"], "enum": [*v.IMPACTS, None]},
        "affected_users": {"type": ["integer", "null"]},
        "security": {"type": ["boolean", "null"]},
        "source": {"type": "string"},
        "reporter": {"type": ["string", "null"]},
        "created_at": {"type": "string", "format": "date-time"},
        "updated_at": {"type": ["string", "null"], "format": "date-time"},
        "resolved_at": {"type": ["string", "null"], "format": "date-time"},
        "merged_into": {"type": ["string", "null"]},
        "correlated": {"type": "boolean",
                       "description": "Create only: the report joined an active incident"},
    },
}


def documented_routes(app: Flask) -> list[tuple[str, str, str]]:
    """(path, method, endpoint) for every route under /api/, /intake/, /healthz, /metrics."""
    out = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint in _SKIP:
            continue
        if not re.match(r"^/(api/|intake/|healthz$|metrics$)", rule.rule):
            continue
        path = re.sub(r"<(?:[^:>]+:)?([^>]+)>", r"{\1}", rule.rule)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            out.append((path, method.lower(), rule.endpoint))
    return out


def build_openapi(app: Flask) -> dict:
    """OpenAPI 3.1 for the running app."""
    paths: dict = {}
    for path, method, endpoint in documented_routes(app):
        view = app.view_functions[endpoint]
        doc = (view.__doc__ or endpoint).strip().splitlines()[0]
        op = {"operationId": endpoint.replace(".", "_"), "summary": doc,
              "responses": {"200": {"description": "OK"}}}
        for status in error_statuses(path, method, endpoint):
            op["responses"][status] = {"description": ERROR_TEXT[status],
                                       "content": _json(_ref("Error"))}
        if "401" in op["responses"] and path.startswith("/api/"):
            op["responses"]["401"]["headers"] = {"WWW-Authenticate": {
                "description": 'Bearer realm="mihub" (with error="invalid_token" for a '
                               'token that is unknown or revoked)',
                "schema": {"type": "string"}}}
        op["responses"]["default"] = {"description": "Error", "content": _json(_ref("Error"))}
        params = re.findall(r"{([^}]+)}", path)
        if params:
            op["parameters"] = [{"name": p, "in": "path", "required": True,
                                 "schema": {"type": "string"}} for p in params]
        if endpoint in BODIES:
            op["requestBody"] = {"required": endpoint == "api.create" or bool(BODIES[endpoint]),
                                 "content": {"application/json": {
                                     "schema": _schema(BODIES[endpoint])}}}
        if endpoint in RAW_BODIES:
            media, text = RAW_BODIES[endpoint]
            op["requestBody"] = {"required": True, "description": text,
                                 "content": {media: {"schema": {"type": "object"}}}}
        if endpoint == "api.create":
            op["responses"]["201"] = {"description": "Created", "content": _json(
                _ref("IncidentSummary"))}
            op["responses"]["200"] = {"description": "Joined an active incident (correlated)",
                                      "content": _json(_ref("IncidentSummary"))}
        if endpoint == "api.list_incidents":
            op["parameters"] = list_parameters(app)
            op["responses"]["200"] = {"description": "Incidents, newest first",
                                      "content": _json({
                                          "type": "object", "required": ["incidents"],
                                          "properties": {"incidents": {
                                              "type": "array",
                                              "items": _ref("IncidentSummary")}}})}
        if path.startswith("/api/") and endpoint != "api.openapi":
            op["security"] = [{"bearer": []}]
        if endpoint == "email_intake.intake":  # a mail gateway's token; 202 with the outcome
            op["security"] = [{"bearer": []}]
            op["responses"]["202"] = {"description": "Stored: {outcome, incident, id}"}
        paths.setdefault(path, {})[method] = op
    return {
        "openapi": "3.1.0",
        "info": {"title": "Major Incident Hub API", "version": "1"},
        "paths": paths,
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {
                "Error": {"type": "object", "required": ["error"], "properties": {"error": {
                    "type": "object", "required": ["code", "message"],
                    "properties": {"code": {"type": "string"}, "message": {"type": "string"},
                                   "details": {"type": "object"}}}}},
                "IncidentSummary": INCIDENT_SUMMARY,
            },
        },
    }
