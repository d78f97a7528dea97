"""Email intake pipeline: the corpus, replies and commands, storms, bounces, trust, reprocessing."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from hub.app.models import EmailSuppression, InboundMessage, Incident, Notification, TimelineEntry
from hub.intake.email import quarantine as q
from hub.notifications.notify import materialize
from hub.notifications.suppression import suppressed_addresses
from tests.email_corpus import DOMAIN, mail, raw
from tests.email_corpus.cases import PASSED, build
from tests.email_kit import feed, later, make_hub, seed_world


def _incident_texts(hub, number):
    """Everything people read of an incident: title, description, reports, timeline."""
    with hub.db.session(write=False) as session:
        incident = session.get(Incident, number)
        return (
            [incident.title, incident.description]
            + [r.text for r in incident.reports]
            + [r.title for r in incident.reports]
            + [e.text for e in incident.timeline]
        )


def test_corpus_every_message_ends_with_the_expected_outcome(mhub):
    world = seed_world(mhub)
    cases = build(world)
    assert len(cases) >= 60
    problems = []
    for i, case in enumerate(cases):
        result, row = feed(mhub, case.raw, later(1 + i * 0.01))
        assert row.status not in ("received", "failed"), (case.name, row.decisions)
        assert row.decisions[-1]["step"] in (
            "effect",
            "limits",
            "dedupe",
            "loop",
            "bounce",
            "automatic",
            "trust",
            "parse",
        ), case.name
        got = result.outcome
        if not (got == case.outcome or (case.outcome == "new" and got in ("created", "threaded"))):
            problems.append(
                f"{case.name}: expected {case.outcome}, got {got}: {row.decisions[-3:]}"
            )
            continue
        if case.step:
            assert row.decisions[-1]["step"] == case.step, (case.name, row.decisions[-1])
        if case.expect_text or case.refuse_text:
            texts = "\n".join(_incident_texts(mhub, row.incident_id or world.incident))
            for text in case.expect_text:
                if text not in texts:
                    problems.append(f"{case.name}: {text!r} not on the timeline")
            for text in case.refuse_text:
                if text in texts:
                    problems.append(f"{case.name}: {text!r} leaked onto the timeline")
    assert not problems, "\n".join(problems)
    _check_corpus_effects(mhub, world)


def _check_corpus_effects(hub, world):
    with hub.db.session(write=False) as session:
        rows = {r.decisions[-1]["reason"]: r for r in session.scalars(select(InboundMessage))}
        bounced = session.scalars(
            select(Notification).where(Notification.key == world.delivery_key)
        ).one()
        assert bounced.status == "failed" and "5.1.1" in bounced.last_error
        suppressed = set(session.scalars(select(EmailSuppression.address)))
        assert world.delivery_to in suppressed  # the 5.1.1 DSN
        # the Exim bounce quotes a signed Message-ID that no delivery of ours has: no proof
        assert f"exec-team@{DOMAIN}" not in suppressed
        assert suppressed == {world.delivery_to}
        assert f"chloe.martin@{DOMAIN}" not in suppressed  # only delayed
        incident = session.get(Incident, world.incident)
        mim = next(r for r in incident.roles if r.role == "major_incident_manager")
        assert mim.person == "anna" and mim.acknowledged_at is not None  # "ACK" by email
        updates = [e for e in incident.timeline if e.kind == "update"]
        assert [u.actor for u in updates] == ["anna"]  # julia's "UPDATE:" is a comment
        acks = session.scalars(
            select(Notification).where(Notification.template == "report-received")
        ).all()
        assert [a.recipient for a in acks] == [f"felix.wagner@{DOMAIN}"]  # only DMARC pass
        headers = materialize(acks[0].payload, hub.settings)["headers"]
        assert headers["Auto-Submitted"] == "auto-replied"
        assert headers["In-Reply-To"].startswith("<corpus-")
        oof = [
            r for reason, r in rows.items() if reason.startswith("Auto-Submitted: auto-replied;")
        ]
        assert oof and oof[0].incident_id == world.incident  # recorded against the incident
        files = list((hub.settings.data_dir / "attachments").rglob("*"))
        assert any(f.is_file() for f in files)
        names = [
            a["name"]
            for e in session.scalars(
                select(TimelineEntry).where(TimelineEntry.kind == "attachment")
            )
            for a in e.data["attachments"]
        ]
        assert "passwd" in names and not any("/" in n or ".." in n for n in names)
        assert sum(n.startswith("log-") for n in names) == 20  # capped


def test_storm_of_reporters_promotes_to_major_and_counts_them(mhub):
    people = ["ben.okafor", "chloe.martin", "david.novak", "grace.liu", "julia.costa"]
    outcomes, incidents = [], set()
    for i, person in enumerate(people):
        result, _row = feed(
            mhub,
            raw(mail("VPN very slow", "GlobalProtect is slow today.", sender=person)),
            later(i),
        )
        outcomes.append(result.outcome)
        incidents.add(result.incident)
    assert outcomes == ["created"] + ["threaded"] * 4 and len(incidents) == 1
    with mhub.db.session(write=False) as session:
        incident = session.get(Incident, int(incidents.pop().removeprefix("INC-")))
        assert incident.major and incident.severity == "SEV2"
        assert len({r.reporter for r in incident.reports}) == 5


def test_rate_limit_quarantines_then_release_and_discard(backend, example_policy):
    from dataclasses import replace

    policy = replace(
        example_policy, intake=replace(example_policy.intake, rate_per_sender_per_hour=2)
    )
    hub = make_hub(backend, policy)
    out = [
        feed(hub, raw(mail(f"Problem {i}", "Printer broken.", sender="julia.costa")), later(i))[0]
        for i in range(4)
    ]
    assert [r.outcome for r in out] == ["created", "created", "quarantined", "quarantined"]
    with hub.db.session(write=False) as session:
        listed = q.list_quarantine(session)
    assert [m["id"] for m in listed] == [out[3].id, out[2].id]
    assert "rate limit" in listed[0]["reason"]
    released = q.release(hub, out[2].id, actor="anna", now=later(10))
    assert released.outcome == "created"
    dropped = q.discard(hub, out[3].id, actor="anna", now=later(10))
    assert (dropped.status, dropped.outcome) == ("discarded", "ignored")
    with pytest.raises(Exception, match="not quarantined"):
        q.discard(hub, out[3].id, actor="anna", now=later(11))
    hub.db.dispose()


def test_acknowledgement_once_per_incident_and_capped_per_hour(backend, example_policy):
    hub = make_hub(backend, example_policy, HUB_MAIL_TRUSTED_AUTHSERV_IDS=None)
    for i in range(2):  # the same report twice (new Message-IDs): one incident, one ack
        feed(
            hub, raw(mail("SAP orders down", "SAP orders are down.", sender="grace.liu")), later(i)
        )
    for i in range(5):  # unrelated reports: capped at three acks an hour
        feed(hub, raw(mail(f"Thing {i} broken", "Broken.", sender="grace.liu")), later(3 + i))
    with hub.db.session(write=False) as session:
        acks = session.scalars(
            select(Notification).where(Notification.template == "report-received")
        ).all()
        assert len(acks) == 3
        assert len({a.incident_id for a in acks}) == 3
        text = materialize(acks[0].payload, hub.settings)["text"]  # as the worker will send it
        assert "INC-" in text and "/incidents/INC-" in text
    hub.db.dispose()


def test_failed_processing_keeps_the_raw_and_reprocess_succeeds(mhub, monkeypatch):
    from hub.intake.email import effect

    real = effect.new_report
    monkeypatch.setattr(effect, "new_report", lambda *a, **k: 1 / 0)
    result, row = feed(mhub, raw(mail("ERP down", "SAP is down.", sender="elif.yilmaz")))
    assert (result.status, result.outcome, result.incident) == ("failed", None, None)
    assert row.raw and "ZeroDivisionError" in row.decisions[-1]["reason"]
    assert [name for name, _id in mhub.enqueued] == ["process_inbound"]  # effects' dropped
    with mhub.db.session(write=False) as session:
        assert session.scalar(select(Incident.id)) is None
    monkeypatch.setattr(effect, "new_report", real)
    again = q.reprocess(mhub, row.id, actor="anna", now=later(5))
    assert (again.status, again.outcome) == ("processed", "created")
    with pytest.raises(Exception, match="only failed or unprocessed"):
        q.reprocess(mhub, row.id, actor="anna", now=later(6))


def test_reprocess_pending_finds_lost_wake_ups(mhub):
    from hub.intake.email.store import store_raw

    with mhub.transaction() as session:
        ident = store_raw(session, raw(mail()), via="test", now=later(0)).id
    mhub.enqueued.clear()
    assert q.reprocess_pending(mhub, later(0.1)) == 0  # still has its own wake-up
    assert q.reprocess_pending(mhub, later(1)) == 1
    assert mhub.enqueued == [("process_inbound", ident)]


def test_suppressed_addresses_after_a_permanent_bounce(mhub):
    world = seed_world(mhub)
    dsn = next(c for c in build(world) if c.name == "dsn-failed")
    feed(mhub, dsn.raw, later(1))
    with mhub.db.session(write=False) as session:
        found = suppressed_addresses(session, ["Anna.Schmidt@northwind.example", "x@y.example"])
    assert found == {"Anna.Schmidt@northwind.example"}


def test_automatic_reply_never_reopens_or_answers(mhub):
    world = seed_world(mhub)
    oof = mail(
        "Automatic reply: [INC-1] Payroll is down",
        "I am away until Monday.",
        sender="julia.costa",
        headers={"Auto-Submitted": "auto-replied", "In-Reply-To": world.our_mid()},
    )
    with mhub.db.session(write=False) as session:
        before = session.scalar(select(func.count(Notification.id)))
    result, row = feed(mhub, raw(oof), later(2))
    assert result.outcome == "ignored" and row.incident_id == world.incident
    with mhub.db.session(write=False) as session:
        after = session.scalar(select(func.count(Notification.id)))
    assert after == before


@pytest.mark.parametrize(
    "sender, first, applied",
    [
        ("chloe.martin", "UPDATE: Payslips are being re-sent.", True),  # Communications Owner
        ("chloe.martin", "RESOLVED: Fixed, I think.", False),  # resolving is not hers
        ("felix.wagner", "UPDATE: Vendor engaged.", True),  # tech lead on duty, no role here
        ("julia.costa", "RESOLVED: Works for me again.", False),  # no role, not on duty
    ],
)
def test_reply_commands_follow_the_console_and_api_rules(mhub, sender, first, applied):
    """UPDATE:/RESOLVED: by email are decided by hub.core.permissions, as in Teams and REST: a
    sender who may not gets a comment, with why the command was not applied."""
    from hub.core import permissions
    from hub.intake.email.effect import actor_for

    world = seed_world(mhub)
    message = mail(
        f"RE: [INC-{world.incident}] Payroll is down",
        first,
        sender=sender,
        headers={"In-Reply-To": world.our_mid(), **PASSED},
    )
    action = "update" if first.startswith("UPDATE") else "resolve"
    with mhub.db.session(write=False) as session:
        incident = session.get(Incident, world.incident)
        person = actor_for(mhub.policy, f"{sender}@{DOMAIN}")
        assert permissions.can(mhub.policy, incident, person, action) is applied
    result, row = feed(mhub, raw(message), later(2))
    assert result.outcome == "threaded" and row.incident_id == world.incident
    reason = row.decisions[-1]["reason"]
    with mhub.db.session(write=False) as session:
        incident = session.get(Incident, world.incident)
        kinds = [e.kind for e in incident.timeline if e.actor == person]
        if applied:
            assert "comment" not in kinds and "not applied" not in reason, reason
            assert ("update" in kinds) if action == "update" else incident.state == "resolved"
        else:
            assert kinds == ["comment"] and incident.state != "resolved"
            assert "the command was not applied: only the" in reason, reason


def test_a_command_from_an_unverified_sender_is_only_a_comment(mhub):
    """The gateway the hub trusts gave no DMARC pass: the From: line may be forged, so the
    mail does not act for the person it names; it is kept as a comment, saying why."""
    world = seed_world(mhub)
    message = mail(
        f"RE: [INC-{world.incident}] Payroll is down",
        "RESOLVED: all good, trust me",
        sender="anna.schmidt",
        headers={"In-Reply-To": world.our_mid()},
    )
    result, row = feed(mhub, raw(message), later(2))
    assert result.outcome == "threaded" and row.incident_id == world.incident
    assert "the sender is not verified" in row.decisions[-1]["reason"]
    with mhub.db.session(write=False) as session:
        incident = session.get(Incident, world.incident)
        assert incident.state != "resolved"
        assert [e.kind for e in incident.timeline][-1] == "comment"
