"""Delivery people can see: per-update counts, failures, expected finish; audience mail in BCC
batches (Graph) or one envelope (SMTP); the MIM told when a page reached its person nowhere.

Real transports where it matters: the Graph fake with Exchange's message rate limit, the
aiosmtpd sink slowed like a relay that queues each message durably, and refusing one address.
"""

from __future__ import annotations

import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest
from sqlalchemy import or_, select
from workflow_kit import T0, act, declare, notes

from hub.app.context import Hub
from hub.app.models import Notification
from hub.channels.base import PermanentError
from hub.incidents import operations as ops
from hub.incidents import undeliverable
from hub.intake.email.bounces import apply_bounce
from hub.intake.email.dsn import Bounce
from hub.notifications import batches, delivery, priority
from hub.notifications.delivery_report import Queue, short_reason, summarize
from hub.notifications.suppression import suppress
from hub.policy.load import load_policy
from hub.testing.fakes.microsoft import FakeMicrosoft
from hub.testing.fakes.smtp_sink import SmtpSink
from tests.conftest import EXAMPLE_POLICY, build_hub
from tests.notifications.test_outbox import transports  # noqa: F401 (a fixture)
from tests.web_kit import sign_in

pytestmark = pytest.mark.usefixtures("no_internet")
SQLITE = pytest.mark.parametrize("backend", ["sqlite"], indirect=True)


def _row(i, status, *, audience="executives", at=T0, sent=None, error=None, key=None, **kw):
    return SimpleNamespace(
        id=i,
        key=key or f"update:INC-1:7|p{i}@example.com|email",
        template="stakeholder-update",
        channel="email",
        status=status,
        audience=audience,
        created_at=at,
        sent_at=sent,
        last_error=error,
        batch_id=kw.get("batch_id"),
        next_attempt_at=kw.get("next_attempt_at"),
    )


def _clock(dt):
    return dt.strftime("%H:%M:%S")


def test_summary_counts_reasons_and_time():
    rows = [_row(i, "sent", sent=T0 + timedelta(seconds=i)) for i in range(1, 42)]
    rows.append(_row(50, "failed", error="SMTP recipient refused: a@x: 552 5.2.2 Mailbox full"))
    rows.append(_row(51, "failed", error="SMTP recipient refused: b@x: 552 5.2.2 Mailbox full"))
    rows.append(_row(52, "superseded"))  # replaced before it went: not counted
    [event] = summarize(rows, T0 + timedelta(minutes=5))
    [execs] = event.audiences
    assert (execs.total, execs.delivered, execs.failed, execs.pending) == (43, 41, 2, 0)
    assert execs.line(_clock) == (
        "Executives: 41 of 43 delivered in 41 s, 2 failed (Mailbox full), 0 pending"
    )
    assert not execs.late and execs.expected_finish_at is None


def test_a_throttled_queue_shows_its_expected_finish():
    now = T0 + timedelta(seconds=10)
    batch_key = "update:INC-1:7|batch:executives:abc|email"
    rows = [
        _row(1, "sent", key=batch_key.replace("abc", "one"), sent=T0 + timedelta(seconds=1)),
        _row(2, "pending", key=batch_key),
        _row(3, "pending", key=batch_key.replace("abc", "def")),
    ]
    members = [_row(10 + i, batches.BATCHED, batch_id=2 + i % 2) for i in range(6)]
    members += [_row(20 + i, "sent", batch_id=1, sent=T0 + timedelta(seconds=1)) for i in range(3)]
    limit = "Graph: 30 messages a minute per mailbox"
    queues = {2: Queue(0, 0.5, limit), 3: Queue(7, 0.5, limit)}  # 7 ahead, mine the last
    [execs] = summarize(rows + members, now, queues)[0].audiences
    assert (execs.total, execs.delivered, execs.pending, execs.messages_pending) == (9, 3, 6, 2)
    assert execs.throttled and execs.expected_finish_at == now + timedelta(seconds=14)
    assert execs.line(_clock) == (
        "Executives: 3 of 9 delivered so far, 0 failed, 6 pending; expected to finish at "
        "09:00:24 (Graph: 30 messages a minute per mailbox)"
    )


def test_a_late_delivery_without_a_limit_goes_by_its_own_pace():
    start = T0
    now = T0 + timedelta(minutes=3)
    rows = [_row(i, "sent", at=start, sent=now - timedelta(seconds=10 - i)) for i in range(1, 6)]
    rows += [_row(i, "pending", at=start) for i in range(6, 11)]  # 5 more at 1 s each
    [execs] = summarize(rows, now)[0].audiences
    assert execs.late and not execs.throttled
    assert execs.expected_finish_at == now + timedelta(seconds=5)
    assert "expected to finish at 09:03:05" in execs.line(_clock)


@pytest.mark.parametrize(
    ("error", "status", "said"),
    [
        ("SMTP recipient refused: a@x: 552 5.2.2 Mailbox full", "failed", "Mailbox full"),
        ("refused: 550 5.1.1 no such user", "failed", "no such user"),
        ("Graph sendMail 400: ErrorInvalidRecipients: bad", "failed", "Graph sendMail 400: Erro"),
        (None, "suppressed", "address suppressed after a bounce"),
    ],
)
def test_short_reasons(error, status, said):
    assert short_reason(error, status).startswith(said)


# -- real transports ---------------------------------------------------------------------------


def _audience_hub(backend, tmp_path, n: int, **settings) -> Hub:
    """A hub whose executives are `n` addresses (a group expanded per person, or a long list)."""
    text = EXAMPLE_POLICY.read_text()
    people = ", ".join(f"p{i:05d}@northwind.example" for i in range(n))
    text = text.replace("email: [exec-team@northwind.example]", f"email: [{people}]")
    path = tmp_path / "policy.yaml"
    path.write_text(text)
    return build_hub(
        backend,
        load_policy(path, env={}),
        HUB_POLICY=str(path),
        HUB_MAIL_FROM="Major Incident Hub <hub@northwind.example>",
        HUB_TEAMS_TRANSPORT="sink",
        **settings,
    )


def _forget_transport(the_hub) -> None:
    """Close the process's mail transport (its pooled connections) and forget it."""
    delivery.transport_for(the_hub.settings, "email").close()
    delivery.use_transport("email", None)
    the_hub.db.dispose()


def _update(the_hub, now) -> tuple[int, str]:
    iid = declare(the_hub, now=now)
    entry = act(the_hub, iid, ops.post_update, "Rolled back the release", actor="anna", now=now)
    return iid, f"update:INC-{iid}:{entry.id}"


def _api(the_hub, iid, event):
    from hub import create_app
    from hub.http.auth import create_token

    with the_hub.db.session() as session:
        token = create_token(session, the_hub.policy, "anna", "test")
    client = create_app({"TESTING": True}, hub=the_hub).test_client()
    doc = client.get(f"/api/v1/incidents/INC-{iid}", headers={"Authorization": f"Bearer {token}"})
    assert doc.status_code == 200
    found = [e for e in doc.get_json()["deliveries"] if e["event"] == event]
    return {a["audience"]: a for a in found[0]["audiences"]}


def _units(the_hub, iid, event):
    """The update's email messages to send (batches and single rows), in order."""
    with the_hub.db.session(write=False) as session:
        rows = session.scalars(
            select(Notification)
            .where(
                Notification.incident_id == iid,
                Notification.channel == "email",
                Notification.status == "pending",
                Notification.key.startswith(event + "|"),
            )
            .order_by(Notification.id)
        ).all()
    return [r.id for r in rows]


@SQLITE
def test_graph_sends_an_audience_in_bcc_batches_and_shows_the_throttled_queue(backend, tmp_path):
    fake = FakeMicrosoft(tenant="t1", clients={"c1": "s1"}).start()
    mailbox = f"hub-{uuid.uuid4().hex[:8]}@northwind.example"
    the_hub = _audience_hub(
        backend,
        tmp_path,
        120,
        HUB_MAIL_TRANSPORT="graph",
        HUB_AUTHORITY_HOST=fake.url,
        HUB_GRAPH_API=f"{fake.url}/v1.0",
        HUB_GRAPH_TENANT_ID="t1",
        HUB_GRAPH_CLIENT_ID="c1",
        HUB_GRAPH_CLIENT_SECRET="s1",
        HUB_GRAPH_MAILBOX=mailbox,
        HUB_GRAPH_BCC_BATCH="50",
        HUB_GRAPH_SEND_PER_MINUTE="30",
    )
    try:
        iid, event = _update(the_hub, datetime.now(UTC))
        mine = [u for u in _units(the_hub, iid, event) if u not in _units_of_others(the_hub, iid)]
        queue = _mailbox_queue(the_hub)  # every message waiting for the mailbox, in order
        ahead = queue.index(max(mine)) + 1  # the declaration's and the pages' mail go first
        before = datetime.now(UTC)
        execs = _api(the_hub, iid, event)["executives"]
        after = datetime.now(UTC)
        # 120 addresses in 3 messages (50, 50, 20), the last after `ahead` at 30 a minute
        assert (execs["total"], execs["pending"], execs["messages"]) == (120, 120, 3)
        assert execs["throttled"] and execs["limit"] == "Graph: 30 messages a minute per mailbox"
        finish = datetime.fromisoformat(execs["expected_finish_at"])
        wait = timedelta(seconds=2 * ahead)
        assert before + wait - timedelta(seconds=1) <= finish <= after + wait + timedelta(seconds=1)
        assert "expected to finish at" in execs["summary"]

        # Exchange's limit in the fake lets all but the last message through; the hub is told
        # to send faster than that, so the fake answers 429 with a Retry-After
        fake.throttle_mail(len(queue) - 1)
        the_hub.settings.values["HUB_GRAPH_SEND_PER_MINUTE"] = "6000"
        others = [q for q in queue if q not in mine]
        assert set(delivery.deliver_rows(the_hub, others).values()) == {"sent"}
        outcomes = [delivery.deliver_now(the_hub, u) for u in sorted(mine)]
        assert outcomes == ["sent", "sent", "retry"]
        assert fake.throttled == 1
        bcc = [len(r["message"]["Bcc"].addresses) for r in fake.sent if "Bcc" in r["message"]]
        assert sorted(bcc) == [20, 50, 50, 50, 50]  # the declaration's 3, the update's first 2
        assert all(
            r["message"]["To"].addresses[0].username == "hub"
            for r in fake.sent
            if "Bcc" in r["message"]
        )
        execs = _api(the_hub, iid, event)["executives"]
        assert (execs["delivered"], execs["failed"], execs["pending"]) == (100, 0, 20)
        assert execs["summary"].startswith("Executives: 100 of 120 delivered so far, 0 failed, 20")
        with the_hub.db.session(write=False) as session:
            retry_at = session.get(Notification, max(mine)).next_attempt_at
        finish = datetime.fromisoformat(execs["expected_finish_at"])
        # the provider said when: nothing goes before its Retry-After, then one message
        assert retry_at - timedelta(seconds=1) <= finish <= retry_at + timedelta(seconds=1)
        assert execs["throttled"] and retry_at > datetime.now(UTC) + timedelta(seconds=50)
    finally:
        _forget_transport(the_hub)
        fake.stop()


def _units_of_others(the_hub, iid):
    """The incident's rows that are not the executives' (other audiences, people)."""
    with the_hub.db.session(write=False) as session:
        return set(
            session.scalars(
                select(Notification.id).where(
                    Notification.incident_id == iid,
                    or_(Notification.audience.is_(None), Notification.audience != "executives"),
                )
            )
        )


def _mailbox_queue(the_hub) -> list[int]:
    """Every email message waiting (not a batch's member), in delivery order."""
    with the_hub.db.session(write=False) as session:
        rows = session.execute(
            select(Notification.id, Notification.template, Notification.key).where(
                Notification.channel == "email",
                Notification.status == "pending",
                or_(Notification.batch_id.is_(None), Notification.key.contains("|batch:")),
            )
        ).all()
    return [i for _, i in sorted((priority.rank(t), i) for i, t, _ in rows)]


@SQLITE
def test_a_slow_relay_shows_counts_and_a_finish_that_holds(backend, tmp_path):
    sink = SmtpSink(accept_delay=0.15).start()
    sink.reject["p00003@northwind.example"] = "552 5.2.2 Mailbox full"
    the_hub = _audience_hub(
        backend,
        tmp_path,
        16,
        HUB_MAIL_TRANSPORT="smtp",
        HUB_SMTP_URL=sink.url,
        HUB_SMTP_CONNECTIONS="1",
    )
    try:
        # the update was posted two minutes ago: late, so its expected finish is shown
        now = datetime.now(UTC) - timedelta(minutes=2)
        iid, event = _update(the_hub, now)
        mine = [u for u in _units(the_hub, iid, event) if u not in _units_of_others(the_hub, iid)]
        assert len(mine) == 16  # one message per address (HUB_SMTP_BATCH=1)
        done = threading.Thread(target=delivery.deliver_rows, args=(the_hub, mine))
        done.start()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            execs = _api(the_hub, iid, event)["executives"]
            if execs["delivered"] >= 5:
                break
            time.sleep(0.05)
        received = len(sink.messages)
        assert execs["delivered"] <= received  # counted only once the relay said 250
        assert execs["total"] == 16
        assert execs["delivered"] + execs["failed"] + execs["pending"] == 16
        assert execs["late"] and "expected to finish at" in execs["summary"]
        estimate = datetime.fromisoformat(execs["expected_finish_at"])
        done.join(30)
        execs = _api(the_hub, iid, event)["executives"]
        assert (execs["delivered"], execs["failed"], execs["pending"]) == (15, 1, 0)
        assert execs["reasons"] == [{"reason": "Mailbox full", "count": 1}]
        assert ", 1 failed (Mailbox full), 0 pending" in execs["summary"]
        finished = datetime.fromisoformat(execs["last_sent_at"])
        # the estimate from the pace so far (0.15 s a message here) holds: within the rounding of
        # two whole-second times, and the pace of the 11 messages left doubling on a busy machine
        assert abs((finished - estimate).total_seconds()) <= 1.0 + 11 * 0.15
    finally:
        _forget_transport(the_hub)
        sink.stop()


@SQLITE
def test_an_smtp_batch_fails_only_the_refused_address(backend, tmp_path):
    sink = SmtpSink().start()
    sink.reject["p00002@northwind.example"] = "552 5.2.2 Mailbox full"
    the_hub = _audience_hub(
        backend, tmp_path, 12, HUB_MAIL_TRANSPORT="smtp", HUB_SMTP_URL=sink.url, HUB_SMTP_BATCH="5"
    )
    try:
        iid, event = _update(the_hub, datetime.now(UTC))
        mine = [u for u in _units(the_hub, iid, event) if u not in _units_of_others(the_hub, iid)]
        assert len(mine) == 3  # 5 + 5 + 2 addresses
        assert set(delivery.deliver_rows(the_hub, mine).values()) == {"sent"}
        envelopes = sorted(len(m.rcpt_tos) for m in sink.messages if m.rcpt_tos[0].startswith("p0"))
        assert envelopes == [2, 4, 5]  # the refused address was left out of its envelope
        assert all("Bcc" not in m.message() for m in sink.messages)  # never in the headers
        execs = _api(the_hub, iid, event)["executives"]
        assert (execs["delivered"], execs["failed"], execs["pending"]) == (11, 1, 0)
        with the_hub.db.session(write=False) as session:
            failed = session.scalars(
                select(Notification).where(
                    Notification.status == "failed", Notification.incident_id == iid
                )
            ).all()
        assert [(r.recipient, r.last_error) for r in failed] == [
            ("p00002@northwind.example", "refused: 552 5.2.2 Mailbox full")
        ]
        # a later bounce to the batch's signed return path fails only the address it names
        envelope = next(m for m in sink.messages if "p00004@northwind.example" in m.rcpt_tos)
        bounce = Bounce("dsn", ["p00004@northwind.example"], "5.1.1", diagnostic="user unknown")
        with the_hub.transaction() as session:
            said = apply_bounce(
                session, the_hub.settings, bounce, [envelope.mail_from], None, datetime.now(UTC)
            )
        assert "p00004@northwind.example marked failed" in said and "suppressed" in said
        execs = _api(the_hub, iid, event)["executives"]
        assert (execs["delivered"], execs["failed"]) == (10, 2)
        # notified again (the same event): nothing new is written, no batch, no message
        with the_hub.transaction() as session:
            from hub.incidents.mobilisation import send_to_stakeholders
            from hub.incidents.records import get_incident

            incident = get_incident(session, iid)
            assert (
                send_to_stakeholders(
                    session,
                    the_hub.policy,
                    incident,
                    "stakeholder-update",
                    event,
                    datetime.now(UTC),
                )
                == 0
            )
    finally:
        _forget_transport(the_hub)
        sink.stop()


# -- a page that reached nobody ------------------------------------------------------------


def test_an_undeliverable_page_tells_the_mim(wired, transports):  # noqa: F811
    with wired.transaction() as session:  # elif's address bounced before
        suppress(session, "elif.yilmaz@northwind.example", "5.1.1", "gone", None, T0)
    iid = declare(wired)
    page = notes(wired, iid, template="page", person="elif")
    assert sorted(r.status for r in page) == ["pending", "suppressed"]
    teams = next(r for r in page if r.status == "pending")
    transports["teams"].answers = [PermanentError("Teams webhook 404: the flow is gone")]
    assert delivery.deliver_now(wired, teams.id, T0) == "failed"
    asked = [ident for name, ident in wired.enqueued if name == "page_failed"]
    assert teams.id in asked
    assert undeliverable.check_row(wired, teams.id, T0) is True
    told = notes(wired, iid, template="page-undeliverable")
    assert {(r.channel, r.person) for r in told} == {("email", "anna"), ("teams", "anna")}
    mail = next(r for r in told if r.channel == "email").payload
    assert (mail["template"], mail["to"]) == (
        "page-undeliverable",
        "anna.schmidt@northwind.example",
    )
    with wired.db.session(write=False) as session:
        from hub.incidents.records import get_incident

        kinds = [e.kind for e in get_incident(session, iid).timeline]
    assert "page-undeliverable" in kinds
    # once per page and person: the check again, and the tick's sweep, add nothing
    assert undeliverable.check_row(wired, teams.id, T0) is False
    assert undeliverable.sweep(wired, T0) == 0
    assert len(notes(wired, iid, template="page-undeliverable")) == 2


def test_a_page_that_reached_someone_somewhere_tells_nobody(wired, transports):  # noqa: F811
    iid = declare(wired)
    page = notes(wired, iid, template="page", person="elif")
    email = next(r for r in page if r.channel == "email")
    transports["email"].answers = [PermanentError("550 5.1.1 mailbox unknown")]
    assert delivery.deliver_now(wired, email.id, T0) == "failed"
    assert undeliverable.check_row(wired, email.id, T0) is False  # Teams still pending
    assert notes(wired, iid, template="page-undeliverable") == []


# -- the room ------------------------------------------------------------------------------


def test_the_room_shows_the_summary_and_the_recipients_one_click_away(wired, transports):  # noqa: F811
    from hub import create_app

    iid = declare(wired)
    act(wired, iid, ops.post_update, "<b>Rolled back</b>", actor="anna", now=T0)
    rows = notes(wired, iid, template="stakeholder-update")
    transports["email"].answers = [PermanentError("SMTP recipient refused: x: 552 5.2.2 Full")]
    first_email = next(r for r in rows if r.channel == "email")
    delivery.deliver_now(wired, first_email.id, T0)
    client = create_app({"TESTING": True}, hub=wired).test_client()
    sign_in(client, wired, "anna")
    page = client.get(f"/incidents/INC-{iid}").get_data(as_text=True)
    assert "Executives: 0 of 2 delivered" in page and "failed (Full)" in page
    assert "· Stakeholder update</span>" in page and "· stakeholder-update<" not in page
    link = f"/incidents/INC-{iid}/deliveries?event=update:INC-{iid}:"
    href = next(x for x in page.split('"') if x.startswith(link) and "=executives" in x)
    href = href.replace("&amp;", "&")
    listing = client.get(href)
    assert listing.status_code == 200
    text = listing.get_data(as_text=True)
    assert first_email.recipient in text and "Full" in text
    assert f'<td data-label="Recipient">{first_email.recipient}</td>' in text  # labelled on phones
    assert "Stakeholder update <code>" in text and "· Executives ·" in text  # words, not keys
