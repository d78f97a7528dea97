"""Buttons pressed on the bot's cards (Universal Actions): acknowledge inside Teams (and a
drafted update's Approve / Edit: hub/intake/teams/draft_actions.py).

An `Action.Execute` arrives as an `invoke` activity named `adaptiveCard/action` with
`value.action.{verb, data}`, from the person who pressed it (the Bot Framework token vouches
for the activity, `from.aadObjectId` names them). The raw activity is stored first, like every
message (a retried invoke acts once); the hub acts as that person through `act()`, and the
answer is the refreshed card (`application/vnd.microsoft.card.adaptive`), which Teams shows in
place of the one pressed; a refusal is said on the card too, calmly.
"""

from __future__ import annotations

import logging

from hub.app.context import Hub
from hub.app.db import utcnow
from hub.app.errors import Forbidden, HubError
from hub.channels.teams.cards import ADAPTIVE, BOT_ACTIONS, render_card, validate_card
from hub.core.permissions import role_label
from hub.incidents import live_cards
from hub.incidents import operations as ops
from hub.incidents.act import act
from hub.incidents.records import get_incident
from hub.intake.teams import conversations, draft_actions, process
from hub.intake.teams.context import Outcome
from hub.intake.teams.people import person_for, sender_of
from hub.intake.teams.replies import Reply

log = logging.getLogger("hub.channels.teams")
INVOKE = "adaptiveCard/action"
MESSAGE = "application/vnd.microsoft.activity.message"
VERBS = ("acknowledge", *draft_actions.VERBS)


def message(text: str) -> dict:
    """An invoke answer that Teams shows as a short message instead of a card."""
    return {"statusCode": 200, "type": MESSAGE, "value": text}


def _action(activity: dict) -> tuple[str, dict] | None:
    value = activity.get("value") if isinstance(activity.get("value"), dict) else {}
    action = value.get("action") if isinstance(value.get("action"), dict) else {}
    data = action.get("data") if isinstance(action.get("data"), dict) else {}
    if action.get("type") != "Action.Execute" or action.get("verb") not in VERBS:
        return None
    return action["verb"], data


def _acknowledge(hub: Hub, person: str, ref, now) -> tuple[str, str, int | None]:
    """(what the card says, the outcome, the incident id): the act, or why not."""
    try:
        with hub.transaction() as session:
            acked, incident_id = act(
                session,
                hub.policy,
                ref,
                person,
                "acknowledge",
                lambda i: (ops.acknowledge(session, hub.policy, i, actor=person, now=now), i.id),
                now=now,
            )
    except Forbidden as exc:
        return f"⛔ {exc.message}", "refused", None
    except HubError as exc:
        return exc.message, exc.code, None
    if not acked:
        return "You had already acknowledged.", "duplicate", incident_id
    roles = ", ".join(role_label(r) for r in acked)
    return (
        f"✅ You acknowledged as {roles}; the escalation for you stops.",
        "acknowledged",
        incident_id,
    )


def answer(hub: Hub, activity: dict, raw: bytes) -> dict:
    """The invoke response for a pressed card button."""
    found = _action(activity)
    if found is None:
        return message("That button is not one the hub knows.")
    verb, data = found
    sender = sender_of(activity)
    person = person_for(hub.policy, sender)
    if person is None:
        return message(
            f"I can't match your Teams account ({sender.name}) to a person of the incident "
            "policy; ask an admin to add your Entra object id or UPN."
        )
    now = utcnow()
    inbound_id, _ = process.store_raw(hub, "bot", activity, raw)
    ref = str(data.get("incident") or "")
    if inbound_id is None:  # a retried invoke: it acted the first time; show the card as it is
        notice, outcome, incident_id = "Done already.", "duplicate", None
    elif verb in draft_actions.VERBS:
        notice, outcome, incident_id = draft_actions.perform(hub, verb, person.key, ref, data, now)
    else:
        notice, outcome, incident_id = _acknowledge(hub, person.key, ref, now)
    with hub.transaction() as session:
        conversations.remember(session, activity, sender, person, now)
        if inbound_id is not None:
            process._record(
                session,
                inbound_id,
                "processed",
                f"card:{verb}",
                Outcome(Reply(notice), outcome, incident_id),
            )
        try:
            incident = get_incident(session, ref)
        except HubError:
            return message(notice)
        if verb in draft_actions.VERBS:
            try:
                card = draft_actions.card(
                    session, hub.policy, incident, person.key, verb, data, notice, now
                )
            except HubError:
                return message(notice)
            validate_card(card, BOT_ACTIONS)
            return {"statusCode": 200, "type": ADAPTIVE, "value": card}
        card = render_card(
            live_cards.TEMPLATE,
            dict(
                live_cards.card_context(session, hub.policy, incident, person.key, now, notice),
                via_bot=True,
            ),
        )
    validate_card(card, BOT_ACTIONS)
    log.info("card %s on %s by %s: %s", verb, ref[:20], person.key, outcome)
    return {"statusCode": 200, "type": ADAPTIVE, "value": card}
