"""A subscriber who leaves while their notices wait in the outbox gets none of them, on any
channel: a Teams subscription's bot message and mail, a Teams `subscribe INC-42` follower's.

Real transports: SMTP to an aiosmtpd sink, the bot's connector and the channel webhooks to the
Teams fake, all on 127.0.0.1 (only the bot's access token is a stub).
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import requests
from sqlalchemy import select
from workflow_kit import act, declare

from hub import create_app
from hub.app.models import ConversationRef, Notification, Subscription
from hub.channels.email.transports import make_mail_transport
from hub.channels.teams.transports import BotTransport, RateLimiter, make_teams_transport
from hub.incidents import operations as ops
from hub.incidents.records import get_incident
from hub.intake.teams import conversations
from hub.notifications import delivery
from hub.notifications.delivery_report import event_of
from hub.policy.load import load_policy
from hub.subscriptions import service as subs
from hub.testing.fakes.smtp_sink import SmtpSink
from hub.testing.fakes.teams import FakeTeams
from tests.conftest import EXAMPLE_POLICY, build_hub
from tests.web_kit import sign_in

pytestmark = pytest.mark.usefixtures("no_internet")
JULIA, IVAN = "julia.costa@northwind.example", "ivan.petrov@northwind.example"
CHATS = {"julia": "a:julia-chat", "ivan": "a:ivan-chat"}


class StubTokens:
    """The bot's access token (the only part not on the wire)."""

    def token(self, scopes):
        return "bot-token"

    def invalidate(self):
        pass


@pytest.fixture
def wired(backend):
    """A hub whose mail goes to an SMTP sink and whose Teams posts go to the Teams fake, with
    bot chats for Julia and Ivan."""
    sink, teams = SmtpSink().start(), FakeTeams(bot_token="bot-token").start()
    hooks = {
        name: teams.webhook_url(name.lower())
        for name in ("TEAMS_EXEC_WEBHOOK", "TEAMS_IT_WEBHOOK", "TEAMS_SERVICEDESK_WEBHOOK")
    }
    the_hub = build_hub(
        backend,
        load_policy(EXAMPLE_POLICY, env=hooks),
        HUB_MAIL_TRANSPORT="smtp",
        HUB_SMTP_URL=sink.url,
        HUB_MAIL_FROM="Major Incident Hub <hub@northwind.example>",
        HUB_TEAMS_TRANSPORT="webhook",
    )
    web = requests.Session()
    made = {
        "email": make_mail_transport(the_hub.settings),
        "teams": make_teams_transport(the_hub.settings, "teams", session=web),
        "bot": BotTransport(the_hub.settings, StubTokens(), web, limiter=RateLimiter(100.0)),
    }
    for kind, transport in made.items():
        delivery.use_transport(kind, transport)
    with the_hub.db.session() as session:
        for person, chat in CHATS.items():
            session.add(
                ConversationRef(key=person, service_url=teams.service_url, conversation_id=chat)
            )
    try:
        yield the_hub, sink, teams
    finally:
        made["email"].close()
        for kind in made:
            delivery.use_transport(kind, None)
        web.close()
        sink.stop()
        teams.stop()
        the_hub.db.dispose()


def _rows(hub, iid: int, template: str, person: str) -> list[Notification]:
    with hub.db.session(write=False) as session:
        return session.scalars(
            select(Notification)
            .where(
                Notification.incident_id == iid,
                Notification.template == template,
                Notification.person == person,
                Notification.audience == "subscribers",
            )
            .order_by(Notification.id)
        ).all()


def _mailed(sink, address: str) -> list:
    return [m for m in sink.messages if address in m.rcpt_tos]


def _bot_posts(teams, person: str) -> list:
    return teams.deliveries("bot", CHATS[person])


def _deliver_all(hub, rows) -> dict[int, str]:
    return delivery.deliver_rows(hub, [r.id for r in rows], datetime.now(UTC))


def _only_ivan_hears_it(hub, sink, teams, gone: list, kept: list) -> None:
    """Deliver the waiting rows: Julia's (she left) are not sent, Ivan's go out by mail and bot."""
    outcomes = _deliver_all(hub, gone + kept)
    assert [outcomes[r.id] for r in gone] == ["unsubscribed", "unsubscribed"]
    assert [outcomes[r.id] for r in kept] == ["sent", "sent"]
    assert _mailed(sink, JULIA) == [] and _bot_posts(teams, "julia") == []
    assert len(_mailed(sink, IVAN)) == 1 and len(_bot_posts(teams, "ivan")) == 1


def test_a_teams_subscriber_who_left_gets_neither_the_bot_message_nor_the_mail(wired):
    hub, sink, teams = wired
    now = datetime.now(UTC)
    with hub.transaction() as session:  # `subscribe payroll` in the bot chat, both of them
        leaving, _ = subs.subscribe_person(
            session, hub.policy, "julia", "service:payroll", "teams", "teams", now
        )
        subs.subscribe_person(session, hub.policy, "ivan", "service:payroll", "teams", "teams", now)
    iid = declare(hub, now=now)
    act(hub, iid, ops.post_update, "Failover to the standby", actor="anna", now=now)
    gone = _rows(hub, iid, "stakeholder-update", "julia")
    kept = _rows(hub, iid, "stakeholder-update", "ivan")
    assert sorted(r.channel for r in gone) == sorted(r.channel for r in kept) == ["bot", "email"]
    assert {r.status for r in gone + kept} == {"pending"}  # queued while both were subscribed
    with hub.transaction() as session:  # she unsubscribes while they wait
        assert subs.end(session.get(Subscription, leaving.id), datetime.now(UTC))

    _only_ivan_hears_it(hub, sink, teams, gone, kept)
    after = _rows(hub, iid, "stakeholder-update", "julia")
    assert {(r.status, r.last_error, r.sent_at) for r in after} == {
        ("skipped", "unsubscribed", None)
    }
    # the room's delivery summary and the recipients page say why, not "sent"
    client = create_app({"TESTING": True}, hub=hub).test_client()
    sign_in(client, hub, "anna")
    room = client.get(f"/incidents/INC-{iid}").get_data(as_text=True)
    assert "2 not sent (unsubscribed)" in room
    listing = client.get(
        f"/incidents/INC-{iid}/deliveries",
        query_string={"event": event_of(gone[0].key), "audience": "subscribers"},
    ).get_data(as_text=True)
    julia = [line for line in listing.split("<tr>") if ">julia<" in line.lower() or JULIA in line]
    assert len(julia) == 2, julia
    assert all("unsubscribed" in line and "status-skipped" in line for line in julia), julia
    assert all("status-sent" not in line for line in julia)


def test_someone_who_unfollowed_an_incident_in_teams_gets_nothing_more_of_it(wired):
    hub, sink, teams = wired
    now = datetime.now(UTC)
    iid = declare(hub, now=now)
    with hub.transaction() as session:  # `subscribe INC-n` in the bot chat
        incident = get_incident(session, iid)
        for person in ("julia", "ivan"):
            assert conversations.subscribe(
                session,
                hub.policy,
                incident,
                person=person,
                conversation=CHATS[person],
                channel="msteams",
                now=now,
            )
    act(hub, iid, ops.post_update, "Failover to the standby", actor="anna", now=now)
    gone = _rows(hub, iid, "stakeholder-update", "julia")
    kept = _rows(hub, iid, "stakeholder-update", "ivan")
    assert sorted(r.channel for r in gone) == ["bot", "email"] and len(kept) == 2
    with hub.transaction() as session:  # `unsubscribe INC-n` while they wait
        incident = get_incident(session, iid, lock=True)
        assert conversations.unsubscribe(
            session, hub.policy, incident, person="julia", now=datetime.now(UTC)
        )

    _only_ivan_hears_it(hub, sink, teams, gone, kept)
    after = _rows(hub, iid, "stakeholder-update", "julia")
    assert {(r.status, r.last_error) for r in after} == {("skipped", "unsubscribed")}
