"""The review editor: sections and action items from the form, steps as the roles allow."""

from __future__ import annotations

from hub.reviews import operations as reviews
from tests.review_factory import open_draft, resolved_major
from tests.web_kit import flashes, post, sign_in, text_of

REQUIRED = ("summary", "impact", "root_causes", "trigger", "detection", "resolution")


def form(version: int, **extra) -> dict:
    data = {field: f"The {field} of it." for field in REQUIRED}
    data.update(
        {
            "version": str(version),
            "item_count": "2",
            "tags": ["network", "bogus"],
            "item-0-title": "Alert on connector restarts",
            "item-0-owner": "felix",
            "item-0-due": "2030-01-31",
            "item-0-priority": "P1",
            "item-0-status": "open",
            "item-1-title": "",
        }
    )
    data.update(extra)
    return data


def review_of(hub, number: int):
    with hub.db.session(write=False) as session:
        review = reviews.get_review(session, f"INC-{number}")
        return (
            review.state,
            review.version,
            [(i.title, i.owner, i.priority) for i in review.action_items],
            review.tags,
        )


def test_edit_submit_approve(client, hub):
    number = resolved_major(hub)
    open_draft(hub, number)
    sign_in(client, hub, "david")
    page = text_of(client.get(f"/incidents/INC-{number}/review"))
    assert "Root causes" in page and "Submit for approval" in page and "Approve" not in page
    assert post(client, f"/incidents/INC-{number}/review", form(1)).status_code == 303
    state, version, items, tags = review_of(hub, number)
    assert (state, version, tags) == ("draft", 2, ["network"])
    assert items == [("Alert on connector restarts", "felix", "P1")]
    stale = post(client, f"/incidents/INC-{number}/review", form(1, summary="stale edit"))
    assert stale.status_code == 409  # the editor again, with the typed text and the saved one
    html = stale.get_data(as_text=True)
    assert "someone else saved this review" in html and "stale edit" in html
    assert 'id="theirs-summary"' in html and 'name="version" value="2"' in html
    assert review_of(hub, number)[1] == 2
    post(client, f"/incidents/INC-{number}/review/submit")
    assert review_of(hub, number)[0] == "in_review"
    assert post(client, f"/incidents/INC-{number}/review/approve").status_code == 403
    sign_in(client, hub, "anna")
    post(client, f"/incidents/INC-{number}/review/approve")
    assert review_of(hub, number)[0] == "approved"
    assert any(job[0] == "publish" for job in hub.enqueued)


def test_submitting_an_incomplete_review_says_what_is_missing(client, hub):
    number = resolved_major(hub)
    open_draft(hub, number)
    sign_in(client, hub, "david")
    post(client, f"/incidents/INC-{number}/review/submit")
    assert "still empty: Summary, Impact" in flashes(client)[-1][1]


def test_others_read_but_cannot_edit(client, hub):
    number = resolved_major(hub)
    open_draft(hub, number)
    sign_in(client, hub, "ivan")
    page = client.get(f"/incidents/INC-{number}/review").get_data(as_text=True)
    assert "<textarea" not in page and 'id="review-save"' not in page
    assert post(client, f"/incidents/INC-{number}/review", form(1)).status_code == 403


def test_no_review_for_an_open_incident(client, hub):
    from tests.web.test_web_pages import declare

    ref = declare(hub)
    sign_in(client, hub, "anna")
    page = client.get(f"/incidents/{ref}/review")
    assert page.status_code == 404 and "not resolved yet" in page.get_data(as_text=True)
