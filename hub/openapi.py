"""The OpenAPI document, built from the routes the app really has and the body specs."""

from __future__ import annotations

import re

from flask import Flask

from hub import validate as v

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
        prop = {"type": _TYPES[kind], "description": help_}
        if kind is list:
            prop["items"] = {"type": "string"}
        props[name] = prop
    return {"type": "object", "additionalProperties": False, "properties": props,
            "required": [n for n, (_k, req, _h) in spec.items() if req]}


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
              "responses": {"200": {"description": "OK"},
                            "default": {"description": "Error",
                                        "content": {"application/json": {"schema": {
                                            "$ref": "#/components/schemas/Error"}}}}}}
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
            op["responses"]["201"] = {"description": "Created"}
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
            "schemas": {"Error": {"type": "object", "properties": {"error": {
                "type": "object", "required": ["code", "message"],
                "properties": {"code": {"type": "string"}, "message": {"type": "string"}}}}}},
        },
    }
