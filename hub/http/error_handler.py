"""One error handler: JSON `{"error": {"code", "message"}}` with a real status, or a page.

The page comes from the renderer the web console registers as app.extensions[ERROR_PAGE]
(hub.web does, in its init_app), so this module needs nothing from the console; an app
without one answers JSON everywhere.
"""

from __future__ import annotations

import logging

from flask import Flask, current_app, has_request_context, jsonify, request
from sqlalchemy import exc as db_errors
from werkzeug.exceptions import HTTPException

from hub.app.errors import HubError
from hub.app.quietlog import RepeatLog
from hub.app.redact import contains_secret, redact_known

log = logging.getLogger("hub.web")
repeats = RepeatLog(log)
RETRY_AFTER = "5"  # seconds, on a 503 while the database or the queue is away
# Not answering, refusing, or out of pooled connections: the request may succeed later.
UNAVAILABLE = (db_errors.OperationalError, db_errors.InterfaceError, db_errors.TimeoutError)


def unavailable(exc: BaseException) -> str | None:
    """What is away ("database" or "queue") when `exc` says a dependency is, else None."""
    if isinstance(exc, UNAVAILABLE) or (
        isinstance(exc, db_errors.DBAPIError) and exc.connection_invalidated
    ):
        return "database"
    kind = type(exc)
    if kind.__module__.startswith("redis") and kind.__name__ in ("ConnectionError", "TimeoutError"):
        return "queue"
    return None


JSON_PATHS = ("/api/", "/intake/", "/healthz", "/metrics")
ERROR_PAGE = "hub.error_page"  # app.extensions key: (status, code, message) -> HTML response


def wants_json() -> bool:
    """Machines (the API, intake, health) get JSON; browser pages get an HTML page."""
    return not has_request_context() or request.path.startswith(JSON_PATHS)


def error_response(
    status: int,
    code: str,
    message: str,
    details: dict | None = None,
    headers: dict[str, str] | None = None,
):
    """The error document: JSON for /api and /intake, the console's error page elsewhere."""
    page = None if wants_json() else current_app.extensions.get(ERROR_PAGE)
    if page is not None:
        response = current_app.make_response(page(status, code, message))
        response.headers.update(headers or {})
        return response
    body = {"error": {"code": code, "message": message}}
    if details:
        body["error"]["details"] = details
    if headers:
        return jsonify(body), status, headers
    return jsonify(body), status


def init_app(app: Flask) -> None:
    """Register the handlers, and the filter that keeps known secrets out of every answer."""

    @app.after_request
    def _no_secrets(response):
        # The last line of defence: documents and pages are built from redacted parts, but a
        # webhook URL or password the hub knows must not leave in any JSON or HTML answer.
        if response.direct_passthrough or response.is_streamed:
            return response  # files (the KB, sinks) and Server-Sent Events
        if response.mimetype in ("application/json", "text/html", "text/plain"):
            body = response.get_data(as_text=True)
            if contains_secret(body):
                response.set_data(redact_known(body))
        return response

    @app.errorhandler(HubError)
    def _hub_error(exc: HubError):
        return error_response(exc.status, exc.code, exc.message, exc.details, exc.headers)

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException):
        code = (exc.name or "error").lower().replace(" ", "_")
        message = exc.description or exc.name
        if exc.code == 413:
            limit = (
                request.max_content_length
                if has_request_context()
                else app.config["MAX_CONTENT_LENGTH"]
            )
            message = f"the request body is larger than the limit of {limit} bytes"
        # a 405 says which methods the path has (RFC 9110 §15.5.6)
        allow = {k: v for k, v in exc.get_headers() if k.lower() == "allow"}
        return error_response(exc.code or 500, code, message, headers=allow or None)

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):
        away = unavailable(exc)
        if away is not None:
            repeats.error(away, "%s unavailable: %s", away, str(exc).splitlines()[0][:300])
            return error_response(
                503,
                f"{away}_unavailable",
                f"the {away} is not answering; please try again in a few seconds",
                headers={"Retry-After": RETRY_AFTER},
            )
        log.exception("unexpected error")
        return error_response(500, "internal", "an internal error occurred; it was logged")
