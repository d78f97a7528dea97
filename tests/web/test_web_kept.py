"""The console keeps people's work and tells the truth: refused text shown back, the declare
preview says when a report joins an open incident, publishing shows as such."""

from __future__ import annotations

from hub.app.models import Review
from tests.review_factory import open_draft, resolved_major
from tests.web.test_web_pages import declare
from tests.web_kit import post, sign_in, text_of


def test_a_refused_re_classification_shows_the_typed_reason_again(client, hub):
    ref = declare(hub)
    sign_in(client, hub, "anna")
    refused = post(
        client,
        f"/incidents/{ref}/classify",
        {"severity": "SEV9", "reason": "Contained to one site"},
    )
    assert refused.status_code == 422
    html = refused.get_data(as_text=True)
    assert 'value="Contained to one site"' in html
    assert "Your text is still below" in text_of(refused)


def test_actions_a_person_may_not_take_are_not_offered(client, hub):
    ref = declare(hub)
    sign_in(client, hub, "ivan")  # reported it; may not resolve
    page = client.get(f"/incidents/{ref}").get_data(as_text=True)
    assert 'id="update-form"' not in page and 'id="resolve"' not in page  # not offered


def test_the_declare_preview_says_the_report_joins_the_open_incident(client, hub):
    ref = declare(hub)
    sign_in(client, hub, "ivan")
    preview = post(
        client,
        "/declare/preview",
        {"title": "Payroll down for us too", "services": "payroll", "impact": "outage"},
    )
    text = text_of(preview)
    assert f"{ref}, SEV1," in text and "since" in text and "will count your report" in text
    assert "No new incident is opened and nobody new is paged" in text
    assert "Declaring pages the people on duty" not in text


def test_the_declare_preview_sits_above_the_declare_button(client, hub):
    sign_in(client, hub, "ivan")
    html = client.get("/declare").get_data(as_text=True)
    assert html.index('id="classification-preview"') < html.index('id="declare"')


def test_an_approved_review_shows_publishing_and_no_publish_button(client, hub):
    number = resolved_major(hub)
    open_draft(hub, number)
    with hub.db.session() as session:
        review = session.query(Review).filter_by(incident_id=number).one()
        review.state = "approved"
    sign_in(client, hub, "anna")
    html = client.get(f"/incidents/INC-{number}/review").get_data(as_text=True)
    assert 'id="publishing"' in html and 'id="review-publish"' not in html
    with hub.db.session() as session:
        review = session.query(Review).filter_by(incident_id=number).one()
        review.publish_error = "the knowledge base build failed"
    html = client.get(f"/incidents/INC-{number}/review").get_data(as_text=True)
    assert 'id="publishing"' not in html and "Try publishing again" in html


def test_board_and_room_agree_on_a_late_acknowledgement(client, hub):
    from datetime import timedelta

    from hub.app.db import utcnow
    from hub.incidents import operations as ops
    from hub.incidents import records

    ref = declare(hub)
    with hub.transaction() as session:
        incident = records.get_incident(session, ref, lock=True)
        incident.declared_at = utcnow() - timedelta(minutes=30)  # SEV1: 5 min to acknowledge
        ops.acknowledge(session, hub.policy, incident, actor="anna", now=utcnow())
    sign_in(client, hub, "anna")
    board = text_of(client.get("/"))
    room = text_of(client.get(f"/incidents/{ref}"))
    assert "Acknowledge late" in board and "done" not in board.split("Acknowledge", 1)[1][:10]
    assert "Acknowledge late," in room
