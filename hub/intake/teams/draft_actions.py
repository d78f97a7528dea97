"""Approve and Edit on the bot's card of a drafted stakeholder update (hub/incidents/drafts.py).

`edit-update` changes nothing: its answer is the card with the text in a box and one button,
"Approve with this text"; `approve-update` approves (with that text when it came from the
box: Teams merges the card's inputs into `data`) as the person who pressed it, through
`act()`. The answer is the draft's card as it now stands, the outcome said on it.
"""

from __future__ import annotations

from hub.app.errors import Forbidden, HubError
from hub.channels.teams.cards import render_card
from hub.incidents import drafts
from hub.incidents.act import act
from hub.incidents.mobilisation import context
from hub.policy.model import person_name

VERBS = ("approve-update", "edit-update")


def perform(hub, verb: str, person: str, ref: str, data: dict, now) -> tuple[str, str, int | None]:
    """(what the card says, the outcome, the incident id) of a pressed button."""
    if verb == "edit-update":
        return "Edit the text, then approve it.", "editing", None
    text = data.get("text") if isinstance(data.get("text"), str) else None
    try:
        with hub.transaction() as session:

            def run(incident):
                draft = drafts.get_draft(session, incident, data.get("draft"))
                drafts.approve(session, hub.policy, incident, draft, actor=person, now=now,
                               text=text)  # fmt: skip
                return incident.id, draft.edits

            incident_id, edits = act(session, hub.policy, ref, person, "update", run, now=now)
    except Forbidden as exc:
        return f"⛔ {exc.message}", "refused", None
    except HubError as exc:
        return exc.message, exc.code, None
    edited = " (edited)" if edits else ""
    return f"✅ Approved{edited}: the update went to the stakeholders.", "approved", incident_id


def card(session, policy, incident, person: str, verb: str, data: dict, notice: str, now) -> dict:
    """The draft's card for the person who pressed, as it stands after the press."""
    draft = drafts.get_draft(session, incident, data.get("draft"))
    ctx = context(
        session,
        policy,
        incident,
        now,
        draft=drafts.draft_context(policy, incident, draft),
        approve_url=None,
        recipient={"name": person_name(policy, person), "email": None},
        notice=notice,
        edit=verb == "edit-update" and draft.state == "awaiting",
        via_bot=True,
    )
    return render_card(drafts.TEMPLATE, ctx)
