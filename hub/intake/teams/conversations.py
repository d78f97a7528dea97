"""Bot conversation references, incident subscriptions, and replies sent through the outbox."""

from __future__ import annotations

import hashlib
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from hub.app.context import queue_job
from hub.app.models import ConversationRef, Incident, Notification
from hub.channels.teams.cards import envelope
from hub.channels.teams.channel import hook_key
from hub.incidents.timeline import add_timeline
from hub.intake.teams.people import Sender
from hub.intake.teams.replies import Reply
from hub.notifications.subscribers import subscribers
from hub.policy.model import Person, Policy


def _get(node, *path):
    for name in path:
        node = node.get(name) if isinstance(node, dict) else None
    return node


def base_conversation(conversation_id: str) -> str:
    """A channel conversation id without its `;messageid=` thread suffix."""
    return conversation_id.split(";messageid=", 1)[0]


def conversation_key(activity: dict, sender: Sender, person: Person | None) -> str | None:
    """The ConversationRef key: the person key for a personal chat, else the channel/chat id."""
    conversation = str(_get(activity, "conversation", "id") or "")
    kind = _get(activity, "conversation", "conversationType")
    channel = _get(activity, "channelData", "channel", "id")
    if kind == "personal" or (kind is None and not channel and not conversation.startswith("19:")):
        if person:
            return person.key
        return f"aad:{sender.aad_object_id}" if sender.aad_object_id else None
    if kind == "channel" or channel:
        return str(channel or base_conversation(conversation))[:300] or None
    return base_conversation(conversation)[:300] or None


def remember(
    session: Session, activity: dict, sender: Sender, person: Person | None, now: datetime
) -> ConversationRef | None:
    """Store or refresh the bot's reference to this conversation (for proactive posts)."""
    key = conversation_key(activity, sender, person)
    service_url = activity.get("serviceUrl")
    conversation = _get(activity, "conversation", "id")
    if not key or not isinstance(service_url, str) or not isinstance(conversation, str):
        return None
    kind = _get(activity, "conversation", "conversationType") or (
        "personal" if person and key == person.key else "channel"
    )
    data = {
        "type": kind,
        "tenant_id": _get(activity, "channelData", "tenant", "id"),
        "team_id": _get(activity, "channelData", "team", "id"),
        "channel_id": _get(activity, "channelData", "channel", "id"),
        "bot_id": _get(activity, "recipient", "id"),
        "bot_name": _get(activity, "recipient", "name"),
        "user_aad_object_id": sender.aad_object_id if kind == "personal" else None,
    }
    fields = {
        "service_url": service_url[:500],
        "conversation_id": base_conversation(conversation)[:500],
        "updated_at": now,
    }
    ref = session.scalars(select(ConversationRef).where(ConversationRef.key == key)).first()
    if ref is None:
        try:
            with session.begin_nested():
                ref = ConversationRef(key=key, data=data, **fields)
                session.add(ref)
                session.flush()
            return ref
        except IntegrityError:  # another request stored it first: update theirs
            ref = session.scalars(select(ConversationRef).where(ConversationRef.key == key)).one()
    for name, value in fields.items():
        setattr(ref, name, value)
    ref.data = {**(ref.data or {}), **{k: v for k, v in data.items() if v is not None}}
    return ref


def subscribe(
    session: Session,
    policy: Policy,
    incident: Incident,
    *,
    person: str | None,
    conversation: str | None,
    channel: str,
    now: datetime,
) -> bool:
    """Record a subscription on the timeline; False if it was there already."""
    if any(
        s["person"] == person and s["conversation"] == conversation for s in subscribers(incident)
    ):
        return False
    who = policy.people[person].name if person in policy.people else (conversation or "someone")
    add_timeline(
        session,
        incident,
        "subscribed",
        f"{who} subscribed in Teams",
        actor=person,
        now=now,
        data={"person": person, "conversation": conversation, "channel": channel},
    )
    return True


def unsubscribe(
    session: Session, policy: Policy, incident: Incident, *, person: str, now: datetime
) -> bool:
    """Record that the person no longer follows the incident; False if they did not."""
    if not any(s["person"] == person for s in subscribers(incident)):
        return False
    who = policy.people[person].name if person in policy.people else person
    add_timeline(
        session,
        incident,
        "unsubscribed",
        f"{who} unsubscribed in Teams",
        actor=person,
        now=now,
        data={"person": person},
    )
    return True


def late_route(session: Session, policy: Policy, activity: dict) -> dict | None:
    """Where a reply that missed the webhook's time limit can still go: the bot, else the pages webhook."""
    channel = _get(activity, "channelData", "channel", "id")
    conversation = _get(activity, "conversation", "id")
    if channel:
        ref = session.scalars(select(ConversationRef).where(ConversationRef.key == channel)).first()
        if ref is not None and isinstance(conversation, str):
            return {
                "channel": "bot",
                "service_url": ref.service_url,
                "conversation_id": conversation,
                "reply_to": activity.get("id"),
            }
    if policy.teams_pages_webhook:
        return {"channel": "teams", "url": policy.teams_pages_webhook}
    return None


def queue_reply(
    session: Session, reply: Reply, route: dict, *, event: str, now: datetime
) -> Notification | None:
    """Write the reply as an outbox row (delivered by the worker); None if already written."""
    if route["channel"] == "bot":
        activity = dict(reply.activity())
        if route.get("reply_to"):
            activity["replyToId"] = route["reply_to"]
        payload = {
            "service_url": route["service_url"],
            "conversation_id": route["conversation_id"],
            "activity": activity,
        }
        recipient = route["conversation_id"]
        who = hashlib.sha256(recipient.encode()).hexdigest()[:24]
    else:
        payload = {"url": route["url"], "envelope": envelope(reply.as_card())}
        recipient = route["url"]
        who = hook_key(recipient)
    row = Notification(
        key=f"{event[:200]}|{who}|{route['channel']}",
        channel=route["channel"],
        recipient=recipient[:2000],
        template="teams-reply",
        payload=payload,
        status="pending",
        attempts=0,
        next_attempt_at=now,
        created_at=now,
    )
    try:
        with session.begin_nested():
            session.add(row)
            session.flush()
    except IntegrityError:
        return None
    queue_job(session, "deliver", row.id)
    return row
