"""The local sinks: what the channels would have sent with no Microsoft 365 (or no provider).

One tab per registered channel with a sink (`Channel.sink`, hub/channels/base.py), drawn as the
sink says: "mail" summaries (hub.channels.email.sink.SinkTransport: `*.json` beside the `.eml`
files), "card" records (hub.channels.teams.transports.TeamsSinkTransport: at, transport, to,
envelope) or "json" records as they are. Newest first; cards are drawn readably, never trusted.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from flask import Blueprint, Response, request

from hub.app.errors import Forbidden, NotFound
from hub.channels import registry
from hub.channels.base import Sink
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


def sinks() -> dict[str, Sink]:
    """The registered channels' sinks by channel name, in display order."""
    settings = the_hub().settings
    found = {}
    for channel in sorted(registry.channels(), key=lambda c: c.display_order):
        sink = channel.sink(settings)
        if sink is not None:
            found[channel.name] = sink
    return found


def sink_dir(channel: str) -> Path:
    """Where the sink of the channel called `channel` (email, teams, …) writes."""
    sink = sinks().get(channel)
    if sink is None:
        raise NotFound(f"no sink for {channel!r}")
    return sink.folder


def _newest(folder: Path, limit: int) -> list[tuple[Path, dict]]:
    out = []
    for path in sorted(folder.glob("*.json"), reverse=True)[:limit] if folder.exists() else ():
        try:
            out.append((path, json.loads(path.read_text(encoding="utf-8"))))
        except (OSError, ValueError):
            continue  # a file being written or damaged: skip it, the rest still shows
    return out


def email_messages(incident: str | None = None, limit: int = LIMIT, channel="email") -> list[dict]:
    """Mail summaries, newest first (optionally of one incident)."""
    found = [
        doc
        for _path, doc in _newest(sink_dir(channel), limit * 5 if incident else limit)
        if isinstance(doc, dict)
    ]
    if incident:
        found = [m for m in found if (m.get("incident") or "").upper() == incident.upper()]
    for message in found:
        if message.get("template") in PRIVATE:  # a sign-in link would let the reader in
            message.update(text="(a one-time sign-in link: not shown here)", private=True)
    return found[:limit]


def teams_messages(incident: str | None = None, limit: int = LIMIT, channel="teams") -> list[dict]:
    """Card sink records with their cards drawn, newest first (optionally naming an incident)."""
    out = []
    for path, doc in _newest(sink_dir(channel), limit * 5 if incident else limit):
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


def json_messages(channel: str, incident: str | None = None, limit: int = LIMIT) -> list[dict]:
    """Any other sink's records as indented JSON, newest first (optionally naming an incident)."""
    out = []
    for path, doc in _newest(sink_dir(channel), limit * 5 if incident else limit):
        text = json.dumps(doc, indent=2, ensure_ascii=False)
        if incident and not re.search(rf"\b{re.escape(incident)}\b", text):
            continue
        out.append({"name": path.name, "text": text})
    return out[:limit]


READERS = {"mail": email_messages, "card": teams_messages}


@bp.get("/")
def index():
    """Every channel's sink on one page, one tab each (?show=<channel>; the first by default)."""
    found = sinks()
    show = request.args.get("show") or next(iter(found), "")
    incident = (request.args.get("incident") or "").strip() or None
    sink = found.get(show)
    shows = sink.shows if sink else ""
    if sink is None:
        messages = []
    elif shows in READERS:
        messages = READERS[shows](incident, channel=show)
    else:
        messages = json_messages(show, incident)
    return render(
        "ops/sinks.html",
        title="Local sinks",
        show=show,
        incident=incident,
        sinks=found,
        sink=sink,
        emails=messages if shows == "mail" else [],
        cards=messages if shows == "card" else [],
        records=messages if shows not in READERS else [],
    )


def _private(summary: Path) -> bool:
    try:
        return json.loads(summary.read_text(encoding="utf-8")).get("template") in PRIVATE
    except (OSError, ValueError):
        return True  # no readable summary: do not serve it


@bp.get("/<channel>/<name>")
def raw_email(channel: str, name: str):
    """One message of a mail sink as it would have been sent (RFC 5322 text, never rendered as
    HTML)."""
    sink = sinks().get(channel)
    if not EML_NAME.fullmatch(name) or sink is None or sink.shows != "mail":
        raise NotFound("no such message")
    path = sink.folder / name
    if not path.is_file() or _private(path.with_suffix(".json")):
        raise NotFound("no such message")
    return Response(
        path.read_bytes(),
        mimetype="text/plain",
        headers={"Content-Disposition": f'inline; filename="{name}"'},
    )
