"""The contract of an outgoing channel, and what every channel adapter shares.

A channel (email, Teams, …) is one `Channel` subclass, registered by name in
`hub.channels.registry`. The outbox (hub/notifications/notify.py) asks it where a person or an
audience is reached and what each outbox row holds; the delivery engine
(hub/notifications/delivery.py) asks it to render a row, to make the transport that sends it,
and for the rate limit of the row's endpoint. Nothing outside the channel's own package knows
its addresses, its payloads or its providers.

Optional, for the console: a channel may say how it is shown (`label`, `count_noun`,
`display_order`), draw a notice for the stakeholder-update preview (`preview`) and name its
local sink for the ops sinks page (`sink`); a channel that does not is counted in the preview
and has no sink tab.

Errors drive retries: a transport raises `TransientError` (try again, honouring
`retry_after`) or `PermanentError` (fail the row once, with the reason), or returns `Sent`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any, Protocol

from hub.app.redact import SHOWN_PATH, redact_url


class DeliveryError(Exception):
    """A delivery did not happen."""


class TransientError(DeliveryError):
    """Try again later: timeouts, connection errors, 429, 5xx. `retry_after` in seconds if known."""

    def __init__(self, message: str, retry_after: float | None = None):
        super().__init__(message)
        self.retry_after = retry_after


class PermanentError(DeliveryError):
    """Retrying cannot help: other 4xx, a rejected recipient, a broken template."""


@dataclass(frozen=True)
class Sent:
    """The provider accepted the message."""

    provider_id: str  # message id, request id, or sink file name
    detail: str = ""  # e.g. "202 Accepted"
    # Recipients of a many-recipient message the provider refused while taking the others:
    # lower-case address -> the provider's answer (e.g. "552 5.2.2 mailbox full").
    refused: dict[str, str] | None = None


@dataclass(frozen=True)
class Preview:
    """A channel's notice as the update preview draws it. `shows` says how `body` is drawn:
    "mail" (`{"subject", "text"}`), "card" (an Adaptive Card, drawn by hub.web.cards) or
    "text" (a string, as it is)."""

    shows: str
    body: Any


@dataclass(frozen=True)
class Sink:
    """Where a channel's local sink transport writes, for the ops sinks page.

    `folder` holds one `*.json` record per message, named so that newer sorts later. `shows`
    says how the page draws a record: "mail" (the email sink's summaries, `{"subject", "to",
    "at", "template", "incident", "text", "file"}` beside the `file` as sent), "card" (`{"at",
    "transport", "to", "envelope"}` with Adaptive Cards in the envelope) or "json" (as it is).
    `label` names the sink's tab; `note` says when the hub writes there (e.g. "mail when
    HUB_MAIL_TRANSPORT=sink (now smtp)")."""

    folder: Path
    label: str
    note: str = ""
    shows: str = "json"


class Transport(Protocol):
    """Sends rendered messages of one outbox kind; one per process, shared by worker threads."""

    def send(self, message: dict) -> Sent:
        """Hand one message to the provider; `Sent`, or raise Transient/PermanentError."""
        ...


class Channel:
    """One outgoing channel. Subclass it, fill in every method, and `@register` an instance.

    `name` is the registry key, the `via:` name in the policy and the channel of a
    `Recipient`. A channel writes outbox rows of one or more `kinds` (the rows' `channel`
    column): Teams writes `teams` rows (posted to a webhook) and `bot` rows (posted in the
    bot's chat with a person). Rows hold a render spec `{"render": {"kind", "template",
    "context", …route}}` until the worker renders them (`render`).
    """

    name: str = ""
    kinds: tuple[str, ...] = ()
    # Rows are delivered in this order within one event (lower first): one card per Teams
    # channel should not wait behind a long email list.
    order: int = 0
    # The largest message, in bytes, the provider takes (None: the provider's own limit).
    max_bytes: int | None = None
    # True when `responder_recipients` is where the responders follow the incident together
    # (Teams: the pages webhook, which gets every stakeholder notice): a notice that is each
    # responder's own copy of one posted there (the resolved notice) skips this channel.
    responders_share_destination: bool = False
    # False for a channel that carries no notices to people, only the rows its own feature
    # writes (the ticket export): it is not a policy's `via:`, not in `channels()`.
    notifies: bool = True

    # Optional, for the console: the channel's name on pages (default: `name`), one of its
    # recipients in a count (singular, plural), and where it comes among the channels on the
    # update preview and the sinks page (lower first).
    label: str = ""
    count_noun: tuple[str, str] = ("recipient", "recipients")
    display_order: int = 100

    # -- routing: who is reached where -------------------------------------------------

    def person_recipients(self, policy, key: str, person) -> list:
        """The `Recipient`s through which the policy's person `key` is reached here."""
        raise NotImplementedError

    def audience_recipients(self, policy, key: str, audience) -> list:
        """The `Recipient`s of the policy's audience `key` on this channel."""
        raise NotImplementedError

    def responder_recipients(self, policy) -> list:
        """The responders' shared destination on this channel, if it has one."""
        return []

    def address_key(self, recipient) -> str:
        """The recipient part of an outbox idempotency key (short, no secrets)."""
        return recipient.address

    def recipient_context(self, recipient) -> dict:
        """The `recipient` part of a template context."""
        return {"name": recipient.name or recipient.address, "email": None}

    def prepare(self, session, recipients: list) -> Any:
        """Look up, once per event, what `route` needs for these recipients (e.g. bot chats)."""
        return None

    def route(self, row, recipient, context: dict, prepared, policy, settings) -> bool:
        """Fill an outbox row for `recipient`: `row.channel` (one of `kinds`),
        `row.recipient`, `row.payload` (a render spec, see `render_spec`), and `row.status`
        and `row.last_error` when it is not to be sent (e.g. "suppressed"). False: the
        recipient has no route on this channel and no row is written."""
        raise NotImplementedError

    # -- delivery: render, send, limits -------------------------------------------------

    def render(self, spec: dict, settings) -> dict:
        """The message a transport sends, from a row's render spec. Raises on a broken
        template (the row fails once, with the reason)."""
        raise NotImplementedError

    def make_transport(self, settings, kind: str) -> Transport:
        """The transport for rows of `kind`, picked by configuration (e.g. smtp, graph or
        sink); made once per process and kept by the delivery engine."""
        raise NotImplementedError

    def limit(self, settings, kind: str, message: dict):
        """The per-endpoint rate limit of this message: `(limiter, endpoint key,
        acquire_here)`, or None when it is not limited. `acquire_here`: the engine takes the
        slot before sending; otherwise the transport takes it itself and the engine only
        looks ahead (and defers a row that would wait long)."""
        return None

    # -- messages kept current (optional) -----------------------------------------------

    def refresh(self, session, incident, template: str, context_for, change: str, now) -> list:
        """Outbox rows (not yet added) that replace this channel's live messages about the
        incident in place with `template` (Teams: the bot's first card in each conversation,
        by updateActivity); `context_for(person)` is the context for the person a message
        went to (None: a shared conversation); `change` names the change in the rows' keys.
        None by default: a channel that cannot edit what it sent posts anew instead."""
        return []

    def combine(self, kind: str, messages: list[dict]) -> dict | None:
        """One message that carries these (pages due together to one limited endpoint, e.g.
        one card that @mentions each person), or None (the default): sent one by one."""
        return None

    # -- one message for many recipients (optional) --------------------------------------

    def batch_size(self, settings) -> int:
        """How many of one audience's recipients may share one message on this channel (BCC,
        one SMTP envelope); 1 (the default): one message each."""
        return 1

    def route_batch(self, row, addresses: list[str], context: dict, settings) -> None:
        """Fill the outbox row of one message to `addresses` (all of one audience): `row.channel`,
        `row.recipient` and `row.payload`. Only called when `batch_size` is above 1."""
        raise NotImplementedError

    # -- the console (optional) ---------------------------------------------------------

    def preview(self, template: str, context: dict, recipients: list, settings) -> Preview | None:
        """The notice `template` as this channel would send it to `recipients` (its own among
        the notice's recipients; maybe none), for the stakeholder-update preview; None (the
        default) when the preview shows only how many it reaches. `context` is the notice's
        template context with a neutral `recipient`. Sends and writes nothing; raises on a
        broken template (the preview says so)."""
        return None

    def sink(self, settings) -> Sink | None:
        """Where this channel's local sink writes (`<data_dir>/sinks/<name>/`), for the ops
        sinks page; None (the default) when it has no sink."""
        return None


def render_spec(kind: str, template: str, context: dict, **route) -> dict:
    """A row's payload until delivery: what its message is made of and where it goes."""
    return {"render": {"kind": kind, "template": template, "context": context, **route}}


def shown_recipient(recipient: str) -> str:
    """An outbox row's recipient as people may see it: a URL redacted, anything else as is."""
    return redact_url(recipient, SHOWN_PATH) if "://" in recipient else recipient


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """`Retry-After` as seconds from now: delta-seconds or an HTTP-date; None if absent/bad."""
    if value is None:
        return None
    value = str(value).strip()
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        seconds = None
    if seconds is not None:
        return max(0.0, seconds) if math.isfinite(seconds) else None
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def graph_failure(response, what: str, tokens=None) -> DeliveryError:
    """The error of a Microsoft Graph answer that is not a success: Graph's own
    `{"error": {"code", "message"}}` when it sent one; 401 (the token is dropped first), 408,
    429 and 5xx are worth another try (honouring `Retry-After`), anything else is not."""
    try:
        error = response.json()["error"]
        detail = f"{error.get('code')}: {error.get('message')}"
    except (ValueError, KeyError, TypeError, AttributeError):
        detail = response.text[:200]
    detail = f"Graph {what} {response.status_code}: {detail}"
    if response.status_code == 401 and tokens is not None:
        tokens.invalidate()
    if response.status_code in (401, 408, 429) or response.status_code >= 500:
        return TransientError(
            detail, retry_after=parse_retry_after(response.headers.get("Retry-After"))
        )
    return PermanentError(detail)
