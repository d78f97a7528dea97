"""Board, declare and the incident room through the test client; who may act on what."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from hub.app.db import utcnow
from hub.app.models import Incident, TimelineEntry
from hub.app.models import Report as ReportRow
from hub.core import permissions
from hub.core.classify import Report
from hub.incidents import records, reports
from tests.web_kit import flashes, post, sign_in, text_of

HOSTILE = "<script>alert(1)</script><img src=x onerror=alert(2)>\"'"


def declare(
    hub, title="Payroll is down", services=("payroll",), impact="outage", reporter="ivan"
) -> str:
    with hub.transaction() as session:
        incident, _ = reports.create_incident(
            session,
            hub.policy,
            Report(title=title, services=services, impact=impact, reporter=reporter, source="api"),
            actor=reporter,
            now=utcnow(),
        )
        return incident.ref


def state_of(hub, ref: str) -> str:
    with hub.db.session(write=False) as session:
        return records.get_incident(session, ref).state


def test_the_board_groups_active_incidents_by_severity(client, hub):
    sign_in(client, hub, "ivan")
    major = declare(hub)
    minor = declare(hub, "Typo on the careers page", ("website",), "minor")
    page = text_of(client.get("/"))
    assert page.index("SEV1") < page.index("SEV4")
    assert f"{major} Payroll is down" in page and f"{minor} Typo on the careers page" in page
    assert "MIM Anna Schmidt not acknowledged" in page and "Acknowledge in 4 min" in page


def test_the_live_board_answers_304_when_nothing_changed(client, hub):
    sign_in(client, hub, "ivan")
    declare(hub)
    first = client.get("/board/live")
    assert first.status_code == 200 and "<html" not in first.get_data(as_text=True)
    again = client.get("/board/live", headers={"If-None-Match": first.headers["ETag"]})
    assert again.status_code == 304


def test_declare_previews_then_creates(client, hub):
    sign_in(client, hub, "chloe")
    form = {"title": "ADP payroll down", "impact": "outage", "affected_users": "40"}
    preview = post(client, "/declare/preview", form)
    assert "critical-service-outage" in preview.get_data(as_text=True)
    assert "<html" not in preview.get_data(as_text=True)
    page = post(client, "/declare", {**form, "action": "preview"})
    assert page.status_code == 200 and "critical-service-outage" in page.get_data(as_text=True)
    done = post(client, "/declare", {**form, "action": "declare"})
    assert done.status_code == 303
    ref = done.headers["Location"].rsplit("/", 1)[1]
    with hub.db.session(write=False) as session:
        incident = records.get_incident(session, ref)
        assert (incident.source, incident.reporter, incident.severity) == ("web", "chloe", "SEV1")
    assert post(client, "/declare", {"title": "", "action": "declare"}).status_code == 422


def test_a_second_report_joins_the_open_incident(client, hub):
    sign_in(client, hub, "chloe")
    ref = declare(hub)
    preview = post(client, "/declare/preview", {"title": "payslips missing", "services": "payroll"})
    assert f"{ref}, SEV1, declared since" in text_of(preview)
    assert "will count your report" in text_of(preview)
    done = post(
        client,
        "/declare",
        {"title": "payslips missing", "services": "payroll", "action": "declare"},
    )
    assert done.headers["Location"].endswith(ref)
    assert "added to" in flashes(client)[-1][1]


def test_acknowledge_update_classify_assign_resolve(client, hub):
    ref = declare(hub)
    sign_in(client, hub, "anna")
    assert post(client, f"/incidents/{ref}/acknowledge").status_code == 303
    assert state_of(hub, ref) == "mobilised"
    preview = post(client, f"/incidents/{ref}/updates/preview", {"text": "Rolling back"})
    html = preview.get_data(as_text=True)
    assert "Rolling back" in html and "[" + ref + "]" in html and "ac-card" in html
    post(client, f"/incidents/{ref}/updates", {"text": "Rolling back", "action": "post"})
    refused = post(client, f"/incidents/{ref}/classify", {"severity": "SEV2", "reason": ""})
    assert refused.status_code == 422  # the room again, the choice kept, the reason said
    assert "re-classifying needs a reason" in text_of(refused)
    assert '<option value="SEV2" selected>' in refused.get_data(as_text=True)
    post(client, f"/incidents/{ref}/classify", {"severity": "SEV2", "reason": "contained"})
    post(client, f"/incidents/{ref}/roles", {"role": "tech_lead", "person": "felix"})
    post(client, f"/incidents/{ref}/resolve", {"summary": "Rolled back"})
    with hub.db.session(write=False) as session:
        incident = records.get_incident(session, ref)
        kinds = [e.kind for e in incident.timeline]
        actors = {e.actor for e in incident.timeline if e.kind in ("update", "reclassified")}
        assert incident.severity == "SEV2" and incident.state == "resolved"
        assert {"acknowledged", "update", "reclassified", "role"} <= set(kinds)
        assert actors == {"anna"}


def test_a_live_refresh_leaves_the_flash_for_the_next_page(client, hub):
    """The room's live refresh fetches the page again; if it lands between a form's redirect
    and the page it leads to, the flash ("Resolved.") must still reach that page."""
    ref = declare(hub)
    sign_in(client, hub, "anna")
    post(client, f"/incidents/{ref}/resolve", {"summary": "Rolled back"})
    assert ("success", "Resolved.") in flashes(client)
    refresh = client.get(f"/incidents/{ref}", headers={"X-Mihub-Refresh": "regions"})
    assert refresh.status_code == 200 and "Resolved." not in text_of(refresh)
    assert ("success", "Resolved.") in flashes(client)  # still waiting
    page = client.get(f"/incidents/{ref}")
    assert "Resolved." in text_of(page)
    assert flashes(client) == []


def test_people_without_a_role_may_look_but_not_act(client, hub):
    ref = declare(hub)
    sign_in(client, hub, "ivan")
    page = client.get(f"/incidents/{ref}")
    assert page.status_code == 200 and 'id="resolve"' not in page.get_data(as_text=True)
    for path, form in (
        ("acknowledge", {}),
        ("updates", {"text": "hi"}),
        ("resolve", {"summary": "done"}),
        ("classify", {"severity": "SEV4", "reason": "x"}),
    ):
        response = post(client, f"/incidents/{ref}/{path}", form)
        assert response.status_code == 403, path
    assert state_of(hub, ref) == "declared"


@pytest.mark.parametrize(
    "person, action, allowed",
    [
        ("anna", "resolve", True),  # holds MIM (and is an admin)
        ("ben", "resolve", True),  # MIM on duty (and an admin)
        ("elif", "resolve", True),  # holds tech lead
        ("elif", "classify", False),
        ("chloe", "update", True),  # holds communications owner
        ("chloe", "resolve", False),
        ("felix", "update", True),  # tech lead on the roster
        ("david", "review_submit", True),
        ("chloe", "review_submit", False),
        ("ben", "review_approve", True),  # an admin
        ("felix", "review_edit", False),  # on duty, but the review belongs to its role holders
        ("felix", "resolve", True),
        ("anna", "review_approve", True),
        ("ivan", "update", False),
        ("ivan", "acknowledge", False),
        ("ben", "acknowledge", False),
        ("nobody", "update", False),
    ],
)
def test_permissions(hub, person, action, allowed):
    ref = declare(hub)
    with hub.db.session(write=False) as session:
        incident = records.get_incident(session, ref)
        assert permissions.can(hub.policy, incident, person, action) is allowed


def test_hostile_text_is_escaped(client, hub):
    sign_in(client, hub, "anna")
    done = post(
        client,
        "/declare",
        {"title": HOSTILE, "description": HOSTILE, "reporter": HOSTILE, "action": "declare"},
    )
    ref = done.headers["Location"].rsplit("/", 1)[1]
    post(client, f"/incidents/{ref}/updates", {"text": HOSTILE, "action": "post"})
    for path in ("/", f"/incidents/{ref}"):
        html = client.get(path).get_data(as_text=True)
        assert "<script>alert" not in html and "<img src=x" not in html, path
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html, path
    with hub.db.session(write=False) as session:
        reporter = session.scalar(select(ReportRow.reporter).order_by(ReportRow.id.desc()))
        assert reporter == HOSTILE.lower()
        assert session.scalar(select(Incident.title)) == HOSTILE
        assert session.scalar(select(TimelineEntry.id).where(TimelineEntry.text == HOSTILE))


def test_declare_says_what_is_wrong(client, hub):
    sign_in(client, hub, "chloe")
    form = {"title": "VPN down", "affected_users": "lots"}
    page = post(client, "/declare", {**form, "action": "declare"})
    assert page.status_code == 422 and "whole number" in page.get_data(as_text=True)
    assert 'value="VPN down"' in page.get_data(as_text=True)  # what was typed stays
    preview = post(client, "/declare/preview", form)
    assert preview.status_code == 200 and "whole number" in preview.get_data(as_text=True)
