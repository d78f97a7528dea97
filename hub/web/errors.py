"""The console's error page: the same errors as the API's JSON, said to a person."""

from __future__ import annotations

import logging

from flask import Response, redirect, request, url_for
from markupsafe import escape

from hub.web.common import render

log = logging.getLogger("hub.web")

HEADINGS = {
    400: "That request was not understood",
    401: "Please sign in",
    403: "Not allowed",
    404: "Not found",
    409: "That cannot happen now",
    410: "Gone",
    413: "Too large",
    422: "Please check what you entered",
    500: "Something went wrong",
}


def error_page(status: int, code: str, message: str):
    """An HTML error page; a browser that is not signed in goes to the sign-in page instead."""
    if status == 401 and request.method == "GET":
        return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
    heading = HEADINGS.get(status, "Something went wrong")
    try:
        body = render(
            "error.html", title=heading, heading=heading, status=status, code=code, message=message
        )
    except Exception:  # the page itself failed (e.g. the database is down): plain text
        log.exception("the error page could not be rendered")
        body = f"<!doctype html><title>{escape(heading)}</title><p>{escape(message)}</p>"
    return Response(body, status=status, mimetype="text/html")
