"""The built knowledge base at /kb/: signed-in readers only unless HUB_KB_ACCESS=public.

Served with the console's security headers. MkDocs Material writes a few small inline scripts
into each page; the page's Content-Security-Policy allows exactly those, by their SHA-256
hashes, and nothing else inline.
"""

from __future__ import annotations

import base64
import hashlib
import re
from pathlib import Path

from flask import Blueprint, Response, redirect, request, send_from_directory
from werkzeug.security import safe_join

from hub.app.errors import NotFound, Unauthorized
from hub.http import auth as api_auth
from hub.reviews.publish.site import paths_for
from hub.web.common import current_person, the_hub
from hub.web.headers import CSP

bp = Blueprint("kb", __name__)
INLINE_SCRIPT = re.compile(
    rb"<script(?![^>]*\bsrc=)(?![^>]*application/json)[^>]*>(.*?)</script>", re.S
)


def kb_public(settings) -> bool:
    """Whether anyone who reaches /kb/ may read it (HUB_KB_ACCESS=public)."""
    return settings.text("HUB_KB_ACCESS") == "public"


@bp.before_request
def _readers_only():
    if kb_public(the_hub().settings) or current_person():
        return
    if request.headers.get("Authorization"):  # a tool with an API token
        api_auth.require_person()
        return
    raise Unauthorized("sign in to read the knowledge base")


def _page(path: Path, csp: str) -> Response:
    """An HTML page whose CSP allows its own inline scripts by hash."""
    data = path.read_bytes()
    hashes = " ".join(
        f"'sha256-{base64.b64encode(hashlib.sha256(s).digest()).decode()}'"
        for s in dict.fromkeys(INLINE_SCRIPT.findall(data))
    )
    response = Response(data, mimetype="text/html")
    if hashes:
        csp = csp.replace("script-src 'self'", f"script-src 'self' {hashes}")
    # Material sets a few style attributes (the header's shadow, the search's height)
    response.headers["Content-Security-Policy"] = csp.replace(
        "style-src 'self'", "style-src 'self' 'unsafe-inline'"
    )
    return response


@bp.get("/kb/")
@bp.get("/kb/<path:path>")
def knowledge_base(path: str = ""):
    """The built knowledge base, as any static web server would serve it."""
    site = paths_for(the_hub().settings.data_dir).site
    if not site.exists():
        raise NotFound(
            "the knowledge base has not been built yet; run `mihub publish`", code="not_built"
        )
    root = str(site.resolve())  # the live build; a publish may swap it any moment
    full = safe_join(root, path) if path else root
    if full is None:
        raise NotFound("no such page")
    if Path(full).is_dir():
        if path and not path.endswith("/"):
            return redirect(f"/kb/{path}/", code=301)
        path = f"{path}index.html"
    if not Path(root, path).is_file():
        return _page(Path(root, "404.html"), CSP), 404
    if path.endswith(".html"):
        return _page(Path(root, path), CSP)
    return send_from_directory(root, path)
