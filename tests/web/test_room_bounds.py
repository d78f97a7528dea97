"""The room and its deliveries page with 10,000+ stakeholder notifications: the latest 200
listed, every count right (counted in SQL), every recipient a page away, no notification
loaded as an ORM object."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import event, insert
from workflow_kit import T0, declare

from hub import create_app
from hub.app.models import Notification
from hub.web.deliveries import PAGE
from hub.web.room_deliveries import SHOWN
from tests.web_kit import sign_in

pytestmark = pytest.mark.usefixtures("no_internet")
PEOPLE = 10_250
FAILED = PEOPLE // 10  # every tenth: mailbox full


def _flood(hub, iid: int) -> str:
    """PEOPLE stakeholder-update rows for one event, inserted in bulk; the event's key."""
    event_key = f"update:INC-{iid}:1"
    rows = [
        {
            "incident_id": iid,
            "key": f"{event_key}|p{i:05d}@example.com|email",
            "channel": "email",
            "recipient": f"p{i:05d}@example.com",
            "template": "stakeholder-update",
            "payload": {},
            "status": "failed" if i % 10 == 0 else "sent",
            "last_error": "552 5.2.2 mailbox full" if i % 10 == 0 else None,
            "created_at": T0 + timedelta(minutes=5),
            "sent_at": None if i % 10 == 0 else T0 + timedelta(minutes=6),
            "audience": "executives",
        }
        for i in range(PEOPLE)
    ]
    with hub.db.session() as session:
        session.execute(insert(Notification), rows)
    return event_key


@pytest.fixture
def loaded():
    """How many Notification ORM objects were loaded while the fixture was in use."""
    seen = []

    def count(target, context):
        seen.append(target.id)

    event.listen(Notification, "load", count)
    yield seen
    event.remove(Notification, "load", count)


def _flooded_and_signed_in(hub, loaded: list):
    """A declared incident flooded with notifications, and Anna's console client: (incident
    id, the update's event key, client), the load counter emptied."""
    iid = declare(hub)
    event_key = _flood(hub, iid)
    client = create_app({"TESTING": True}, hub=hub).test_client()
    sign_in(client, hub, "anna")
    loaded.clear()
    return iid, event_key, client


def test_a_room_with_ten_thousand_notifications_lists_the_latest_and_counts_all(wired, loaded):
    iid, event_key, client = _flooded_and_signed_in(wired, loaded)

    room = client.get(f"/incidents/INC-{iid}")
    assert room.status_code == 200
    page = room.get_data(as_text=True)
    # the update's group: every row counted, the latest SHOWN listed, the rest one link away
    assert (
        f"stakeholder-update: {PEOPLE:,} deliveries ({PEOPLE - FAILED:,} sent, {FAILED:,} failed)"
        in page
    )
    listed = re.findall(r"<li>email to p(\d{5})@example\.com", page)
    assert len(listed) == SHOWN
    assert listed[-1] == f"{PEOPLE - 1:05d}" and "00000" not in listed
    assert f"{PEOPLE - SHOWN:,} more: every recipient" in page
    assert f'/incidents/INC-{iid}/deliveries?event={event_key}"' in page
    # the delivery summary, from SQL
    assert f"Executives: {PEOPLE - FAILED:,} of {PEOPLE:,} delivered" in page
    assert f"{FAILED:,} failed (mailbox full)" in page
    # the chart draws the latest and says how many there are
    drawn = page.count('class="delivery"')
    assert drawn == SHOWN
    total = int(re.search(r"the latest 200 of ([\d,]+) deliveries", page).group(1).replace(",", ""))
    assert total > PEOPLE  # the declaration's own pages and notices as well
    assert loaded == []  # no notification read as an ORM object

    only = client.get(f"/incidents/INC-{iid}?show=deliveries").get_data(as_text=True)
    assert len(re.findall(r"tl-text\">\s*stakeholder-update by email to p\d{5}@", only)) == SHOWN
    assert f"The latest {SHOWN} of {total:,} deliveries." in only
    assert loaded == []


def test_the_deliveries_page_counts_in_sql_and_pages_through_every_recipient(wired, loaded):
    iid, event_key, client = _flooded_and_signed_in(wired, loaded)
    base = f"/incidents/INC-{iid}/deliveries"
    query = {"event": event_key, "audience": "executives"}

    first = client.get(base, query_string=query).get_data(as_text=True)
    assert f"{PEOPLE:,} recipients (1–{PAGE} shown)." in first
    assert len(re.findall(r'data-label="Recipient">p\d{5}@', first)) == PAGE
    assert "p00000@example.com" in first and f"p{PAGE:05d}@" not in first
    assert "Page 1 of 21" in first and 'rel="prev"' not in first
    nxt = re.search(r'rel="next" href="([^"]+)"', first).group(1).replace("&amp;", "&")
    second = client.get(nxt).get_data(as_text=True)
    assert f"p{PAGE:05d}@example.com" in second and "p00000@" not in second
    assert f"({PAGE + 1:,}–{2 * PAGE:,} shown)" in second

    last = client.get(base, query_string={**query, "page": "21"}).get_data(as_text=True)
    rows = re.findall(r'data-label="Recipient">p(\d{5})@', last)
    assert len(rows) == PEOPLE - 20 * PAGE and rows[-1] == f"{PEOPLE - 1:05d}"
    assert 'rel="next"' not in last and "mailbox full" in last
    beyond = client.get(base, query_string={**query, "page": "999"}).get_data(as_text=True)
    assert re.findall(r'data-label="Recipient">p(\d{5})@', beyond) == rows  # the last page
    odd = client.get(base, query_string={**query, "page": "-3"})
    assert odd.status_code == 200 and "Page 1 of 21" in odd.get_data(as_text=True)

    everything = client.get(base).get_data(as_text=True)  # every notice: theirs and the others
    shown = int(re.search(r"([\d,]+) recipients \(1–", everything).group(1).replace(",", ""))
    assert shown > PEOPLE
    assert loaded == []
