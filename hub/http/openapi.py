"""The OpenAPI document, built from the routes the app really has and the body specs."""

from __future__ import annotations

import re

from flask import Flask

from hub.core.lifecycle import STATES
from hub.http import validate as v

# endpoint -> (request body spec or None, summary override)
BODIES = {
    "api.create": v.CREATE,
    "api.acknowledge": v.ACK,
    "api.post_update": v.UPDATE,
    "api.approve_draft": v.APPROVE_DRAFT,
    "api.discard_draft": {},
    "api.assign_role": v.ROLE,
    "api.classify": v.CLASSIFY,
    "api.resolve": v.RESOLVE,
    "api.cancel": v.STATE,
    "api.close": v.STATE,
    "api.merge": v.MERGE,
    "api.split": v.SPLIT,
    "reviews.update_review": v.REVIEW,
    "reviews.submit": v.REVIEW_STEP,
    "reviews.approve": v.REVIEW_STEP,
    "reviews.publish": v.REVIEW_STEP,
    "reviews.reject": v.REVIEW_REJECT,
    "reviews.create_problem": v.PROBLEM,
    "reviews.update_problem": v.PROBLEM_UPDATE,
    "reviews.update_item": v.ITEM_UPDATE,
    "schedules_api.create_override": v.OVERRIDE,
    "worklog.tick": v.TASK,
    "status_api.create_maintenance": v.MAINTENANCE,
}
# endpoints whose body is another protocol's document: (media type, description)
RAW_BODIES = {
    "teams_intake.teams_webhook": (
        "application/json",
        "A Bot Framework `message` activity from a "
        "Teams outgoing webhook, signed `Authorization: HMAC <base64 "
        "HMAC-SHA256 of the raw body>`; at most 256 KiB.",
    ),
    "teams_intake.bot_messages": (
        "application/json",
        "A Bot Framework activity with "
        "`Authorization: Bearer <Bot Connector JWT>`; at most 256 KiB. An `invoke` named "
        "`adaptiveCard/action` (a card's Action.Execute) is answered with `{statusCode, "
        "type: application/vnd.microsoft.card.adaptive, value: <the refreshed card>}`.",
    ),
    "email_intake.intake": (
        "message/rfc822",
        "One raw RFC 5322 message, with `Authorization: "
        "Bearer <token>`; at most intake.email.max_message_bytes.",
    ),
    "alerts_intake.intake": (
        "application/json",
        "One webhook notification of the source in the path: Alertmanager's (version 4), "
        "Grafana's webhook contact point, or Azure Monitor's common alert schema. A source "
        "token (`mihub token create --source NAME`) as `Authorization: Bearer`, as the "
        "password of HTTP basic auth with the source name as user, or as `?token=` (Azure "
        "action groups); at most HUB_ALERTS_MAX_BYTES.",
    ),
}
# endpoint -> the success statuses it answers (others: 200), with their descriptions
SUCCESS = {
    "api.create": {"201": "Created", "200": "Joined an active incident (correlated)"},
    "reviews.approve": {"202": "Approved; publishing has started (it runs in the worker)"},
    "reviews.publish": {"202": "Publishing has started (it runs in the worker)"},
    "reviews.create_problem": {"201": "Created"},
    "reviews.export_item": {
        "202": "Queued in the outbox: {action_item, delivery, notification, status: pending}"
    },
    "schedules_api.create_override": {"201": "Created: active, or proposed (a swap to accept)"},
    "email_intake.intake": {"202": "Stored: {outcome, incident, id}"},
    "alerts_intake.intake": {
        "202": "Stored (committed); the worker applies it: {id, source, outcome: accepted, alerts}"
    },
    "api.post_update": {
        "200": "Posted: the incident",
        "202": "Kept as a draft for approval (the severity's approve_updates): {draft}",
    },
    "status_api.create_maintenance": {"201": "Scheduled"},
}
# endpoints that check the caller's role themselves, besides the actions on one resource
_ROLE_CHECKED = {
    "worklog.list_audit",
    "reviews.create_problem",
    "email_intake.list_quarantine",
    "email_intake.find_messages",
    "email_intake.show_message",
    "schedules_api.delete_override",
    "schedules_api.revoke_schedule_feed",
    "schedules_api.revoke_person_feed",
    "email_intake.list_suppressions",
    "email_intake.lift_suppression",
    "status_api.create_maintenance",
    "status_api.delete_maintenance",
}
# endpoints that answer 503 when a dependency or their configuration is missing
_UNAVAILABLE = {"healthz", "readyz", "teams_intake.teams_webhook", "teams_intake.bot_messages"}
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
    return {
        "type": "object",
        "additionalProperties": False,
        "properties": props,
        "required": [n for n, (_k, req, _h) in spec.items() if req],
    }


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict) -> dict:
    return {"application/json": {"schema": schema}}


ERROR_TEXT = {
    "400": "Malformed request (the body is not valid JSON)",
    "401": "No token, or the token is unknown or revoked",
    "403": "Not allowed for the caller's role",
    "404": "No such incident (or other resource)",
    "409": "Not allowed in the current state, or edited meanwhile",
    "413": "The body is larger than the limit",
    "415": "The body is not of the expected media type",
    "422": "Invalid fields or query parameters",
    "429": "Too many requests from this source; retry after `Retry-After` seconds",
    "503": "Unavailable: a dependency does not answer, or the endpoint is not configured",
}


def error_statuses(path: str, method: str, endpoint: str) -> list[str]:
    """The 4xx statuses an operation can answer, each documented with the Error schema."""
    out = set()
    if (
        (path.startswith("/api/") and endpoint != "api.openapi")
        or endpoint in RAW_BODIES
        or endpoint == "metrics"  # with HUB_METRICS_TOKEN set
    ):
        out.add("401")
    if endpoint in BODIES:
        out |= {"400", "413", "415", "422"}
    if endpoint in RAW_BODIES:
        out |= {"400", "413"}
        if endpoint == "email_intake.intake":
            out.add("415")
        if endpoint == "alerts_intake.intake":  # not the source's format; over its rate
            out |= {"422", "429"}
    if "{" in path:
        out.add("404")
        if method in ("post", "put", "patch") and path.startswith("/api/"):
            out |= {"403", "409"}
    if endpoint in _ROLE_CHECKED:
        out.add("403")
    if endpoint == "reviews.create_problem":
        out.add("404")  # an incident to link that does not exist
    if endpoint in v.QUERIES or endpoint in v.POST_QUERIES:  # unknown parameter, bad value
        out.add("422")
    if endpoint in _UNAVAILABLE:
        out.add("503")
    return sorted(out)


def query_parameters(app: Flask, endpoint: str) -> list[dict]:
    """The query parameters of a GET list endpoint, from the table its view parses with."""
    severities = list(app.extensions["hub"].policy.severities)
    out = []
    table = v.QUERIES[endpoint] if endpoint in v.QUERIES else v.POST_QUERIES[endpoint]
    for name, param in table.items():
        doc = {"name": name, "in": "query", "required": param.required, "description": param.help}
        if param.kind == "csv":
            items: dict = {"type": "string"}
            if param.choices is not None:
                items["enum"] = list(param.choices)
            elif endpoint == "api.list_incidents" and name == "severity":
                items["examples"] = severities[:1]
                doc["description"] += f": {', '.join(severities)}"
            schema: dict = {"type": "array", "items": items}
            if param.default is not None:
                schema["default"] = list(param.default)
            doc.update(style="form", explode=False)
        elif param.kind == "bool":
            schema = {"type": "boolean"}
        elif param.kind == "int":
            schema = {"type": "integer", "minimum": param.minimum, "maximum": param.maximum}
            if param.default is not None:
                schema["default"] = param.default
        else:
            schema = {"type": "string", "minLength": 1} if param.required else {"type": "string"}
        doc["schema"] = schema
        out.append(doc)
    return out


def list_parameters(app: Flask) -> list[dict]:
    """The query parameters of GET /api/v1/incidents (validate.list_filters reads them)."""
    return query_parameters(app, "api.list_incidents")


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
        "correlated": {
            "type": "boolean",
            "description": "Create only: the report joined an active incident",
        },
    },
}


def documented_routes(app: Flask) -> list[tuple[str, str, str]]:
    """(path, method, endpoint) for every route under /api/, /intake/, the health and metrics
    endpoints, and the live event streams (/events, /incidents/{id}/events)."""
    out = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint in _SKIP:
            continue
        if not re.match(
            r"^/(api/|intake/|healthz$|readyz$|livez$|metrics$|(incidents/<ref>/)?events$)",
            rule.rule,
        ):
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
        op = {
            "operationId": endpoint.replace(".", "_"),
            "summary": doc,
            "responses": {
                status: {"description": text}
                for status, text in SUCCESS.get(endpoint, {"200": "OK"}).items()
            },
        }
        for status in error_statuses(path, method, endpoint):
            op["responses"][status] = {
                "description": ERROR_TEXT[status],
                "content": _json(_ref("Error")),
            }
        if "401" in op["responses"] and path.startswith("/api/"):
            op["responses"]["401"]["headers"] = {
                "WWW-Authenticate": {
                    "description": 'Bearer realm="mihub" (with error="invalid_token" for a '
                    "token that is unknown or revoked)",
                    "schema": {"type": "string"},
                }
            }
        op["responses"]["default"] = {"description": "Error", "content": _json(_ref("Error"))}
        params = re.findall(r"{([^}]+)}", path)
        if params:
            op["parameters"] = [
                {"name": p, "in": "path", "required": True, "schema": {"type": "string"}}
                for p in params
            ]
        if (endpoint in v.QUERIES and method == "get") or endpoint in v.POST_QUERIES:
            op["parameters"] = op.get("parameters", []) + query_parameters(app, endpoint)
        if endpoint in BODIES:
            op["requestBody"] = {
                "required": endpoint == "api.create" or bool(BODIES[endpoint]),
                "content": {"application/json": {"schema": _schema(BODIES[endpoint])}},
            }
        if endpoint in RAW_BODIES:
            media, text = RAW_BODIES[endpoint]
            op["requestBody"] = {
                "required": True,
                "description": text,
                "content": {media: {"schema": {"type": "object"}}},
            }
        if endpoint == "api.create":
            op["responses"]["201"] = {
                "description": "Created",
                "content": _json(_ref("IncidentSummary")),
            }
            op["responses"]["200"] = {
                "description": "Joined an active incident (correlated)",
                "content": _json(_ref("IncidentSummary")),
            }
        if endpoint == "api.list_incidents":
            op["responses"]["200"] = {
                "description": "Incidents, newest first",
                "content": _json(
                    {
                        "type": "object",
                        "required": ["incidents"],
                        "properties": {
                            "incidents": {"type": "array", "items": _ref("IncidentSummary")}
                        },
                    }
                ),
            }
        if endpoint.startswith("live."):  # Server-Sent Events for the console's live pages
            op["description"] = (
                "text/event-stream for signed-in people (the console's session cookie): "
                "`event: ready` first, then `event: change` with `id: <timeline entry>` and "
                'data `{"incident", "kind", "entry"}` on every change; a `: heartbeat` '
                "comment every 15 s; `Last-Event-ID` replays what was missed; "
                "`X-Accel-Buffering: no`. An unknown incident is a 404 page; 503 with Retry-After "
                "when the process serves as many streams as it can."
            )
            op["responses"] = {
                "200": {"description": "The stream", "content": {"text/event-stream": {}}},
                "302": {"description": "Not signed in: to the sign-in page"},
                "503": {"description": "Too many streams on this process; poll instead"},
            }
        if path.startswith("/api/") and endpoint != "api.openapi":
            op["security"] = [{"bearer": []}]
        if endpoint == "email_intake.intake":  # a mail gateway's token; 202 with the outcome
            op["security"] = [{"bearer": []}]
        if endpoint == "alerts_intake.intake":  # a source token: bearer, basic or ?token=
            op["security"] = [{"bearer": []}, {"basic": []}, {"query_token": []}]
            op["parameters"][0]["schema"]["enum"] = ["alertmanager", "grafana", "azure-monitor"]
        paths.setdefault(path, {})[method] = op
    return {
        "openapi": "3.1.0",
        "info": {"title": "Major Incident Hub API", "version": "1"},
        "paths": paths,
        "components": {
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "basic": {"type": "http", "scheme": "basic"},
                "query_token": {"type": "apiKey", "in": "query", "name": "token"},
            },
            "schemas": {
                "Error": {
                    "type": "object",
                    "required": ["error"],
                    "properties": {
                        "error": {
                            "type": "object",
                            "required": ["code", "message"],
                            "properties": {
                                "code": {"type": "string"},
                                "message": {"type": "string"},
                                "details": {"type": "object"},
                            },
                        }
                    },
                },
                "IncidentSummary": INCIDENT_SUMMARY,
            },
        },
    }
