"""Review operations: the draft at resolution, edits, roles, steps, reminders, Markdown files."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select

from hub.app.errors import Conflict, Forbidden, Invalid
from hub.app.models import Notification, Timer
from hub.core import review_metrics as rm
from hub.core.durations import format_duration
from hub.incidents import operations as ops
from hub.incidents import reports
from hub.incidents.firing import fire_timer_now
from hub.reviews import operations as reviews
from hub.reviews.markdown import export_markdown, parse_markdown
from hub.reviews.publish.jobs import open_missing_reviews
from tests.review_factory import T0, TEXTS, open_draft, resolved_major

RESOLVED = T0 + timedelta(minutes=90)


@pytest.fixture
def inc(hub):
    number = resolved_major(hub)
    open_draft(hub, number)
    return number


def _edit(hub, number, data, actor="david", at=RESOLVED + timedelta(hours=1)):
    with hub.transaction() as session:
        review = reviews.get_review(session, f"INC-{number}", lock=True)
        reviews.update_review(session, hub.policy, review, data, actor=actor, now=at)
        return review.version


def _step(hub, number, name, actor, at=RESOLVED + timedelta(hours=2), reason=""):
    with hub.transaction() as session:
        review = reviews.get_review(session, f"INC-{number}", lock=True)
        reviews.step(session, hub.policy, review, name, actor=actor, now=at, reason=reason)
        return review.state


def _sent(hub, template):
    """(channel, address) of the emails written for a template (Teams routes vary by policy)."""
    with hub.db.session(write=False) as session:
        rows = session.scalars(
            select(Notification).where(
                Notification.template == template, Notification.channel == "email"
            )
        )
        return sorted({(n.channel, n.recipient) for n in rows})


def _fire(hub, number, kind, at=None):
    with hub.db.session(write=False) as session:
        timer = session.scalars(
            select(Timer)
            .where(Timer.incident_id == number, Timer.kind == kind, Timer.state == "pending")
            .order_by(Timer.due_at)
        ).first()
        timer_id, due = timer.id, timer.due_at
    return fire_timer_now(hub, timer_id, at or due), due


def test_resolution_opens_a_draft_with_the_timeline_and_figures(hub, inc):
    with hub.db.session(write=False) as session:
        review = reviews.get_review(session, f"INC-{inc}")
        kinds = [e["kind"] for e in review.timeline]
        assert kinds[:4] == ["reported", "classified", "declared", "paged"]
        assert {"acknowledged", "mobilised", "update", "resolved"} <= set(kinds)
        m = review.metrics
        assert (m["time_to_acknowledge_s"], m["time_to_mobilise_s"]) == (120, 120)
        assert m["time_to_resolve_s"] == 90 * 60 and m["ack_sla"]["met"] is True
        assert m["resolve_sla"] == {"target_s": 4 * 3600, "taken_s": 5400, "met": True}
        assert review.due_at == RESOLVED + timedelta(hours=48)  # SEV1 review_within
        assert review.state == "draft" and review.resolution == "Rolled back release 4.2"
        assert review.incident.state == "review_due"
        timers = {t.kind: t.due_at for t in review.incident.timers if t.state == "pending"}
    assert timers["review-reminder"] == review.due_at - timedelta(hours=12)
    assert timers["review-overdue"] == review.due_at + timedelta(hours=1)
    assert timers["review-escalate"] == review.due_at + timedelta(hours=24)
    assert _sent(hub, "review-assigned") == [("email", "david.novak@northwind.example")]


def test_resolving_asks_for_the_draft_and_the_sweep_catches_lost_wake_ups(hub):
    number = resolved_major(hub)
    assert ("open_review", number) in hub.enqueued
    assert open_missing_reviews(hub, RESOLVED) == 1  # the wake-up was "lost"
    assert open_missing_reviews(hub, RESOLVED) == 0
    with hub.db.session(write=False) as session:
        assert reviews.get_review(session, f"INC-{number}").state == "draft"


def test_minor_incidents_get_no_review(hub):
    from hub.core.classify import Report

    with hub.transaction() as session:
        incident, _ = reports.create_incident(
            session, hub.policy, Report(title="Printer jams", impact="minor"), actor="chloe", now=T0
        )
        ops.resolve(session, hub.policy, incident, "cleared", actor="chloe", now=RESOLVED)
        number = incident.id
    assert ("open_review", number) not in hub.enqueued
    assert open_missing_reviews(hub, RESOLVED) == 0


def test_who_may_edit(hub, inc):
    with pytest.raises(Forbidden, match="Problem Manager or Major Incident Manager"):
        _edit(hub, inc, {"summary": "x"}, actor="julia")
    assert _edit(hub, inc, {"summary": "by the PM"}, actor="david") == 2
    assert _edit(hub, inc, {"summary": "by the MIM", "version": 2}, actor="anna") == 3
    with pytest.raises(Conflict, match="changed since you loaded it"):
        _edit(hub, inc, {"summary": "stale", "version": 2}, actor="david")


@pytest.mark.parametrize(
    "data, problem",
    [
        ({"tags": ["not-a-tag"]}, "not allowed"),
        ({"services": ["nope"]}, "unknown service"),
        ({"started_at": "2026-03-02T10:00:00+00:00"}, "cannot be after the first report"),
        ({"started_at": "yesterday"}, "started_at"),
        ({"action_items": [{"title": "x", "ticket": "javascript:alert(1)"}]}, "http"),
        ({"action_items": [{"title": "x", "due": "next week"}]}, "date like"),
        ({"action_items": [{"title": " "}]}, "title is required"),
        ({"action_items": [{"title": "x", "priority": "P9"}]}, "priority"),
        ({"action_items": [{"title": "x", "id": 999}]}, "does not belong"),
        ({"summary": "x" * 20_001}, "the most is"),
    ],
)
def test_edits_are_checked(hub, inc, data, problem):
    with pytest.raises(Invalid, match=problem):
        _edit(hub, inc, data)


def test_action_items_are_replaced_and_started_at_moves_time_to_detect(hub, inc):
    _edit(
        hub,
        inc,
        {
            "started_at": "2026-03-02T08:45:00+00:00",
            "tags": ["Software"],
            "action_items": [
                {
                    "title": "Load test",
                    "owner": "elif.yilmaz@northwind.example",
                    "due": "2026-03-20",
                },
                {"title": "Canary", "owner": "SRE team"},
            ],
        },
    )
    with hub.db.session(write=False) as session:
        review = reviews.get_review(session, f"INC-{inc}")
        assert review.metrics["time_to_detect_s"] == 15 * 60 and review.tags == ["software"]
        items = [(i.title, i.owner, i.due) for i in review.action_items]
        keep = review.action_items[0].id
    assert items == [("Load test", "elif", date(2026, 3, 20)), ("Canary", "SRE team", None)]
    _edit(hub, inc, {"action_items": [{"id": keep, "title": "Load test", "status": "done"}]})
    with hub.db.session(write=False) as session:
        review = reviews.get_review(session, f"INC-{inc}")
        assert [(i.id, i.status) for i in review.action_items] == [(keep, "done")]
        assert review.action_items[0].done_at is not None


def test_steps_follow_the_roles(hub, inc):
    with pytest.raises(Invalid, match="still empty: Summary, Impact"):
        _step(hub, inc, "submit", "david")
    _edit(hub, inc, TEXTS)
    with pytest.raises(Forbidden):
        _step(hub, inc, "submit", "julia")
    assert _step(hub, inc, "submit", "david") == "in_review"
    with pytest.raises(Forbidden, match="only the Major Incident Manager"):
        _step(hub, inc, "approve", "david")
    with pytest.raises(Invalid, match="needs a reason"):
        _step(hub, inc, "reject", "anna")
    assert _step(hub, inc, "reject", "anna", reason="Root cause is vague") == "draft"
    assert _step(hub, inc, "submit", "david") == "in_review"
    hub.enqueued.clear()
    assert _step(hub, inc, "approve", "anna") == "approved"
    with hub.db.session(write=False) as session:
        review = reviews.get_review(session, f"INC-{inc}")
        assert ("publish", review.id) in hub.enqueued
        assert not [
            t
            for t in review.incident.timers
            if t.kind.startswith("review-") and t.state == "pending"
        ]
    with pytest.raises(Conflict, match="only drafts and reviews in review"):
        _edit(hub, inc, {"summary": "too late"})


def test_reminders_before_and_after_the_deadline_then_escalation(hub, inc):
    outcome, due = _fire(hub, inc, "review-reminder")
    assert outcome == "fired"
    assert _sent(hub, "review-reminder") == [("email", "david.novak@northwind.example")]
    assert _fire(hub, inc, "review-overdue")[0] == "fired"
    assert _sent(hub, "review-overdue") == [("email", "david.novak@northwind.example")]
    outcome, due = _fire(hub, inc, "review-escalate")
    assert outcome == "fired"
    assert ("email", "anna.schmidt@northwind.example") in _sent(hub, "review-overdue")
    with hub.db.session(write=False) as session:  # it repeats until the review is submitted
        again = session.scalars(
            select(Timer).where(Timer.kind == "review-escalate", Timer.state == "pending")
        ).one()
        assert again.due_at == due + timedelta(hours=24)


def test_reminders_stop_once_submitted(hub, inc):
    _edit(hub, inc, TEXTS)
    _step(hub, inc, "submit", "david")
    assert _fire(hub, inc, "review-reminder")[0] == "cancelled"
    assert _fire(hub, inc, "review-overdue")[0] == "fired"  # the approval is late: the MIM
    assert _sent(hub, "review-overdue") == [("email", "anna.schmidt@northwind.example")]


def test_overdue_action_items_remind_the_owner_until_done(hub, inc):
    _edit(
        hub, inc, {"action_items": [{"title": "Load test", "owner": "elif", "due": "2026-03-10"}]}
    )
    with hub.db.session(write=False) as session:
        timer = session.scalars(select(Timer).where(Timer.kind == "action-overdue")).one()
    assert timer.due_at == datetime(2026, 3, 11, 8, 0, tzinfo=UTC)  # 09:00 Berlin, next day
    # the morning before the due date: the owner alone, once
    with hub.db.session(write=False) as session:
        soon = session.scalars(select(Timer).where(Timer.kind == "action-due-soon")).one()
    assert soon.due_at == datetime(2026, 3, 9, 8, 0, tzinfo=UTC)
    assert _fire(hub, inc, "action-due-soon")[0] == "fired"
    assert _sent(hub, "action-due-soon") == [("email", "elif.yilmaz@northwind.example")]
    assert _fire(hub, inc, "action-overdue")[0] == "fired"
    assert _sent(hub, "review-overdue") == [
        ("email", "david.novak@northwind.example"),
        ("email", "elif.yilmaz@northwind.example"),
    ]
    with hub.db.session(write=False) as session:
        review = reviews.get_review(session, f"INC-{inc}")
        item = review.action_items[0].id
    _edit(hub, inc, {"action_items": [{"id": item, "title": "Load test", "status": "done"}]})
    with hub.db.session(write=False) as session:
        pending = session.scalars(
            select(Timer).where(Timer.kind == "action-overdue", Timer.state == "pending")
        ).all()
    assert pending == []


def test_markdown_export_import_round_trip(hub, inc):
    _edit(
        hub,
        inc,
        {
            **TEXTS,
            "tags": ["software"],
            "action_items": [
                {
                    "title": "Load test: the `pool` --- size",
                    "owner": "elif",
                    "due": "2026-03-20",
                    "ticket": "https://tickets.example/OPS-1",
                }
            ],
        },
    )
    with hub.db.session(write=False) as session:
        text = export_markdown(reviews.get_review(session, f"INC-{inc}"))
    assert text.startswith("---\nincident: INC-") and "\n## Root causes\n" in text
    changes = parse_markdown(text, f"INC-{inc}")
    assert {k: changes[k] for k in TEXTS} == TEXTS
    assert changes["action_items"][0]["title"] == "Load test: the `pool` --- size"
    edited = text.replace(
        "Users reported it to the service desk.",
        "Monitoring paged us.\n## Not a section\nstill detection",
    )
    edited = edited.replace("due: '2026-03-20'", "due: 2026-03-21")
    changes = parse_markdown(edited, f"INC-{inc}")
    assert changes["detection"] == "Monitoring paged us.\n## Not a section\nstill detection"
    from hub.http.validate import REVIEW, check

    _edit(hub, inc, check(changes, REVIEW))
    with hub.db.session(write=False) as session:
        review = reviews.get_review(session, f"INC-{inc}")
        assert review.action_items[0].due == date(2026, 3, 21)
    with pytest.raises(Conflict):  # the export is now stale
        _edit(hub, inc, check(parse_markdown(edited, f"INC-{inc}"), REVIEW))
    with pytest.raises(Invalid, match="not INC-999"):
        parse_markdown(text, "INC-999")
    with pytest.raises(Invalid, match="front matter"):
        parse_markdown("# no front matter", f"INC-{inc}")


def test_a_review_file_that_names_no_incident_says_where_one_comes_from():
    with pytest.raises(Invalid) as refused:
        parse_markdown("---\ntitle: Payroll down\n---\n## Summary\nx\n", "INC-7")
    assert refused.value.message == (
        "the front matter names no incident; start from `mihub review export INC-7`"
    )


def test_problem_records_link_incidents_and_track_known_errors(hub, inc):
    from hub.reviews import problems

    now = RESOLVED + timedelta(days=1)
    with hub.transaction() as session, pytest.raises(Forbidden):
        problems.create_problem(session, hub.policy, {"title": "x"}, actor="julia", now=now)
    with hub.transaction() as session:
        problem = problems.create_problem(
            session,
            hub.policy,
            {"title": "DB pool exhausted", "incidents": [f"INC-{inc}"]},
            actor="david",
            now=now,
        )
        ref = problem.ref
    with hub.transaction() as session, pytest.raises(Invalid, match="workaround"):
        problems.update_problem(
            session,
            hub.policy,
            problems.get_problem(session, ref),
            {"state": "known_error"},
            actor="david",
            now=now,
        )
    with hub.transaction() as session:
        problem = problems.get_problem(session, ref)
        problems.update_problem(
            session,
            hub.policy,
            problem,
            {"state": "known_error", "workaround": "Restart the pool"},
            actor="david",
            now=now,
        )
        doc = problems.problem_doc(problem)
    assert doc["known_error"] is True and doc["incidents"] == [f"INC-{inc}"]


def test_derived_figures_and_trends_are_pure():
    t = datetime(2026, 1, 1, tzinfo=UTC)
    times = rm.Times(
        detected_at=t,
        started_at=t - timedelta(minutes=7),
        declared_at=t,
        acknowledged_at=t + timedelta(minutes=9),
        resolved_at=t + timedelta(hours=5),
    )
    figures = rm.derive(times, ack_within=timedelta(minutes=5), resolve_within=timedelta(hours=4))
    assert figures["time_to_detect_s"] == 420 and figures["time_to_mobilise_s"] is None
    assert figures["ack_sla"]["met"] is False and rm.sla_verdict(figures) == "breached"
    assert [format_duration(s) for s in (None, 45, 600, 3900, 200_000)] == [
        "—",
        "45 s",
        "10 min",
        "1 h 05 min",
        "2 d 7 h",
    ]
    trend = rm.trend(
        [rm.Point("2026-01", "SEV1", 60, 600), rm.Point("2026-03", "SEV2", 120, None)],
        ["SEV1", "SEV2"],
    )
    assert trend.months == ("2026-01", "2026-02", "2026-03")
    assert trend.mtta["all"] == (1.0, None, 2.0) and trend.mttr["SEV2"] == (None, None, None)
    assert trend.counts == (1, 0, 1)


def test_cli_export_edit_import_and_publish(hub, inc, tmp_path, monkeypatch):
    from click.testing import CliRunner

    from hub.cli import main

    monkeypatch.setenv("HUB_DATA_DIR", str(hub.settings.data_dir))
    monkeypatch.setenv("HUB_DATABASE_URL", hub.settings.database_url)
    runner = CliRunner()
    exported = runner.invoke(main, ["review", "export", f"INC-{inc}"])
    assert exported.exit_code == 0, exported.output
    path = tmp_path / "review.md"
    path.write_text(
        exported.output.replace("## Impact\n", "## Impact\n\nEveryone was paid late.\n")
    )
    result = runner.invoke(main, ["review", "import", f"INC-{inc}", str(path), "--as", "julia"])
    assert result.exit_code == 1 and "Problem Manager" in result.output
    result = runner.invoke(main, ["review", "import", f"INC-{inc}", str(path), "--as", "david"])
    assert result.exit_code == 0 and "version 2" in result.output, result.output
    result = runner.invoke(main, ["review", "import", f"INC-{inc}", str(path), "--as", "david"])
    assert result.exit_code == 1 and "changed since" in result.output
    with hub.db.session(write=False) as session:
        assert reviews.get_review(session, f"INC-{inc}").impact == "Everyone was paid late."
    result = runner.invoke(main, ["publish"])
    assert result.exit_code == 0 and "published 0 review(s)" in result.output, result.output
    assert (hub.settings.data_dir / "kb" / "site" / "index.html").is_file()
