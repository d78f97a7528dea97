"""Replies to Teams commands: short Markdown text or an Adaptive Card with Action.OpenUrl only.

Cards are built as Python data, so every value is JSON-encoded when the reply is serialised;
user text is Markdown-escaped (`esc`) before it goes into any text.
"""

from __future__ import annotations

from dataclasses import dataclass

from hub.app.models import Incident
from hub.app.timefmt import local_hhmm
from hub.channels.teams.cards import card_problems, envelope, md_escape
from hub.core.bridge import bridge_url
from hub.core.permissions import role_label
from hub.intake.commands import USAGE
from hub.policy.model import Policy

MAX_LIST = 10  # incidents in a `status` list
esc = md_escape


@dataclass(frozen=True)
class Reply:
    """What the hub answers: `text` always (Markdown, user text escaped), a card sometimes."""

    text: str
    card: dict | None = None

    def activity(self) -> dict:
        """The reply activity: a card envelope, or a plain message."""
        if self.card is not None:
            return envelope(self.card)
        return {"type": "message", "text": self.text}

    def as_card(self) -> dict:
        """The card, or the text in a one-block card (Workflows webhooks accept only cards)."""
        return self.card if self.card is not None else card([block(self.text)])

    def to_json(self) -> dict:
        """The reply as stored with the inbound message."""
        return {"text": self.text, "card": self.card}

    @classmethod
    def from_json(cls, data: dict) -> Reply:
        """The reply `to_json` stored."""
        return cls(str(data.get("text") or ""), data.get("card"))


def block(text: str, **options) -> dict:
    """A wrapping TextBlock."""
    return {"type": "TextBlock", "text": text, "wrap": True, **options}


def open_url(title: str, url: str) -> dict:
    """The only action that works in webhook replies."""
    return {"type": "Action.OpenUrl", "title": title, "url": url}


def card(body: list[dict], actions: list[dict] | None = None) -> dict:
    """An Adaptive Card, schema 1.4, full width."""
    doc = {
        "type": "AdaptiveCard",
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "version": "1.4",
        "msteams": {"width": "Full"},
        "body": body,
    }
    if actions:
        doc["actions"] = actions
    problems = card_problems(doc)
    if problems:  # a bug in this module, never user input: fail loudly in tests
        raise ValueError("invalid reply card: " + "; ".join(problems))
    return doc


def incident_url(base_url: str, incident: Incident) -> str:
    """The incident's page in the hub."""
    return f"{base_url}/incidents/{incident.ref}"


def link(base_url: str, incident: Incident) -> str:
    """`[INC-42](url)`: our own id and address, safe as Markdown."""
    return f"[{incident.ref}]({incident_url(base_url, incident)})"


def help_reply(base_url: str, note: str | None = None) -> Reply:
    """The help card; `note` (plain text, escaped here) says what went wrong first."""
    lines = [f"- {esc(usage)}: {esc(what)}" for usage, what in USAGE.values()]
    body = [block("Major Incident Hub", size="Medium", weight="Bolder")]
    if note:
        body.append(block(esc(note), color="Attention"))
    body += [
        block("Write to me with one of these (INC-42 stands for an incident id):"),
        block("\n".join(lines)),
        block("Any other message of a few words is taken as a new report.", isSubtle=True),
    ]
    text = (f"{esc(note)}\n\n" if note else "") + "Commands: " + ", ".join(USAGE)
    return Reply(text, card(body, [open_url("Open the hub", f"{base_url}/")]))


def _roles(policy: Policy, incident: Incident) -> str:
    parts = []
    for r in incident.roles:
        if not r.active:
            continue
        person = policy.people.get(r.person)
        mark = "acknowledged" if r.acknowledged_at else "not yet acknowledged"
        parts.append(f"{role_label(r.role)}: {esc(person.name if person else r.person)} ({mark})")
    if not parts and any(t.kind == "mobilise" and t.state == "pending" for t in incident.timers):
        return "being filled from the roster; the pages follow in a moment"
    return "\n".join(parts) or "none yet"


def _next_update(policy: Policy, incident: Incident) -> str | None:
    due = [t.due_at for t in incident.timers if t.kind == "update-due" and t.state == "pending"]
    return local_hhmm(min(due), policy.timezone) if due else None


def incident_reply(
    policy: Policy, base_url: str, incident: Incident, headline: str, note: str | None = None
) -> Reply:
    """A card about one incident; `headline` is our Markdown (escape user parts before)."""
    kind = "major incident" if incident.major else "not major"
    services = [
        policy.services[s].name if s in policy.services else s for s in incident.services or ()
    ]
    facts = [
        ("Incident", incident.ref),
        ("Title", esc(incident.title)),
        ("Severity", f"{esc(incident.severity)} ({kind})"),
        ("Status", esc(incident.state.replace("_", " "))),
        ("Services", esc(", ".join(services)) or "none named"),
        ("Roles", _roles(policy, incident)),
    ]
    nxt = _next_update(policy, incident)
    if nxt:
        facts.append(("Next update due", nxt))
    body = [
        block(
            headline,
            size="Medium",
            weight="Bolder",
            color="Attention" if incident.major else "Default",
        )
    ]
    if note:
        body.append(block(note))
    body.append({"type": "FactSet", "facts": [{"title": t, "value": v} for t, v in facts]})
    if incident.reasons:
        body.append(block(esc(" ".join(incident.reasons[:3])), isSubtle=True))
    actions = [open_url("Open in the hub", incident_url(base_url, incident))]
    bridge = bridge_url(incident.plan, policy)
    if bridge and bridge.lower().startswith(("https://", "http://")):
        actions.append(open_url("Join the bridge", bridge))
    text = f"{headline}\n\n{link(base_url, incident)}: {esc(incident.title)}"
    return Reply(text, card(body, actions))


def list_reply(base_url: str, incidents: list[Incident]) -> Reply:
    """The active incidents, newest first."""
    if not incidents:
        return Reply("No active incidents.")
    lines = [
        f"- {link(base_url, i)} {esc(i.severity)} {esc(i.state)}: {esc(i.title)}"
        for i in incidents[:MAX_LIST]
    ]
    body = [
        block(f"Active incidents ({len(incidents)})", size="Medium", weight="Bolder"),
        block("\n".join(lines)),
    ]
    return Reply("\n".join(lines), card(body, [open_url("Open the board", f"{base_url}/")]))
