"""POST /intake/teams (outgoing webhook, HMAC) and POST /intake/bot (Bot Framework, JWT)."""

from __future__ import annotations

import logging
import time

from flask import Blueprint, current_app, g, jsonify, request

from hub.app import jsondoc
from hub.app.context import Hub
from hub.app.db import utcnow
from hub.app.errors import BadRequest, HubError, TooLarge, Unauthorized
from hub.intake.teams import card_actions, hmac_auth, jwt_auth, process
from hub.intake.teams.conversations import remember
from hub.intake.teams.people import person_for, sender_of

log = logging.getLogger("hub.channels.teams")
bp = Blueprint("teams_intake", __name__, url_prefix="/intake")

MAX_BODY = 256 * 1024  # bytes; a Teams message is at most ~28 KB of text plus its envelope
BUDGET = 4.0  # seconds to answer in; Teams gives up at 5


class NotConfigured(HubError):
    """The endpoint's secret or app id is not set, or its keys cannot be fetched (503)."""

    status = 503
    code = "not_configured"


def _hub() -> Hub:
    return current_app.extensions["hub"]


def _budget() -> float:
    return float(current_app.config.get("TEAMS_REPLY_BUDGET", BUDGET))


@bp.before_request
def _start_clock() -> None:
    g.teams_started = time.monotonic()  # the reply budget counts from here


def _body() -> bytes:
    if (request.content_length or 0) > MAX_BODY:
        raise TooLarge(f"the body is larger than {MAX_BODY} bytes")
    body = request.get_data(cache=True)
    if len(body) > MAX_BODY:
        raise TooLarge(f"the body is larger than {MAX_BODY} bytes")
    return body


def _activity(body: bytes) -> dict:
    try:
        activity = jsondoc.loads(body)
    except jsondoc.TooDeep as exc:
        raise BadRequest(str(exc), code="too_deep") from None
    except (ValueError, UnicodeDecodeError):
        raise BadRequest("the body is not JSON", code="malformed_json") from None
    if not isinstance(activity, dict):
        raise BadRequest("the body must be a JSON object (an activity)", code="malformed_json")
    return activity


def _refuse(kind: str, reason: str, body: bytes) -> Unauthorized:
    # Never the body, the header or the secret: only why, how big, and from where.
    log.warning("%s refused: %s (%d bytes from %s)", kind, reason, len(body), request.remote_addr)
    return Unauthorized(f"{kind}: {reason}")


@bp.post("/teams")
def teams_webhook():
    """Teams outgoing webhook: a message activity signed with HMAC; answers with text or a card."""
    hub = _hub()
    body = _body()
    try:
        key = hmac_auth.decode_secret(hub.settings["HUB_TEAMS_OUTGOING_SECRET"])
    except ValueError as exc:
        log.error("Teams outgoing webhook: %s", exc)
        raise NotConfigured(f"the Teams outgoing webhook is not configured: {exc}") from None
    try:
        hmac_auth.verify(request.headers.get("Authorization"), body, key)
    except hmac_auth.SignatureError as exc:
        raise _refuse("Teams webhook", str(exc), body) from None
    activity = _activity(body)
    if activity.get("type") != "message":
        raise BadRequest(
            f"expected a message activity, got {str(activity.get('type'))[:40]!r}",
            code="not_a_message",
        )
    received = process.run_within(
        _budget() - (time.monotonic() - g.teams_started),
        lambda: process.receive(hub, "teams", activity, body),
        lambda late: process.post_late(hub, activity, late),
    )
    return jsonify((received.outcome.reply if received else process.LATE).activity())


def _bot_route(activity: dict) -> dict:
    return {
        "channel": "bot",
        "service_url": activity["serviceUrl"],
        "conversation_id": activity["conversation"]["id"],
        "reply_to": activity.get("id"),
    }


@bp.post("/bot")
def bot_messages():
    """Bot Framework messaging endpoint: a JWT-signed activity; replies go through the outbox."""
    hub = _hub()
    app_id = hub.settings["HUB_BOT_APP_ID"]
    if not app_id:
        raise NotConfigured("the Teams bot is not configured: set HUB_BOT_APP_ID")
    body = _body()
    try:
        auth = jwt_auth.authenticator_for(hub.settings["HUB_BOT_OPENID_METADATA"], app_id)
        claims, key = auth.verify(request.headers.get("Authorization"))
    except jwt_auth.AuthError as exc:
        raise _refuse("Bot Framework request", str(exc), body) from None
    except jwt_auth.KeysUnavailable as exc:
        log.error("Bot Framework signing keys unavailable: %s", exc)
        raise NotConfigured(
            "cannot check the token now: the signing keys are unavailable"
        ) from None
    activity = _activity(body)
    try:
        auth.check_activity(claims, key, activity)
    except jwt_auth.AuthError as exc:
        raise _refuse("Bot Framework request", str(exc), body) from None
    if not isinstance(activity.get("conversation"), dict) or not isinstance(
        activity["conversation"].get("id"), str
    ):
        raise BadRequest("the activity has no conversation id", code="not_a_message")
    kind = activity.get("type")
    if kind in ("conversationUpdate", "installationUpdate"):
        _remember(hub, activity)
        return jsonify({"outcome": "remembered"})
    if kind == "invoke" and activity.get("name") == card_actions.INVOKE:
        return jsonify(card_actions.answer(hub, activity, body))  # a card button, pressed
    if kind != "message":
        return jsonify({"outcome": "ignored"})
    expect = activity.get("deliveryMode") == "expectReplies"
    route = _bot_route(activity)
    received = process.run_within(
        _budget() - (time.monotonic() - g.teams_started),
        lambda: process.receive(hub, "bot", activity, body, None if expect else route),
        lambda late: process.post_late(hub, activity, late, route) if expect else None,
    )
    if received is None:
        return jsonify({"outcome": "accepted"})
    doc = {"outcome": received.outcome.outcome}
    if expect:  # the sender waits for the answer in the body (a duplicate gets the first one)
        doc["activities"] = [received.outcome.reply.activity()]
    return jsonify(doc)


def _remember(hub: Hub, activity: dict) -> None:
    sender = sender_of(activity)
    with hub.transaction() as session:
        remember(session, activity, sender, person_for(hub.policy, sender), utcnow())
