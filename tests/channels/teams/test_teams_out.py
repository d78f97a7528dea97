"""Teams out: cards from templates/teams/, the webhook/bot/sink transports, the rate limiter."""

from __future__ import annotations

import json
import re
import threading
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import jinja2
import pytest
import requests

from hub.app.settings import SettingsError, load_settings
from hub.channels.base import PermanentError, Sent, TransientError, parse_retry_after, redact_url
from hub.channels.teams import cards
from hub.channels.teams.cards import (
    BOT_ACTIONS,
    MAX_BYTES,
    TRUNCATED,
    card_problems,
    check_size,
    envelope,
    md_escape,
    render_card,
    render_message,
    size_of,
    validate_card,
)
from hub.channels.teams.transports import (
    BOT_SCOPE,
    AutoTeamsTransport,
    BotTransport,
    TeamsSinkTransport,
    WebhookTransport,
    check_endpoint,
    make_teams_transport,
)
from hub.notifications.throttle import RateLimiter
from hub.testing.fakes.teams import FakeTeams
from hub.testing.harness import free_port

TEMPLATES = [
    "incident-declared",
    "page",
    "stakeholder-update",
    "no-change-update",
    "update-reminder",
    "escalation",
    "sla-warning",
    "sla-breach",
    "resolved",
    "alerts-resolved",
    "page-undeliverable",
]
MENTIONING = {"page", "update-reminder", "escalation", "alerts-resolved", "page-undeliverable"}
HOSTILE = (
    'Q"uo\'te \\back\\slash </at><at>Eve</at> {{ 7*7 }} {% raw %} "}]} \n- item\n'
    "1. one\n# head [click](javascript:alert(1)) **bold** _it_ <b>x</b> &lt;at&gt; `c`"
)
URLS = {
    "hub": "https://hub.example/incidents/INC-42",
    "bridge": "https://teams.example/l/meetup",
    "ack": "https://hub.example/incidents/INC-42/ack?t=abc",
}


def context(text: str = HOSTILE, big: str | None = None, mention: dict | None = None) -> dict:
    """The standard card context, every free-text field hostile."""
    big = text if big is None else big
    return {
        "incident": {
            "id": "INC-42",
            "title": text,
            "severity": "SEV1",
            "state": "investigating",
            "major": True,
            "services": ["Payroll", text],
            "reasons": [text, "critical service"],
            "summary": big,
            "url": URLS["hub"],
            "bridge_url": URLS["bridge"],
            "roles": [
                {
                    "role": "major_incident_manager",
                    "role_label": "Major Incident Manager",
                    "person": "anna",
                    "person_name": text,
                    "acknowledged": False,
                },
                {
                    "role": "tech_lead",
                    "role_label": "Technical Lead",
                    "person": "elif",
                    "person_name": "Elif Yilmaz",
                    "acknowledged": True,
                },
                {
                    "role": "communications_owner",
                    "role_label": "Communications Owner",
                    "person": None,
                    "person_name": None,
                    "acknowledged": False,
                },
            ],
            "created_at_local": "2026-11-27 14:30 CET",
        },
        "recipient": {"name": text, "email": "anna@example.com"},
        "mention": mention or {"name": "Anna Schmidt", "id": "anna.schmidt@northwind.example"},
        "update": {"text": big, "author_name": text, "at_local": "14:45 CET"},
        "next_update_at_local": "15:15 CET",
        "alerts": {"total": 37, "at_local": "10:42 CET"},
        "sla": {
            "kind": "ack",
            "label": "Acknowledge",
            "due_at_local": "14:35 CET",
            "percent": 80.4,
            "breached": False,
        },
        "page": {
            "role": "major_incident_manager",
            "role_label": "Major Incident Manager",
            "step": 2,
        },
        "policy_timezone": "Europe/Berlin",
        "hub_url": "https://hub.example",
        "ack_url": URLS["ack"],
        "unreachable": {
            "person_name": text,
            "role_label": "Technical Lead",
            "tried": [{"channel": "email", "to": "x@example.com", "reason": text, "line": text}],
        },
    }


def texts(node) -> list[str]:
    """Every string a person sees: TextBlock texts and fact titles/values."""
    found = []
    if isinstance(node, dict):
        if node.get("type") == "TextBlock":
            found.append(node["text"])
        if "title" in node and "value" in node:
            found += [node["title"], node["value"]]
        for value in node.values():
            found += texts(value)
    elif isinstance(node, list):
        for value in node:
            found += texts(value)
    return found


def actions(card: dict) -> list[dict]:
    return card.get("actions", []) + [
        a for e in card["body"] if e["type"] == "ActionSet" for a in e["actions"]
    ]


def md_unescape(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text)


# -- cards -------------------------------------------------------------------------------


@pytest.mark.parametrize("template", TEMPLATES)
def test_hostile_text_renders_a_valid_card(template):
    card = render_card(template, context())
    validate_card(card)
    assert card["version"] == "1.4" and card["type"] == "AdaptiveCard"
    assert card["msteams"]["width"] == "Full"
    shown = texts(card)
    assert any(md_unescape(t).endswith(HOSTILE) for t in shown), "title lost or mangled"
    for text in shown:  # no Markdown link can form, and no tag but ours survives
        assert "](" not in text and "<b>" not in text
    assert {a["type"] for a in actions(card)} == {"Action.OpenUrl"}
    assert {a["url"] for a in actions(card)} <= set(URLS.values())
    assert URLS["hub"] in {a["url"] for a in actions(card)}
    assert "javascript" not in json.dumps(actions(card))


@pytest.mark.parametrize("template", TEMPLATES)
def test_mentions_only_where_a_person_is_addressed(template):
    card = render_card(template, context())
    tags = [m for t in texts(card) for m in re.findall(r"(?<!\\)<at>.*?</at>", t)]
    entities = card["msteams"].get("entities", [])
    if template in MENTIONING:
        assert tags == ["<at>Anna Schmidt</at>"]
        assert entities == [
            {
                "type": "mention",
                "text": "<at>Anna Schmidt</at>",
                "mentioned": {"id": "anna.schmidt@northwind.example", "name": "Anna Schmidt"},
            }
        ]
    else:
        assert tags == [] and entities == []


def test_hostile_mention_name_still_matches_its_entity():
    ctx = context(mention={"name": "Eve</at><at>[x](y) *Mallory*", "id": "6f0b1c2e-0000"})
    card = render_card("page", ctx)
    validate_card(card)
    entity = card["msteams"]["entities"][0]
    assert (
        entity["text"] == "<at>Eve/atatxy Mallory</at>" == f"<at>{entity['mentioned']['name']}</at>"
    )
    assert any(entity["text"] in t for t in texts(card))


def test_page_without_mention_names_the_recipient_and_links_the_ack():
    ctx = context("Anna Schmidt")
    ctx["mention"] = None
    card = render_card("page", ctx)
    validate_card(card)
    assert "entities" not in card["msteams"]
    assert any(t.startswith("Anna Schmidt, you are paged") for t in texts(card))
    assert actions(card)[0] == {
        "type": "Action.OpenUrl",
        "title": "Acknowledge",
        "url": URLS["ack"],
    }


@pytest.mark.parametrize("template", ["stakeholder-update", "no-change-update"])
def test_updates_always_state_the_next_update(template):
    ctx = context("x")
    assert any("**Next update:** 15:15 CET" in t for t in texts(render_card(template, ctx)))
    ctx["next_update_at_local"] = None
    assert any(t.startswith("**Next update:**") for t in texts(render_card(template, ctx)))


def test_no_bridge_no_join_button_and_long_text_survives_render():
    ctx = context(big="y" * 10_000)
    ctx["incident"]["bridge_url"] = None
    card = render_card("incident-declared", ctx)
    assert [a["title"] for a in actions(card)] == ["Open in the hub"]
    assert "y" * 10_000 in texts(card)


@pytest.mark.parametrize(
    ("raw", "escaped"),
    [
        ("[a](b)", r"\[a\]\(b\)"),
        ("**b** _i_ ~s~ `c`", r"\*\*b\*\* \_i\_ \~s\~ \`c\`"),
        ("<at>X</at>", r"\<at\>X\</at\>"),
        ("a\\b", "a\\\\b"),
        ("- a\n+ b\n# c\n2. d\n  3. e", "\\- a\n\\+ b\n\\# c\n2\\. d\n  3\\. e"),
        ("INC-42 at 14.30, 5 - 3", "INC-42 at 14.30, 5 - 3"),
        ("crlf\r\nline", "crlf\nline"),
        (None, ""),
    ],
)
def test_md_escape(raw, escaped):
    assert md_escape(raw) == escaped
    if raw:
        assert md_unescape(escaped) == raw.replace("\r\n", "\n")


def test_tojson_keeps_unicode_and_survives_lone_surrogates():
    assert cards.tojson("Grüße </at> \u2028") == '"Grüße </at> \u2028"'
    assert json.loads(cards.tojson("bad \ud800 half")) == "bad ? half"


def test_template_errors_are_permanent_and_name_the_template(monkeypatch):
    ctx = context()
    del ctx["incident"]["severity"]
    with pytest.raises(PermanentError, match="incident-declared.json.j2"):
        render_card("incident-declared", ctx)
    loader = jinja2.DictLoader({"broken.json.j2": '{"type": {{ incident.id }}}'})
    monkeypatch.setattr(cards.ENV, "loader", jinja2.ChoiceLoader([loader, cards.ENV.loader]))
    with pytest.raises(PermanentError, match="broken.json.j2 produced invalid JSON"):
        render_card("broken", context())


@pytest.mark.parametrize(
    ("mutate", "problem"),
    [
        (lambda c: c.update(version="1.5"), "version"),
        (lambda c: c.update(type="MessageCard"), "AdaptiveCard"),
        (lambda c: c.update(body=[]), "body"),
        (lambda c: c["body"].append({"type": "Input.Text", "id": "x"}), "Input.Text"),
        (lambda c: c["actions"].append({"type": "Action.Submit", "title": "Ack"}), "Action.Submit"),
        (
            lambda c: c["actions"].append(
                {"type": "Action.OpenUrl", "title": "x", "url": "javascript:alert(1)"}
            ),
            "http(s) url",
        ),
        (lambda c: c["body"].append({"type": "Container", "items": [{"type": "Media"}]}), "Media"),
        (
            lambda c: c["msteams"].update(
                entities=[
                    {
                        "type": "mention",
                        "text": "<at>Bob</at>",
                        "mentioned": {"id": "b", "name": "Bob"},
                    }
                ]
            ),
            "Bob",
        ),
    ],
)
def test_validate_card_rejects(mutate, problem):
    card = render_card("resolved", context())
    assert card_problems(card) == []
    mutate(card)
    with pytest.raises(PermanentError, match=re.escape(problem)):
        validate_card(card)


def test_envelope_shape():
    card = render_card("resolved", context())
    assert envelope(card) == {
        "type": "message",
        "attachments": [
            {
                "contentType": "application/vnd.microsoft.card.adaptive",
                "contentUrl": None,
                "content": card,
            }
        ],
    }


def test_size_limit_cuts_long_texts_then_gives_up():
    small = envelope(render_card("resolved", context("x")))
    assert check_size(small) is small
    message = render_message("stakeholder-update", context(big="z" * 40_000))
    assert size_of(message) <= MAX_BYTES
    shown = texts(message["attachments"][0]["content"])
    assert any(t.endswith(TRUNCATED) for t in shown)
    validate_card(message["attachments"][0]["content"])
    crowded = context("x")  # 600 short facts: nothing long enough to cut
    crowded["incident"]["roles"] = [
        {
            "role": f"r{i}",
            "role_label": f"Role {i:04d} " + "r" * 40,
            "person": "p",
            "person_name": "n" * 40,
            "acknowledged": True,
        }
        for i in range(600)
    ]
    with pytest.raises(PermanentError, match="over the 27000-byte limit"):
        render_message("incident-declared", crowded)


# -- webhook transport against the fake, over real HTTP -----------------------------------


@pytest.fixture
def fake():
    server = FakeTeams(bot_token="bot-token").start()
    yield server
    server.stop()


@pytest.fixture
def session():
    with requests.Session() as s:
        s.trust_env = False
        yield s


@pytest.fixture
def webhook(session):
    return WebhookTransport(session, limiter=RateLimiter(4.0), timeout=5)


def message(text: str = "x") -> dict:
    return render_message("incident-declared", context(text))


def test_webhook_202_is_sent_and_the_card_arrives_intact(fake, webhook):
    sent = webhook.send({"url": fake.webhook_url("exec"), "envelope": message()})
    assert isinstance(sent, Sent) and sent.provider_id.startswith("08584")
    assert sent.detail.startswith("202")
    (delivery,) = fake.deliveries("webhook", "exec")
    assert not delivery.flow_failed and delivery.body == message()
    assert delivery.headers["content-type"].startswith("application/json")


def test_a_bare_card_fails_inside_the_flow_but_the_caller_sees_202(fake, session, webhook):
    card = render_card("resolved", context())
    answer = session.post(fake.webhook_url("exec"), json=card, timeout=5)
    assert answer.status_code == 202
    assert "bare Adaptive Card" in fake.failed_flows()[0].reason
    with pytest.raises(PermanentError, match="type: message"):  # ours never sends one
        webhook.send({"url": fake.webhook_url("exec"), "envelope": card})
    assert len(fake.deliveries()) == 1


def test_429_storm_honours_retry_after_without_a_tight_loop(fake, webhook):
    fake.fail_next("/webhook/storm", 429, times=1000, retry_after=30)
    url = fake.webhook_url("storm")
    errors = []
    for _ in range(50):
        with pytest.raises(TransientError) as caught:
            webhook.send({"url": url, "envelope": message()})
        errors.append(caught.value)
    assert errors[0].retry_after == 30
    assert all(e.retry_after is not None and 28 < e.retry_after <= 30 for e in errors)
    assert fake.recorder.count("/webhook/storm") == 1  # 49 retries stayed in the process


def test_after_429_the_next_send_waits_then_succeeds(fake, webhook):
    fake.fail_next("/webhook/ops", 429, times=1, retry_after=1)
    url, started = fake.webhook_url("ops"), time.monotonic()
    with pytest.raises(TransientError) as caught:
        webhook.send({"url": url, "envelope": message()})
    assert caught.value.retry_after == 1
    webhook.send({"url": url, "envelope": message()})  # blocks in the limiter, not the network
    assert time.monotonic() - started >= 0.95
    assert fake.recorder.count("/webhook/ops") == 2


@pytest.mark.parametrize(
    ("status", "retry_after", "error"),
    [
        (500, None, TransientError),
        (503, 7, TransientError),
        (408, None, TransientError),
        (400, None, PermanentError),
        (404, None, PermanentError),
        (413, None, PermanentError),
    ],
)
def test_webhook_status_mapping(fake, webhook, status, retry_after, error):
    fake.fail_next("/webhook/x", status, retry_after=retry_after, body="E" * 500)
    with pytest.raises(error) as caught:
        webhook.send({"url": fake.webhook_url("x"), "envelope": message()})
    assert caught.value.__class__ is error
    if error is PermanentError:
        assert "E" * 200 in str(caught.value) and "E" * 201 not in str(caught.value)
    else:
        assert getattr(caught.value, "retry_after", None) == retry_after


def test_closed_port_and_slow_answer_are_transient(fake, session):
    port = free_port()
    webhook = WebhookTransport(session, limiter=RateLimiter(100.0), timeout=0.3)
    with pytest.raises(TransientError, match="cannot connect"):
        webhook.send({"url": f"http://127.0.0.1:{port}/webhook/x", "envelope": message()})
    fake.slow(1.0)
    with pytest.raises(TransientError, match="timed out"):
        webhook.send({"url": fake.webhook_url("x"), "envelope": message()})
    fake.slow(0)


def test_fake_enforces_its_limits(fake, session):
    unlimited = WebhookTransport(session, limiter=RateLimiter(1000.0, burst=100))
    outcomes = []
    for _ in range(8):
        try:
            outcomes.append(unlimited.send({"url": fake.webhook_url("b"), "envelope": message()}))
        except TransientError as exc:
            outcomes.append(exc)
    assert any(isinstance(o, TransientError) and o.retry_after == 1 for o in outcomes)
    big = session.post(fake.webhook_url("c"), data=b"{" + b" " * 29_000 + b"}", timeout=5)
    assert big.status_code == 413


@pytest.mark.parametrize(
    ("url", "ok"),
    [
        ("https://prod-12.westeurope.logic.azure.com/workflows/x?sig=s", True),
        ("https://anything.example/any/path", True),
        ("http://127.0.0.1:9/webhook/x", True),
        ("http://localhost/x", True),
        ("http://[::1]:8/x", True),
        ("http://example.com/webhook", False),
        ("ftp://127.0.0.1/x", False),
        ("javascript:alert(1)", False),
        (None, False),
    ],
)
def test_https_required_except_loopback(url, ok):
    if ok:
        assert check_endpoint(url) == url
    else:
        with pytest.raises(PermanentError):
            check_endpoint(url)


def test_redact_url_hides_the_signature():
    url = "https://prod.logic.azure.com:443/workflows/abc/triggers/manual/paths/invoke?sig=SECRET"
    assert "SECRET" not in redact_url(url) and redact_url(url).startswith("https://prod.logic")


def test_rate_limit_holds_per_webhook_under_8_threads(fake, session):
    limiter = RateLimiter(4.0)
    webhook = WebhookTransport(session, limiter=limiter, timeout=5)
    jobs = [fake.webhook_url(name) for name in ("a", "b") for _ in range(10)]
    lock, failures = threading.Lock(), []

    def worker():
        while True:
            with lock:
                if not jobs:
                    return
                url = jobs.pop()
            try:
                webhook.send({"url": url, "envelope": message()})
            except Exception as exc:  # collected and asserted below
                failures.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    started = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert failures == []
    assert time.monotonic() - started < 4.4  # side by side: one after the other takes 4.5 s
    for name in ("a", "b"):
        stamps = sorted(d.at for d in fake.deliveries("webhook", name))
        assert len(stamps) == 10 and {d.status for d in fake.deliveries("webhook", name)} == {202}
        for i in range(len(stamps) - 4):  # no five inside one second
            assert stamps[i + 4] - stamps[i] >= 0.75, stamps  # arrival jitter on a busy box
        assert (len(stamps) - 1) / (stamps[-1] - stamps[0]) <= 4.2


# -- rate limiter and Retry-After ----------------------------------------------------------


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.now += seconds


def test_rate_limiter_bucket_with_injected_clock():
    clock = Clock()
    limiter = RateLimiter(2.0, burst=2, clock=clock, sleep=clock.sleep)
    assert limiter.try_acquire("k") == 0.0 and limiter.try_acquire("k") == 0.0
    assert limiter.try_acquire("k") == pytest.approx(0.5)
    assert limiter.delay_for("other") == 0.0  # keys are independent
    assert limiter.acquire("k") and clock.now == pytest.approx(100.5)
    limiter.block("k", 10)
    assert limiter.delay_for("k") == pytest.approx(10)
    assert not limiter.acquire("k", max_wait=1) and clock.now == pytest.approx(100.5)
    assert limiter.acquire("k", max_wait=11) and clock.now == pytest.approx(110.5)


def test_parse_retry_after():
    now = datetime(2026, 11, 27, 14, 0, tzinfo=UTC)
    assert parse_retry_after("5", now) == 5.0
    assert parse_retry_after(format_datetime(now + timedelta(seconds=30), usegmt=True), now) == 30
    assert parse_retry_after(format_datetime(now - timedelta(seconds=30), usegmt=True), now) == 0
    assert parse_retry_after("soon", now) is None and parse_retry_after(None) is None
    assert parse_retry_after("inf") is None and parse_retry_after("-3") == 0.0


# -- bot, sink, selection ------------------------------------------------------------------


class StubTokens:
    def __init__(self, *tokens):
        self.tokens, self.scopes, self.invalidated = list(tokens), [], 0

    def token(self, scopes):
        self.scopes.append(scopes)
        return self.tokens[0]

    def invalidate(self):
        self.invalidated += 1
        self.tokens.pop(0)


def test_bot_posts_the_activity_with_a_bearer_token(fake, session):
    tokens = StubTokens("bot-token")
    bot = BotTransport(load_settings(env={}), tokens, session, limiter=RateLimiter(10.0))
    conversation = "19:abc@thread.tacv2;messageid=1700000000000"
    sent = bot.send(
        {"service_url": fake.service_url, "conversation_id": conversation, "activity": message()}
    )
    assert sent.provider_id.startswith("1:") and sent.detail == "201"
    assert tokens.scopes == [[BOT_SCOPE]]
    (delivery,) = fake.deliveries("bot", conversation)
    assert delivery.body == message()


def test_bot_refreshes_a_rejected_token_once_then_fails_permanently(fake, session):
    settings = load_settings(env={})
    bot = BotTransport(settings, StubTokens("stale", "bot-token"), session)
    payload = {"service_url": fake.service_url, "conversation_id": "a:1", "activity": message()}
    assert bot.send(payload).provider_id
    tokens = StubTokens("wrong", "still-wrong")
    with pytest.raises(PermanentError, match="401"):
        BotTransport(settings, tokens, session).send(payload)
    assert tokens.invalidated == 1 and len(fake.deliveries("bot", "a:1")) == 4


def test_sink_writes_one_file_per_card(tmp_path):
    sink = TeamsSinkTransport(tmp_path)
    url = "https://prod.logic.azure.com/workflows/abc?sig=SECRET"
    names = [sink.send({"url": url, "envelope": message(str(i))}).provider_id for i in range(3)]
    files = sorted(p.name for p in (tmp_path / "sinks" / "teams").iterdir())
    assert files == sorted(names) and len(set(names)) == 3
    record = json.loads((tmp_path / "sinks" / "teams" / names[0]).read_text("utf-8"))
    assert record["envelope"] == message("0") and "SECRET" not in json.dumps(record)
    with pytest.raises(PermanentError):
        sink.send({"url": url, "envelope": {"type": "AdaptiveCard"}})


def test_make_teams_transport(tmp_path, fake):
    def make(mode, channel="teams", **kwargs):
        env = {"HUB_TEAMS_TRANSPORT": mode, "HUB_DATA_DIR": str(tmp_path)}
        return make_teams_transport(load_settings(env=env), channel, **kwargs)

    assert isinstance(make("sink"), TeamsSinkTransport)
    assert isinstance(make("webhook"), WebhookTransport)
    auto = make("auto")
    assert isinstance(auto, AutoTeamsTransport)
    assert auto.send({"url": None, "envelope": message()}).detail == "written to sink"
    assert auto.send({"url": fake.webhook_url("auto"), "envelope": message()}).detail[:3] == "202"
    assert isinstance(make("auto", "bot"), TeamsSinkTransport)
    assert isinstance(make("webhook", "bot", token_source=StubTokens("t")), BotTransport)
    with pytest.raises(SettingsError):
        make("webhook", "bot")
    with pytest.raises(SettingsError):
        make("carrier-pigeon")


@pytest.mark.parametrize("template", ["incident-card", "page", "escalation"])
def test_bot_cards_escape_hostile_text_and_press_execute(template):
    ctx = dict(context(), via_bot=True, notice=HOSTILE)
    ctx["page"] = ctx["viewer"] = {
        "role": "major_incident_manager",
        "role_label": "Major Incident Manager",
        "step": 2,
        "action": "take-over",
    }
    card = render_card(template, ctx)
    validate_card(card, BOT_ACTIONS)
    with pytest.raises(PermanentError, match="Action.Execute"):
        validate_card(card)  # never on a webhook
    for text in texts(card):
        assert "](" not in text and "<b>" not in text
    (execute,) = [a for a in actions(card) if a["type"] == "Action.Execute"]
    assert execute == {
        "type": "Action.Execute",
        "title": "Take over",
        "verb": "acknowledge",
        "data": {"incident": "INC-42", "role": "major_incident_manager"},
    }
    assert URLS["ack"] not in json.dumps(card)  # the bot's card acts in Teams, not by link


def test_page_card_lists_the_roles_checklist_and_task_late_card():
    page = {
        "role": "tech_lead",
        "role_label": "Technical Lead",
        "step": None,
        "tasks": [
            {"n": 3, "text": HOSTILE, "due_local": "14:50 CET", "url": None},
            {"n": 4, "text": "Payroll: check the ADP job", "due_local": None, "url": "https://x"},
        ],
        "tasks_url": URLS["hub"] + "#tasks",
    }
    card = render_card("page", {**context(), "page": page})
    validate_card(card)
    shown = "\n".join(texts(card))
    assert "done INC-42 N" in shown and "4. Payroll: check the ADP job" in shown
    assert "3. " in shown and "(by 14:50 CET)" in shown
    assert "](" not in shown and "<b>" not in shown
    task = {"n": 3, "role_label": "Technical Lead", "text": HOSTILE, "due_local": "14:50 CET"}
    late = render_card("task-late", {**context(), "task": task})
    validate_card(late)
    shown = "\n".join(texts(late))
    assert "Task 3 is late (due 14:50 CET)" in shown and "done INC-42 3" in shown
    assert "](" not in shown and "<b>" not in shown
    assert {a["url"] for a in actions(late)} <= set(URLS.values())
