"""A reporter whose emailed report joined an incident is told which and why, and replying
NOT THIS splits it out into an incident of its own."""

from __future__ import annotations

from sqlalchemy import select

from hub.app.models import Incident, Notification
from hub.notifications.notify import materialize
from tests.email_corpus import mail, raw
from tests.email_corpus.cases import PASSED
from tests.email_kit import feed, later, seed_world


def _ack_to(session, incident_id: int, address: str) -> Notification:
    return session.scalars(
        select(Notification).where(
            Notification.incident_id == incident_id,
            Notification.template == "report-received",
            Notification.recipient == address,
        )
    ).one()


def test_the_acknowledgement_tells_the_truth_and_not_this_splits(mhub):
    world = seed_world(mhub)  # Ben: "Payroll is down" (SEV1)
    report = mail(
        "Payroll page not loading",
        "The payroll page is not loading for me.",
        sender="julia.costa",
        headers=PASSED,
    )
    result, _row = feed(mhub, raw(report), later(1))
    assert result.outcome == "threaded" and result.incident == f"INC-{world.incident}", result
    with mhub.db.session(write=False) as session:
        ack = _ack_to(session, world.incident, "julia.costa@northwind.example")
        text = " ".join(str(materialize(ack.payload, mhub.settings)["text"]).split())
    assert 'Your report "Payroll page not loading" was added to' in text
    assert "already open for Payroll (same service payroll, reported as outage, within 10" in text
    assert "Reply with NOT THIS as the first line" in text
    reply = mail(
        f"RE: [INC-{world.incident}] Payroll is down",
        "NOT THIS\nMine is the HR portal, sorry.",
        sender="julia.costa",
        headers={"In-Reply-To": world.our_mid(), **PASSED},
    )
    result, row = feed(mhub, raw(reply), later(3))
    assert result.outcome == "threaded", result
    assert "split the sender's report out" in row.decisions[-1]["reason"], row.decisions
    with mhub.db.session(write=False) as session:
        old = session.get(Incident, world.incident)
        entry = next(e for e in old.timeline if e.kind == "split")
        new = session.get(Incident, int(entry.data["into"][4:]))
        assert [r.reporter for r in new.reports] == ["julia"]
        assert all(r.reporter != "julia" for r in old.reports)
        assert "Mine is the HR portal" in entry.text
        assert any(e.kind == "split" and old.ref in e.text for e in new.timeline)
        assert (
            session.scalars(
                select(Notification).where(
                    Notification.incident_id == new.id, Notification.template == "report-split"
                )
            )
            .one()
            .recipient
            == "julia.costa@northwind.example"
        )


def test_not_this_from_someone_whose_report_did_not_join_is_a_comment(mhub):
    world = seed_world(mhub)
    reply = mail(
        f"RE: [INC-{world.incident}] Payroll is down",
        "NOT THIS",
        sender="julia.costa",
        headers={"In-Reply-To": world.our_mid(), **PASSED},
    )
    result, row = feed(mhub, raw(reply), later(3))
    assert "the command was not applied" in row.decisions[-1]["reason"], row.decisions
    with mhub.db.session(write=False) as session:
        assert not any(e.kind == "split" for e in session.get(Incident, world.incident).timeline)
