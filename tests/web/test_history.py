"""The console's incident list (filters and search), action items and problems pages."""

from __future__ import annotations

from datetime import date, timedelta

from web_kit import sign_in, text_of

from hub.app.db import utcnow
from hub.app.models import ActionItem, Incident, Problem, ProblemLink, Review


def _create(api, title, **extra):
    status, doc = api(
        "POST",
        "/api/v1/incidents",
        "chloe",
        {"title": title, "impact": "minor", "correlate": False, **extra},
    )
    assert status == 201, doc
    return doc["id"]


def test_incident_list_searches_and_filters(client, hub, api_caller):
    api = api_caller(client)
    vpn = _create(api, "VPN drops in Hamburg", services=["vpn"])
    hostile = _create(api, "<script>alert(1)</script> printer", description="toner")
    api("POST", f"/api/v1/incidents/{vpn}/updates", "anna", {"text": "gateway certificate renewed"})
    sign_in(client, hub, "anna")
    page = client.get("/incidents?q=certificate")
    assert page.status_code == 200
    assert vpn in text_of(page) and hostile not in text_of(page)
    both = text_of(client.get("/incidents"))
    assert vpn in both and hostile in both
    html = client.get("/incidents").get_data(as_text=True)
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;" in html
    assert hostile in text_of(client.get("/incidents?q=toner&service="))
    assert vpn not in text_of(client.get("/incidents?q=certificate&state=closed"))
    assert vpn in text_of(client.get("/incidents?service=vpn&state=open"))
    today = utcnow().date().isoformat()
    assert vpn in text_of(client.get(f"/incidents?since={today}&q=hamburg"))
    assert "No incident matches" in text_of(client.get("/incidents?mine=1"))  # anna reported none
    bad = client.get("/incidents?since=soon")
    assert bad.status_code == 200 and "since: expected a day" in text_of(bad)
    assert "no words" in text_of(client.get("/incidents?q=%21%21"))


def test_action_items_and_problems_pages(client, hub, api_caller):
    api = api_caller(client)
    ref = _create(api, "Payroll export failed")
    iid = int(ref[4:])
    with hub.db.session() as session:
        session.get(Incident, iid).state = "resolved"
        review = Review(incident_id=iid, state="draft")
        session.add(review)
        session.flush()
        yesterday = date.today() - timedelta(days=1)
        session.add(
            ActionItem(
                review_id=review.id, title="Renew the <b>cert</b>", owner="elif", due=yesterday
            )
        )
        session.add(
            ActionItem(
                review_id=review.id,
                title="Add monitoring",
                owner="felix",
                due=date.today() + timedelta(days=9),
            )
        )
        problem = Problem(
            title="Expiring certificates", state="known_error", workaround="renew by hand"
        )
        session.add(problem)
        session.flush()
        session.add(ProblemLink(problem_id=problem.id, incident_id=iid))
    sign_in(client, hub, "chloe")
    html = client.get("/action-items").get_data(as_text=True)
    assert "Renew the &lt;b&gt;cert&lt;/b&gt;" in html and "<b>cert" not in html
    page = text_of(client.get("/action-items"))
    assert "Add monitoring" in page
    assert "overdue" in page and "PRB-1" in page and ref in page
    only = text_of(client.get("/action-items?overdue=1"))
    assert "Renew the" in only and "Add monitoring" not in only
    mine = text_of(client.get("/action-items?owner=felix"))
    assert "Add monitoring" in mine and "Renew the" not in mine
    assert "No action item matches" in text_of(client.get("/action-items?status=done"))
    problems = text_of(client.get("/problems"))
    assert "PRB-1 Expiring certificates" in problems and ref in problems
    assert "No problem record" in text_of(client.get("/problems?state=closed"))
    assert "renew by hand" in text_of(client.get("/problems?state=known_error"))


def test_room_shows_similar_past_incidents(client, hub, api_caller):
    api = api_caller(client)
    old = _create(api, "VPN gateway down", services=["vpn"])
    other = _create(api, "Printer jam")
    now = _create(api, "VPN slow again", services=["vpn"])
    with hub.db.session() as session:
        session.get(Incident, int(old[4:])).state = "closed"
        session.get(Incident, int(other[4:])).state = "closed"
        session.add(Review(incident_id=int(old[4:]), state="published"))
        problem = Problem(title="Gateway memory leak", state="known_error", workaround="restart it")
        session.add(problem)
        session.flush()
        session.add(ProblemLink(problem_id=problem.id, incident_id=int(old[4:])))
    sign_in(client, hub, "anna")
    page = text_of(client.get(f"/incidents/{now}"))
    similar = page.split("Similar past incidents", 1)[1].split("Timeline", 1)[0]
    assert old in similar and "review (published)" in similar
    assert "Gateway memory leak — known error : restart it" in similar
    assert other not in similar and now not in similar
    assert "Similar past incidents" not in text_of(client.get(f"/incidents/{other}"))
