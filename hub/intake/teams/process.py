"""One Teams message: store it raw, run its command within a time budget, record the outcome.

The raw activity is committed before anything else happens, deduplicated by activity id, so a
retried delivery gets the first answer again and a crash loses nothing. The command runs in
a worker thread; if it outlives the budget (Teams waits 5 seconds) the caller answers at
once and the result goes out later through the outbox (`late` route).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from typing import TypeVar

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError

from hub.app.context import Hub
from hub.app.db import utcnow
from hub.app.models import InboundMessage
from hub.intake.raw import bounded_key, content_key, decisions_for, insert_raw
from hub.intake.senders import sender_label
from hub.intake.teams import conversations, handlers
from hub.intake.teams.commands import parse
from hub.intake.teams.context import Ctx, Outcome
from hub.intake.teams.people import person_for, sender_of
from hub.intake.teams.replies import Reply

log = logging.getLogger("hub.channels.teams")
T = TypeVar("T")

WORKERS = 16  # threads that run commands; SQLite has one writer anyway
_pool = ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="teams-intake")
LATE = Reply(
    "⏳ That is taking longer than Teams waits for. I will post the result in this "
    "channel when it is done; it is also in the hub."
)
BUSY = Reply("I am still working on that message.")
READ_ONLY = ("help", "unknown", "status", "oncall")  # commands that change nothing


def dedupe_key(activity: dict, raw: bytes) -> str:
    """`<conversation>|<activity id>`, else a hash of the raw body."""
    ident = activity.get("id")
    conversation = (
        (activity.get("conversation") or {}).get("id")
        if isinstance(activity.get("conversation"), dict)
        else None
    )
    if isinstance(ident, str | int) and str(ident).strip():
        return bounded_key(f"{conversations.base_conversation(str(conversation or ''))}|{ident}")
    return content_key(raw)


def store_raw(hub: Hub, channel: str, activity: dict, raw: bytes) -> tuple[int | None, Reply]:
    """Commit the raw message; (id, _) when new, (None, the earlier answer) when a duplicate."""
    key = dedupe_key(activity, raw)
    sender = sender_of(activity)
    person = person_for(hub.policy, sender)
    try:
        with hub.db.session() as session:  # Core, not the ORM: this runs for every message
            ident = insert_raw(
                session,
                channel,
                raw,
                now=utcnow(),
                key=key,
                sender=sender_label(person, sender.label),
            )
        return ident, BUSY
    except IntegrityError:
        with hub.db.session(write=False) as session:
            decisions = decisions_for(session, channel, key)
        earlier = next((d["reply"] for d in decisions or () if "reply" in d), None)
        log.info("teams %s message %s is a duplicate", channel, key)
        return None, Reply.from_json(earlier) if earlier else BUSY


def _service_names(policy) -> list[str]:
    names = []
    for key, service in policy.services.items():
        names += [key, service.name, *service.aliases]
    return [n.lower() for n in names]


def _record(session, inbound_id: int, status: str, cmd_name: str, outcome: Outcome) -> None:
    session.execute(
        update(InboundMessage)
        .where(InboundMessage.id == inbound_id)
        .values(
            status=status,
            outcome=outcome.outcome[:32],
            incident_id=outcome.incident_id,
            decisions=[
                {"command": cmd_name, "outcome": outcome.outcome},
                {"reply": outcome.reply.to_json()},
            ],
        )
    )


def handle(
    hub: Hub, channel: str, activity: dict, inbound_id: int, reply_route: dict | None = None
) -> Outcome:
    """Run the message's command and record the outcome; `reply_route` queues the reply too."""
    now = utcnow()
    policy = hub.policy
    sender = sender_of(activity)
    person = person_for(policy, sender)
    recipient = activity.get("recipient") if isinstance(activity.get("recipient"), dict) else {}
    text = activity.get("text") if isinstance(activity.get("text"), str) else ""
    cmd = parse(
        text,
        bot_names=[str(recipient.get("name") or "")],
        severities=list(policy.severities),
        services=_service_names(policy),
    )

    def run(session, ref=None) -> Outcome:
        ctx = Ctx(
            session=session,
            policy=policy,
            base_url=hub.settings.base_url,
            sender=sender,
            person=person,
            channel=channel,
            entities=activity.get("entities") or [],
            now=now,
            conversation=ref.key
            if ref
            else conversations.conversation_key(activity, sender, person),
        )
        return handlers.run(ctx, cmd)

    try:
        if reply_route is None and (cmd.error or cmd.name in READ_ONLY):
            # Nothing to write but the outcome: read without holding the writer's lock.
            with hub.db.session(write=False) as session:
                outcome = run(session)
            with hub.db.session() as session:
                _record(session, inbound_id, "processed", cmd.name, outcome)
            return outcome
        with hub.transaction() as session:
            ref = (
                conversations.remember(session, activity, sender, person, now)
                if (channel == "bot")
                else None
            )
            outcome = run(session, ref)
            if reply_route is not None:
                conversations.queue_reply(
                    session,
                    outcome.reply,
                    reply_route,
                    event=f"reply:{channel}:{inbound_id}",
                    now=now,
                )
            _record(session, inbound_id, "processed", cmd.name, outcome)
        return outcome
    except Exception:
        log.exception("teams %s message (inbound %s) failed", channel, inbound_id)
        failed = Outcome(
            Reply(
                f"Sorry, something went wrong with that message; it "
                f"was logged as inbound #{inbound_id}. Try again, or "
                "use the hub."
            ),
            "error",
        )
        with hub.transaction() as session:
            _record(session, inbound_id, "failed", cmd.name, failed)
            if reply_route is not None:
                conversations.queue_reply(
                    session,
                    failed.reply,
                    reply_route,
                    event=f"reply:{channel}:{inbound_id}",
                    now=now,
                )
        return failed


@dataclass(frozen=True)
class Received:
    """A message taken in: its inbound row (None for a duplicate) and the answer."""

    inbound_id: int | None
    outcome: Outcome


def receive(
    hub: Hub, channel: str, activity: dict, raw: bytes, reply_route: dict | None = None
) -> Received:
    """Store the raw message, then run it; a duplicate gets the first answer and runs nothing."""
    inbound_id, earlier = store_raw(hub, channel, activity, raw)
    if inbound_id is None:
        return Received(None, Outcome(earlier, "duplicate"))
    return Received(inbound_id, handle(hub, channel, activity, inbound_id, reply_route))


class _Race:
    """Whether the caller stopped waiting (late) or the work finished first (done)."""

    def __init__(self):
        self.lock = threading.Lock()
        self.late = self.done = False


def run_within(budget: float, work: Callable[[], T], on_late: Callable[[T], None]) -> T | None:
    """`work()` in the pool; its result if it ends within `budget` s, else None and `on_late` later."""
    race = _Race()

    def job() -> T:
        outcome = work()
        with race.lock:
            race.done = True
            late = race.late
        if late:
            try:
                on_late(outcome)
            except Exception:
                log.exception("could not queue a late Teams reply")
        return outcome

    future = _pool.submit(job)
    try:
        return future.result(timeout=max(budget, 0.01))
    except FutureTimeout:
        with race.lock:
            if not race.done:
                race.late = True
                return None
        return future.result()


def post_late(hub: Hub, activity: dict, received: Received, route: dict | None = None) -> None:
    """Send a result that missed the time limit through the outbox (bot, else pages webhook)."""
    inbound_id, outcome = received.inbound_id, received.outcome
    if inbound_id is None:  # a duplicate: the first delivery's answer went out already
        return
    with hub.transaction() as session:
        route = route or conversations.late_route(session, hub.policy, activity)
        if route is None:
            log.warning(
                "inbound %s: no Teams route for the late reply; it is in the hub", inbound_id
            )
            return
        conversations.queue_reply(
            session, outcome.reply, route, event=f"late:{inbound_id}", now=utcnow()
        )
