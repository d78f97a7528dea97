"""The local sinks: the mail and Teams cards that would have gone out with no Microsoft 365.

Reads what hub.channels.email.sink.SinkTransport (`<data>/sinks/email/*.json` summaries beside the
`.eml` files) and hub.channels.teams.transports.TeamsSinkTransport (`<data>/sinks/teams/*.json`:
at, transport, to, envelope) write. Newest first; cards are drawn readably, never trusted.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from flask import Blueprint, Response, request

from hub.app.errors import Forbidden, NotFound
from hub.core.permissions import ADMIN_PAGES, is_admin
from hub.web.cards import card_html, message_cards
from hub.web.common import render, require_person, the_hub

bp = Blueprint("sinks", __name__, url_prefix="/ops/sinks")
LIMIT = 60
EML_NAME = re.compile(r"[0-9A-Za-z_-]{1,80}\.eml")
PRIVATE = {"sign-in-link"}  # mail only its addressee may read


@bp.before_request
def _admins_only():
    if not is_admin(the_hub().policy, require_person()):
        raise Forbidden(ADMIN_PAGES)


def sink_dir(kind: str) -> Path:
    """Where the sink of `kind` (email, teams) writes."""
    return the_hub().settings.data_dir / "sinks" / kind


def _newest(folder: Path, limit: int) -> list[tuple[Path, dict]]:
    out = []
    for path in sorted(folder.glob("*.json"), reverse=True)[:limit] if folder.exists() else ():
        try:
            out.append((path, json.loads(path.read_text(encoding="utf-8"))))
        except (OSError, ValueError):
            continue  # a file being written or damaged: skip it, the rest still shows
    return out


def email_messages(incident: str | None = None, limit: int = LIMIT) -> list[dict]:
    """Mail summaries, newest first (optionally of one incident)."""
    found = [
        doc
        for _path, doc in _newest(sink_dir("email"), limit * 5 if incident else limit)
        if isinstance(doc, dict)
    ]
    if incident:
        found = [m for m in found if (m.get("incident") or "").upper() == incident.upper()]
    for message in found:
        if message.get("template") in PRIVATE:  # a sign-in link would let the reader in
            message.update(text="(a one-time sign-in link: not shown here)", private=True)
    return found[:limit]


def teams_messages(incident: str | None = None, limit: int = LIMIT) -> list[dict]:
    """Teams sink records with their cards drawn, newest first (optionally naming an incident)."""
    out = []
    for path, doc in _newest(sink_dir("teams"), limit * 5 if incident else limit):
        if not isinstance(doc, dict):
            continue
        message = doc.get("envelope")
        if incident and not re.search(rf"\b{re.escape(incident)}\b", json.dumps(message)):
            continue
        out.append(
            {
                "name": path.name,
                "at": doc.get("at"),
                "to": doc.get("to"),
                "transport": doc.get("transport"),
                "cards": [card_html(c) for c in message_cards(message)],
            }
        )
    return out[:limit]


@bp.get("/")
def index():
    """Both sinks on one page (the Teams tab with ?show=teams)."""
    hub = the_hub()
    show = request.args.get("show", "email")
    incident = (request.args.get("incident") or "").strip() or None
    settings = hub.settings
    return render(
        "ops/sinks.html",
        title="Local sinks",
        show=show,
        incident=incident,
        emails=email_messages(incident) if show == "email" else [],
        cards=teams_messages(incident) if show == "teams" else [],
        mail_transport=settings["HUB_MAIL_TRANSPORT"],
        teams_transport=settings["HUB_TEAMS_TRANSPORT"],
    )


def _private(summary: Path) -> bool:
    try:
        return json.loads(summary.read_text(encoding="utf-8")).get("template") in PRIVATE
    except (OSError, ValueError):
        return True  # no readable summary: do not serve it


@bp.get("/email/<name>")
def raw_email(name: str):
    """One message as it would have been sent (RFC 5322 text, never rendered as HTML)."""
    if not EML_NAME.fullmatch(name):
        raise NotFound("no such message")
    path = sink_dir("email") / name
    if not path.is_file() or _private(path.with_suffix(".json")):
        raise NotFound("no such message")
    return Response(
        path.read_bytes(),
        mimetype="text/plain",
        headers={"Content-Disposition": f'inline; filename="{name}"'},
    )
