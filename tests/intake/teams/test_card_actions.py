"""The bot's cards in Teams, against the local Bot Framework fakes: an `Action.Execute` press
acknowledges as the person who pressed it and is answered with the refreshed card; the card
of the incident in each conversation is replaced in place (updateActivity), once per change."""

from __future__ import annotations

import itertools
import json

import pytest
import requests
from sqlalchemy import select

from hub.app.models import InboundMessage, Incident, Notification, Timer
from hub.app.settings import load_settings
from hub.channels.teams.cards import ADAPTIVE, BOT_ACTIONS, card_problems
from hub.channels.teams.transports import BotTransport
from hub.core.classify import Report
from hub.incidents import operations as ops
from hub.incidents.act import act
from hub.incidents.reports import create_incident
from hub.notifications import delivery
from hub.notifications.throttle import RateLimiter
from hub.testing.fakes.botframework import FakeBotFramework
from hub.testing.fakes.teams import FakeTeams
from tests.conftest import build_hub
from tests.workflow_kit import T0, minutes, mobilise_pending

APP_ID = "0c3a5d2e-1111-4222-8333-944455556666"
_ids = itertools.count(5000)


class Tokens:
    def token(self, scopes):
        return "bot-token"


@pytest.fixture(scope="module")
def botframework():
    from hub.intake.teams.jwt_auth import clear_cache

    fake = FakeBotFramework().start()
    yield fake
    clear_cache()
    fake.stop()


@pytest.fixture
def teams():
    with FakeTeams(bot_token="bot-token") as fake:
        yield fake


@pytest.fixture
def bhub(backend, example_policy, botframework, teams):
    hub = build_hub(
        backend,
        example_policy,
        HUB_BOT_APP_ID=APP_ID,
        HUB_BOT_OPENID_METADATA=botframework.metadata_url,
        HUB_BASE_URL="https://hub.example.com",
    )
    http = requests.Session()
    http.trust_env = False
    delivery.use_transport(
        "bot", BotTransport(load_settings(env={}), Tokens(), http, limiter=RateLimiter(50.0))
    )
    yield hub
    delivery.use_transport("bot", None)
    http.close()
    hub.db.dispose()


@pytest.fixture
def bclient(bhub):
    from hub import create_app

    return create_app({"TESTING": True}, hub=bhub).test_client()


def personal(policy, who: str, service_url: str, **doc) -> dict:
    """An activity from `who` in their one-to-one chat with the bot."""
    person = policy.people[who]
    return {
        "id": str(next(_ids)),
        "channelId": "msteams",
        "serviceUrl": service_url,
        "from": {"id": f"29:{who}", "name": person.name, "aadObjectId": person.aad_object_id},
        "conversation": {"id": f"a:1chat-{who}", "conversationType": "personal"},
        "channelData": {"tenant": {"id": "tenant-1"}},
        "recipient": {"id": "28:bot", "name": "MIHub"},
        **doc,
    }


def post(client, botframework, doc, service_url):
    token = botframework.mint(aud=APP_ID, service_url=service_url)
    return client.post(
        "/intake/bot",
        data=json.dumps(doc).encode(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )


def press(client, botframework, policy, who, url, incident, role, reply_to):
    """`who` presses Acknowledge on a card: the invoke Teams sends for Action.Execute."""
    value = {
        "action": {
            "type": "Action.Execute",
            "verb": "acknowledge",
            "data": {"incident": incident, "role": role},
        },
        "trigger": "manual",
    }
    doc = personal(policy, who, url, type="invoke", name="adaptiveCard/action", value=value)
    doc["replyToId"] = reply_to
    return post(client, botframework, doc, url)


def say_hello(client, botframework, policy, who, url):
    """The person opens a chat with the bot (its reference is stored)."""
    doc = personal(policy, who, url, type="message", text="help")
    assert post(client, botframework, doc, url).status_code == 200


def deliver_pending(hub) -> dict[int, str]:
    with hub.db.session(write=False) as s:
        ids = s.scalars(
            select(Notification.id)
            .where(Notification.status == "pending", Notification.channel == "bot")
            .order_by(Notification.id)
        ).all()
    return delivery.deliver_rows(hub, list(ids)) if ids else {}


def sev2(hub, now) -> int:
    report = Report(title="VPN gateway down", services=("vpn",), impact="outage", reporter="ivan")
    with hub.transaction() as session:
        incident, _ = create_incident(session, hub.policy, report, actor="ivan", now=now)
        assert incident.severity == "SEV2"
        iid = incident.id
    mobilise_pending(hub, iid)
    return iid


def actions(card) -> list[dict]:
    return card.get("actions") or []


def texts(card) -> str:
    return json.dumps(card["body"], ensure_ascii=False)


def test_pressing_acknowledge_acts_and_answers_with_the_refreshed_card(
    bhub, bclient, botframework, teams
):
    policy, url = bhub.policy, teams.url
    say_hello(bclient, botframework, policy, "anna", url)
    iid = sev2(bhub, T0)
    assert set(deliver_pending(bhub).values()) == {"sent"}
    (page,) = [
        d for d in teams.deliveries("bot", "a:1chat-anna") if d.card and "Page" in str(d.card)
    ]
    execute = [a for a in actions(page.card) if a["type"] == "Action.Execute"]
    assert execute == [
        {
            "type": "Action.Execute",
            "title": "Acknowledge",
            "verb": "acknowledge",
            "data": {"incident": f"INC-{iid}", "role": "major_incident_manager"},
        }
    ]
    assert not [a for a in actions(page.card) if a.get("title") == "Acknowledge" and "url" in a]

    # someone the escalation never paged presses the same kind of button: told, nothing changes
    say_hello(bclient, botframework, policy, "julia", url)
    r = press(
        bclient, botframework, policy, "julia", url, f"INC-{iid}", "major_incident_manager", "x"
    )
    assert r.status_code == 200 and r.get_json()["type"] == ADAPTIVE
    assert "⛔" in texts(r.get_json()["value"])

    r = press(
        bclient,
        botframework,
        policy,
        "anna",
        url,
        f"INC-{iid}",
        "major_incident_manager",
        page.activity_id,
    )
    assert r.status_code == 200
    answer = r.get_json()
    assert answer["statusCode"] == 200 and answer["type"] == ADAPTIVE
    card = answer["value"]
    assert card_problems(card, BOT_ACTIONS) == []
    assert "You acknowledged as Major Incident Manager" in texts(card)
    assert "Anna Schmidt — acknowledged" in texts(card)
    assert not [a for a in actions(card) if a["type"] == "Action.Execute"]
    with bhub.db.session(write=False) as s:
        incident = s.get(Incident, iid)
        assert incident.state == "mobilised"
        assert any(r.person == "anna" and r.acknowledged_at for r in incident.roles if r.active)
        steps = s.scalars(select(Timer).where(Timer.incident_id == iid, Timer.kind == "escalate"))
        assert {t.state for t in steps} == {"cancelled"}
        invokes = s.scalars(
            select(InboundMessage)
            .where(InboundMessage.channel == "bot")
            .order_by(InboundMessage.id)
        ).all()
        assert [i.outcome for i in invokes if i.decisions[0]["command"] == "card:acknowledge"] == [
            "refused",
            "acknowledged",
        ]

    # Teams retries the invoke: it acted once; the answer is the card as it is
    again = press(
        bclient,
        botframework,
        policy,
        "anna",
        url,
        f"INC-{iid}",
        "major_incident_manager",
        page.activity_id,
    )
    assert again.get_json()["type"] == ADAPTIVE
    with bhub.db.session(write=False) as s:
        acks = [e for e in s.get(Incident, iid).timeline if e.kind == "acknowledged"]
        assert len(acks) == 1


def test_the_card_in_each_chat_is_replaced_in_place_once_per_change(
    bhub, bclient, botframework, teams
):
    policy, url = bhub.policy, teams.url
    for who in ("anna", "felix"):
        say_hello(bclient, botframework, policy, who, url)
    iid = sev2(bhub, T0)
    deliver_pending(bhub)
    first = {
        conv: next(
            d
            for d in teams.deliveries("bot", conv)
            if "📟 Page" in json.dumps(d.card or {}, ensure_ascii=False)
        )
        for conv in ("a:1chat-anna", "a:1chat-felix")
    }
    assert all(teams.updates(conv) == [] for conv in first)

    def change(op, *args, actor, at):
        with bhub.transaction() as session:
            act(
                session,
                policy,
                iid,
                actor,
                op.__name__.replace("post_update", "update"),
                lambda i: op(session, policy, i, *args, actor=actor, now=at),
                now=at,
            )
        return deliver_pending(bhub)

    press(
        bclient,
        botframework,
        policy,
        "anna",
        url,
        f"INC-{iid}",
        "major_incident_manager",
        first["a:1chat-anna"].activity_id,
    )
    assert set(deliver_pending(bhub).values()) == {"sent"}
    change(
        ops.post_update, "Gateway replaced; tunnels coming back.", actor="felix", at=T0 + minutes(3)
    )
    change(ops.acknowledge, actor="felix", at=T0 + minutes(4))
    change(ops.acknowledge, actor="felix", at=T0 + minutes(5))  # nothing new: no update
    change(ops.resolve, "Gateway replaced.", actor="anna", at=T0 + minutes(9))

    for conv, posted in first.items():
        updates = teams.updates(conv)
        assert [u.activity_id for u in updates] == [posted.activity_id] * 4, conv
        shown = [texts(u.card) for u in updates]
        assert "Anna Schmidt — acknowledged" in shown[0]
        assert "Gateway replaced; tunnels coming back." in shown[1]
        assert "Felix" in shown[2] and shown[2].count("— acknowledged") == 2
        assert "resolved" in shown[3]
        assert not [a for a in actions(updates[3].card) if a["type"] == "Action.Execute"]
        now_shown = teams.message(conv, posted.activity_id)
        assert now_shown == updates[-1].body and "resolved" in json.dumps(now_shown)
        assert all(d.status != 429 for d in teams.deliveries(None, conv))
    # Felix's card offered him his own Acknowledge until he pressed it, then no more
    felix = [actions(u.card) for u in teams.updates("a:1chat-felix")]
    assert any(a["type"] == "Action.Execute" for a in felix[0] + felix[1])
    assert not any(a["type"] == "Action.Execute" for a in felix[2] + felix[3])


def test_a_subscribers_declaration_card_is_updated_in_place_and_updates_still_post(
    bhub, bclient, botframework, teams
):
    from hub.incidents.classification import classify_again

    policy, url, chat = bhub.policy, teams.url, "a:1chat-ivan"
    say_hello(bclient, botframework, policy, "ivan", url)
    report = Report(title="VPN slow", services=("vpn",), impact="degraded", reporter="ivan")
    with bhub.transaction() as session:
        incident, _ = create_incident(session, policy, report, actor="ivan", now=T0)
        assert not incident.major
        iid = incident.id
    doc = personal(policy, "ivan", url, type="message", text=f"subscribe INC-{iid}")
    assert post(bclient, botframework, doc, url).status_code == 200

    def run(action, op, actor, at):
        with bhub.transaction() as session:
            act(session, policy, iid, actor, action, lambda i: op(session, i, at), now=at)
        return deliver_pending(bhub)

    run(
        "classify",
        lambda s, i, at: classify_again(
            s, policy, i, "SEV2", "half the staff cannot connect", actor="anna", now=at
        ),
        "anna",
        T0 + minutes(1),
    )
    deliver_pending(bhub)  # the declaration, after the worker mobilised it
    (declared,) = [
        d
        for d in teams.deliveries("bot", chat)
        if "major incident declared" in json.dumps(d.card or {})
    ]
    assert teams.updates(chat) == []
    run(
        "acknowledge",
        lambda s, i, at: ops.acknowledge(s, policy, i, actor="anna", now=at),
        "anna",
        T0 + minutes(2),
    )
    run(
        "update",
        lambda s, i, at: ops.post_update(s, policy, i, "New gateway online.", actor="anna", now=at),
        "anna",
        T0 + minutes(3),
    )

    updates = teams.updates(chat)
    assert [u.activity_id for u in updates] == [declared.activity_id] * 2
    assert "Anna Schmidt — acknowledged" in texts(updates[0].card)
    assert "New gateway online." in texts(updates[1].card)
    posted = [
        d for d in teams.deliveries("bot", chat) if "New gateway online." in json.dumps(d.body)
    ]
    assert len(posted) == 1 and posted[0].activity_id != declared.activity_id  # its own message


def test_a_burst_of_changes_sends_only_the_newest_card(bhub, bclient, botframework, teams):
    policy, url = bhub.policy, teams.url
    say_hello(bclient, botframework, policy, "anna", url)
    iid = sev2(bhub, T0)
    deliver_pending(bhub)
    for n, at in enumerate((T0 + minutes(1), T0 + minutes(2), T0 + minutes(3))):
        with bhub.transaction() as session:
            act(
                session,
                policy,
                iid,
                "anna",
                "update",
                lambda i, n=n, at=at: ops.post_update(
                    session, policy, i, f"Status {n}", actor="anna", now=at
                ),
                now=at,
            )
    with bhub.db.session(write=False) as s:
        rows = s.scalars(
            select(Notification)
            .where(Notification.template == "incident-card")
            .order_by(Notification.id)
        ).all()
        assert [r.status for r in rows] == ["superseded", "superseded", "pending"]
    deliver_pending(bhub)
    (update,) = teams.updates("a:1chat-anna")
    assert "Status 2" in texts(update.card) and "Status 1" not in texts(update.card)
