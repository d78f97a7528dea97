"""History and search on each backend (SQLite FTS5, PostgreSQL full-text search): words from
titles, descriptions, updates and reviews find their incident; the filters combine."""

from __future__ import annotations

from datetime import timedelta

import pytest

from hub.app.db import utcnow
from hub.app.models import Incident, Review


@pytest.fixture
def api(client, api_caller):
    return api_caller(client)


def _create(api, title, *, services=(), impact="minor", description="", who="chloe"):
    status, doc = api(
        "POST",
        "/api/v1/incidents",
        who,
        {
            "title": title,
            "description": description,
            "services": list(services),
            "impact": impact,
            "correlate": False,
        },
    )
    assert status in (200, 201), doc
    return doc["id"]


def _ids(api, query, who="anna"):
    status, doc = api("GET", f"/api/v1/incidents?{query}", who)
    assert status == 200, doc
    return [i["id"] for i in doc["incidents"]]


def test_words_from_an_update_find_the_incident(api, hub):
    vpn = _create(api, "VPN drops every hour", services=["vpn"])
    mail = _create(api, "Outlook slow", services=["email"], description="Mailbox search hangs")
    other = _create(api, "Printer jam on floor 3")
    status, _ = api(
        "POST",
        f"/api/v1/incidents/{vpn}/updates",
        "anna",
        {"text": "GlobalProtect gateway certificate rotated"},
    )
    assert status == 200
    assert _ids(api, "q=certificate") == [vpn]  # a word only its update has
    assert _ids(api, "q=CERTIFICATE+gateway") == [vpn]  # every word, any case
    assert _ids(api, "q=certificate+printer") == []
    assert _ids(api, "q=mailbox") == [mail]  # the description
    assert _ids(api, "q=jam") == [other]  # the title
    assert _ids(api, "q=floor%2C+3!") == [other]  # punctuation is no word
    status, doc = api("GET", "/api/v1/incidents?q=%21%21", "anna")
    assert status == 422 and "no words" in doc["error"]["message"]


def test_review_text_is_searched(api, hub):
    ref = _create(api, "Payroll export failed", services=["payroll"], impact="outage")
    iid = int(ref[4:])
    with hub.db.session() as session:  # a review written later, as the editor saves it
        session.add(
            Review(incident_id=iid, state="draft", root_causes="an expired kerberos keytab")
        )
    assert _ids(api, "q=kerberos+keytab") == [ref]
    with hub.db.session() as session:
        review = session.query(Review).filter_by(incident_id=iid).one()
        review.root_causes = "a full disk"
    assert _ids(api, "q=kerberos") == []  # the index follows the edit
    assert _ids(api, "q=disk") == [ref]


def test_filters_combine(api, hub):
    a = _create(api, "VPN outage in Hamburg", services=["vpn"], impact="outage", who="chloe")
    b = _create(api, "VPN slow in Berlin", services=["vpn"], who="ivan")
    c = _create(api, "Hamburg printers offline", who="ivan")
    with hub.db.session() as session:  # c happened last month
        session.get(Incident, int(c[4:])).created_at = utcnow() - timedelta(days=40)
    assert set(_ids(api, "service=vpn")) == {a, b}
    assert _ids(api, "service=vpn&q=hamburg") == [a]
    assert _ids(api, "q=hamburg") == [c, a]  # newest (last reported) first
    severity_b = api("GET", f"/api/v1/incidents/{b}")[1]["severity"]
    assert _ids(api, f"q=vpn&severity={severity_b}") == [b]
    assert _ids(api, "q=hamburg&state=closed") == []
    month_ago = (utcnow() - timedelta(days=35)).date().isoformat()
    assert _ids(api, f"q=hamburg&since={month_ago}") == [a]
    assert _ids(api, f"q=hamburg&until={month_ago}") == [c]
    assert set(_ids(api, "mine=true", who="ivan")) == {b, c}  # ivan reported them
    assert _ids(api, "mine=true&q=printers", who="ivan") == [c]
    assert _ids(api, "service=vpn&major=false&q=berlin") == [b]
    status, doc = api("GET", "/api/v1/incidents?service=nosuch", "anna")
    assert status == 422 and "nosuch" in doc["error"]["message"]
    status, doc = api("GET", "/api/v1/incidents?since=yesterday", "anna")
    assert status == 422 and "since" in doc["error"]["message"]
