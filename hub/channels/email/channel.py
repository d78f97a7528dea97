"""The email channel: people and audience lists by address, suppressed bounces, threaded mail."""

from __future__ import annotations

from hub.app.security import subscription_token
from hub.channels.base import Channel, Preview, Sink, render_spec
from hub.channels.email import compose
from hub.channels.email.transports import make_mail_transport
from hub.channels.registry import register
from hub.notifications.notices import Recipient, may_reply
from hub.notifications.suppression import suppressed_addresses
from hub.notifications.throttle import shared_limiter


def render_email(
    template: str, context: dict, *, to: str, settings, incident_id: int, key: str
) -> dict:
    """The email payload for one recipient (hub.channels.email.compose)."""
    thread = compose.ThreadInfo(incident_id, key)
    return compose.render_email(template, context, to=to, settings=settings, thread=thread)


def thread_under(payload: dict, message_id: str | None) -> dict:
    """Make an email row an auto-reply threaded under `message_id` (the reporter's mail)."""
    if payload and "render" in payload:
        return {"render": {**payload["render"], "auto_reply_to": message_id or ""}}
    return _auto_reply(payload, message_id) if payload and "headers" in payload else payload


def _auto_reply(payload: dict, message_id: str | None) -> dict:
    headers = dict(payload["headers"])
    headers["Auto-Submitted"] = "auto-replied"
    if message_id:
        headers["In-Reply-To"] = f"<{message_id}>"
        headers["References"] = f"<{message_id}> {headers.get('References', '')}".strip()
    return {**payload, "headers": headers}


def unsubscribe_context(context: dict, settings) -> tuple[dict, dict]:
    """A subscriber's context with `unsubscribe_url`, and the RFC 8058 headers: the https link
    (one-click by POST) and a mailto to the intake address that the hub reads as the same."""
    pair = (context.get("recipient") or {}).get("unsubscribe")
    if not pair:
        return context, {}
    token = subscription_token(settings.secret_key, "unsubscribe", int(pair[0]), str(pair[1]))
    url = f"{settings.base_url}/unsubscribe/{token}"
    intake = context.get("intake_address") or compose.address_of(settings.text("HUB_MAIL_FROM"))
    mailto = f"mailto:{intake}?subject=unsubscribe%20{token}"
    headers = {
        "List-Unsubscribe": f"<{url}>, <{mailto}>",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
    }
    return dict(context, unsubscribe_url=url), headers


@register
class EmailChannel(Channel):
    """Mail through HUB_MAIL_TRANSPORT (smtp, graph or sink); one row per address."""

    name = "email"
    kinds = ("email",)
    order = 1  # after the Teams cards of the same event: mail lists can be long
    label = "Email"
    count_noun = ("email address", "email addresses")
    display_order = 0  # mail first on the update preview and the sinks page

    def person_recipients(self, policy, key, person):
        """The person's email address, if the policy has one."""
        return [Recipient("email", person.email, key, person.name)] if person.email else []

    def audience_recipients(self, policy, key, audience):
        """The audience's mailing list."""
        return [Recipient("email", a, None, audience.name or key) for a in audience.email]

    def address_key(self, recipient):
        """Addresses compare without case."""
        return recipient.address.lower()

    def recipient_context(self, recipient):
        """Templates show the address and invite a reply only from who may post by one
        (`may_reply`); a subscriber's mail gets its unsubscribe link at render."""
        out = {
            "name": recipient.name or recipient.address,
            "email": recipient.address,
            "may_reply": may_reply(recipient),
        }
        if recipient.unsubscribe:
            out["unsubscribe"] = list(recipient.unsubscribe)
        return out

    def prepare(self, session, recipients):
        """The addresses that bounced permanently."""
        return suppressed_addresses(session, [r.address for r in recipients])

    def route(self, row, recipient, context, prepared, policy, settings):
        """One row per address; a suppressed address gets a row that is never sent."""
        row.channel, row.recipient = "email", recipient.address
        if recipient.address in prepared:
            row.status, row.last_error = "suppressed", "suppressed: the address bounced permanently"
            return True
        row.payload = render_spec(
            "email",
            row.template,
            context,
            to=recipient.address,
            incident_id=row.incident_id,
            key=row.key,
        )
        return True

    def batch_size(self, settings):
        """Graph: HUB_GRAPH_BCC_BATCH addresses per message (Exchange takes 500 recipients a
        message by default); SMTP: HUB_SMTP_BATCH recipients per envelope; the sink: one each."""
        transport = settings.text("HUB_MAIL_TRANSPORT").lower()
        if transport == "graph":
            return settings.int("HUB_GRAPH_BCC_BATCH")
        if transport == "smtp":
            return settings.int("HUB_SMTP_BATCH")
        return 1

    def route_batch(self, row, addresses, context, settings):
        """One message to the audience's addresses in BCC, addressed To the hub's sender."""
        row.channel = "email"
        row.recipient = f"{row.audience}: {len(addresses)} addresses (BCC)"
        row.payload = render_spec(
            "email",
            row.template,
            context,
            to=settings.text("HUB_MAIL_FROM"),
            bcc=list(addresses),
            incident_id=row.incident_id,
            key=row.key,
        )

    def render(self, spec, settings):
        """Subject and bodies from templates/email/<template>/, threading headers, reply token."""
        if spec.get("bcc"):
            return compose.render_batch_email(
                spec["template"],
                spec["context"],
                bcc=spec["bcc"],
                settings=settings,
                thread=compose.ThreadInfo(spec["incident_id"], spec["key"]),
            )
        context, unsubscribe = unsubscribe_context(spec["context"], settings)
        out = render_email(
            spec["template"],
            context,
            to=spec["to"],
            settings=settings,
            incident_id=spec["incident_id"],
            key=spec["key"],
        )
        if "auto_reply_to" in spec:
            out = _auto_reply(out, spec["auto_reply_to"] or None)
        if unsubscribe:
            out["headers"].update(unsubscribe)
        return out

    def make_transport(self, settings, kind):
        """SMTP, Graph sendMail or the local sink, as HUB_MAIL_TRANSPORT says."""
        return make_mail_transport(settings)

    def preview(self, template, context, recipients, settings):
        """Subject and text as the first address would get them."""
        first = recipients[0] if recipients else None
        if first is not None:
            context = dict(context, recipient=self.recipient_context(first))
        ref = context["incident"]["id"]
        mail = compose.render_email(
            template,
            context,
            to=first.address if first else "stakeholders@example.invalid",
            settings=settings,
            thread=compose.ThreadInfo(ref, f"preview:{ref}"),
        )
        return Preview("mail", {"subject": mail["subject"], "text": mail["text"]})

    def sink(self, settings):
        """`<data_dir>/sinks/email/`: an .eml and a .json summary per message."""
        return Sink(
            settings.data_dir / "sinks" / "email",
            "Email",
            f"mail when HUB_MAIL_TRANSPORT=sink (now {settings['HUB_MAIL_TRANSPORT']})",
            "mail",
        )

    def limit(self, settings, kind, message):
        """Graph: HUB_GRAPH_SEND_PER_MINUTE per mailbox, taken by the engine before sending."""
        if settings.text("HUB_MAIL_TRANSPORT") != "graph" or not settings["HUB_GRAPH_MAILBOX"]:
            return None
        rate = float(settings["HUB_GRAPH_SEND_PER_MINUTE"]) / 60.0
        return shared_limiter("graph-mailbox", rate), settings["HUB_GRAPH_MAILBOX"], True
