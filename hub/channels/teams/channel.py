"""The Teams channel: audience webhooks, the bot's chats with people, @mentions on the pages webhook.

Rows of kind `teams` post a card to a Workflows webhook (payload `{"url", "envelope"}`); rows
of kind `bot` post it in a conversation the bot has with a person (`{"service_url",
"conversation_id", "activity"}`). A person is reached in their chat with the bot when there
is one, else @mentioned on the policy's pages webhook.
"""

from __future__ import annotations

import hashlib

from sqlalchemy import select

from hub.app.models import ConversationRef, Notification
from hub.channels.base import Channel, Preview, Sink, render_spec
from hub.channels.registry import register
from hub.channels.teams import cards
from hub.channels.teams.transports import make_teams_transport
from hub.notifications.notices import Recipient
from hub.notifications.throttle import shared_limiter
from hub.policy.templates import environment_for

# Templates of the bot's cards that stand for the incident in a conversation (kept current).
LIVE_TEMPLATES = ("incident-declared", "page", "escalation")
# kind -> (limiter name shared with the transport, payload field that is the endpoint, rate)
LIMITS = {
    "teams": ("teams-webhook", "url", "HUB_TEAMS_WEBHOOK_RATE"),
    "bot": ("teams-bot", "conversation_id", "HUB_TEAMS_BOT_RATE"),
}


def render_teams(template: str, context: dict, env=None) -> dict:
    """The Teams message envelope, validated and size-checked (hub.channels.teams.cards);
    `env`: the policy's override of the template."""
    return cards.check_size(cards.envelope(cards.render_card(template, context, env)))


def hook_key(url: str) -> str:
    """A webhook in an idempotency key: its URL is a secret and can be long."""
    return "hook:" + hashlib.sha256(url.encode()).hexdigest()[:24]


@register
class TeamsChannel(Channel):
    """Cards through HUB_TEAMS_TRANSPORT (webhook, sink or auto) and the bot."""

    name = "teams"
    kinds = ("teams", "bot")
    max_bytes = cards.MAX_BYTES
    responders_share_destination = True  # the pages webhook gets every stakeholder notice
    label = "Microsoft Teams"
    count_noun = ("Teams channel", "Teams channels")
    display_order = 1

    def person_recipients(self, policy, key, person):
        """Every person: in their bot chat, else @mentioned on the pages webhook."""
        return [Recipient("teams", key, key, person.name)]

    def audience_recipients(self, policy, key, audience):
        """The audience's channel webhooks."""
        return [Recipient("teams", t.webhook, None, audience.name or key) for t in audience.teams]

    def responder_recipients(self, policy):
        """The responders' channel (the pages webhook)."""
        hook = policy.teams_pages_webhook
        return [Recipient("teams", hook, None, "responders")] if hook else []

    def address_key(self, recipient):
        """The person key, or the webhook's hash."""
        return recipient.address if recipient.person else hook_key(recipient.address)

    def prepare(self, session, recipients):
        """The bot's chats with these people, by person key."""
        persons = {r.person for r in recipients if r.person}
        if not persons:
            return {}
        refs = session.scalars(select(ConversationRef).where(ConversationRef.key.in_(persons)))
        return {ref.key: ref for ref in refs}

    def route(self, row, recipient, context, prepared, policy, settings):
        """A webhook card, a bot message, or an @mention on the pages webhook; else no route."""
        if recipient.person is None:  # a channel webhook: one card for every webhook
            row.channel, row.recipient = "teams", recipient.address
            row.payload = render_spec("teams", row.template, context, url=recipient.address)
            return True
        row.recipient = recipient.person
        ref = prepared.get(recipient.person)
        if ref is not None:  # the bot has a chat with this person: post there
            row.channel = "bot"
            row.payload = render_spec(
                "bot",
                row.template,
                context,
                service_url=ref.service_url,
                conversation_id=ref.conversation_id,
            )
            return True
        if not recipient.via_shared:
            return False
        hook = policy.teams_pages_webhook
        if not hook and settings.text("HUB_TEAMS_TRANSPORT") not in ("auto", "sink"):
            return False
        # No webhook in development (auto/sink): a row without URL, which the sink shows.
        person = policy.people[recipient.person]
        mention_id = person.teams or person.aad_object_id
        mention = {"name": person.name, "id": mention_id} if mention_id else None
        row.channel = "teams"
        row.payload = render_spec("teams", row.template, dict(context, mention=mention), url=hook)
        return True

    def render(self, spec, settings):
        """The card from templates/teams/<template>.json.j2, wrapped for its kind; the bot's
        cards may carry Action.Execute (`via_bot`), and replace a message (`activity_id`)."""
        env = environment_for(settings, "teams", spec["template"])
        if spec["kind"] == "bot":
            context = dict(spec["context"], via_bot=True)
            message = {
                "service_url": spec["service_url"],
                "conversation_id": spec["conversation_id"],
                "activity": render_teams(spec["template"], context, *([env] if env else [])),
            }
            if spec.get("activity_id"):
                message["activity_id"] = spec["activity_id"]
            return message
        envelope = render_teams(spec["template"], spec["context"], *([env] if env else []))
        return {"url": spec["url"], "envelope": envelope}

    def refresh(self, session, incident, template, context_for, change, now):
        """For the bot's first card about the incident in each conversation (a declaration or
        a page it sent, with the activity id Teams gave it): a row that replaces it."""
        sent = session.execute(
            select(Notification.recipient, Notification.payload, Notification.provider_id)
            .where(
                Notification.incident_id == incident.id,
                Notification.channel == "bot",
                Notification.status == "sent",
                Notification.template.in_(LIVE_TEMPLATES),
            )
            .order_by(Notification.id)
        ).all()
        first: dict[str, tuple] = {}
        for recipient, payload, activity_id in sent:
            message = (payload or {}).get("render", payload or {})
            conversation = message.get("conversation_id")
            if conversation and conversation not in first:
                first[conversation] = (recipient, message.get("service_url"), activity_id)
        rows = []
        for conversation, (recipient, service_url, activity_id) in first.items():
            if not activity_id or activity_id.startswith("sha256:"):
                continue  # Teams gave no id for it: nothing to replace
            who = hashlib.sha256(conversation.encode()).hexdigest()[:24]
            rows.append(
                Notification(
                    key=f"card:{incident.ref}:{change}|{who}|bot",
                    channel="bot",
                    recipient=recipient,
                    template=template,
                    payload=render_spec(
                        "bot",
                        template,
                        context_for(recipient),  # the person the card went to
                        service_url=service_url,
                        conversation_id=conversation,
                        activity_id=activity_id,
                    ),
                    status="pending",
                    attempts=0,
                    created_at=now,
                    next_attempt_at=now,
                )
            )
        return rows

    def make_transport(self, settings, kind):
        """Webhook posts or bot messages, or the local sink, as HUB_TEAMS_TRANSPORT says."""
        return make_teams_transport(settings, kind)

    def preview(self, template, context, recipients, settings):
        """The card, as a channel webhook gets it (the policy's override, if any)."""
        env = environment_for(settings, "teams", template)
        return Preview("card", cards.render_card(template, context, env))

    def sink(self, settings):
        """`<data_dir>/sinks/teams/`: one record per card envelope."""
        return Sink(
            settings.data_dir / "sinks" / "teams",
            "Teams",
            "Teams cards when HUB_TEAMS_TRANSPORT=sink, or =auto with no webhook configured "
            f"(now {settings['HUB_TEAMS_TRANSPORT']})",
            "card",
        )

    def limit(self, settings, kind, message):
        """Per webhook or conversation; the transports take the slot themselves."""
        name, field, setting = LIMITS[kind]
        key = message.get(field)
        if not key:
            return None
        return shared_limiter(name, float(settings[setting])), key, False

    def combine(self, kind, messages):
        """Pages to one Workflows webhook: one card with each page in its own section."""
        urls = {m.get("url") for m in messages}
        if kind != "teams" or len(urls) != 1 or len(messages) < 2:
            return None
        combined = cards.combine([m["envelope"] for m in messages])
        return None if combined is None else {"url": urls.pop(), "envelope": combined}
