"""The status page through the test client: states, the public and internal variants,
hostile text, maintenance, feeds (parsed by feedparser) and who may see what."""

from __future__ import annotations

from datetime import timedelta
from xml.etree import ElementTree

import feedparser
import pytest

from hub import create_app
from hub.app.db import utcnow
from hub.incidents import operations as ops
from hub.incidents import records
from tests.web.test_web_pages import declare
from tests.web_kit import sign_in, text_of

HOSTILE = "<script>alert('x')</script><img src=x onerror=alert(2)>&amp;\"'\x0b]]>"
SECRET = "Root cause: the DBA dropped prod table payroll_runs"


@pytest.fixture
def public_client(hub):
    """A client of an app with HUB_STATUS_PUBLIC=true (the same hub, the same database)."""
    hub.settings.values["HUB_STATUS_PUBLIC"] = "true"
    return create_app({"TESTING": True}, hub=hub).test_client()


def update(hub, ref, text, public_text=None, actor="chloe"):
    with hub.transaction() as session:
        incident = records.get_incident(session, ref, lock=True)
        ops.post_update(
            session, hub.policy, incident, text, actor=actor, now=utcnow(), public_text=public_text
        )


def resolve(hub, ref):
    with hub.transaction() as session:
        incident = records.get_incident(session, ref, lock=True)
        ops.resolve(session, hub.policy, incident, "Restarted.", actor="anna", now=utcnow())


def bearer(make_token, person):
    return {"Authorization": f"Bearer {make_token(person)}"}


def test_states_follow_open_major_incidents_and_their_impact(client, hub, make_token):
    headers = bearer(make_token, "ivan")
    page = client.get("/api/v1/status", headers=headers).get_json()
    assert {s["state"] for s in page["services"]} == {"operational"}
    assert page["overall"] == "operational"
    down = declare(hub, "Portal is down", ("customer-portal",), "outage")
    slow = declare(hub, "Mail is slow", ("email",), "degraded", reporter="chloe")
    states = {
        s["key"]: s["state"]
        for s in client.get("/api/v1/status", headers=headers).get_json()["services"]
    }
    assert states["customer-portal"] == "outage"
    assert states["payroll"] == "operational"
    majors = {
        i["id"] for i in client.get("/api/v1/status", headers=headers).get_json()["incidents"]
    }
    assert down in majors  # a critical service's outage is major
    assert (states["email"] == "degraded") == (slow in majors)  # only major incidents count
    resolve(hub, down)
    after = client.get("/api/v1/status", headers=headers).get_json()
    assert {s["key"]: s["state"] for s in after["services"]}["customer-portal"] == "operational"
    assert [h["id"] for h in after["history"]] == [down]


def test_the_page_needs_sign_in_unless_public(client, hub):
    assert client.get("/status").status_code == 302  # a browser goes to the sign-in page
    assert client.get("/status/public").status_code == 302
    assert client.get("/status/feed.atom").status_code == 302
    sign_in(client, hub, "ivan")
    page = client.get("/status")
    assert page.status_code == 200 and "internal" in text_of(page)
    assert page.headers["Cache-Control"] == "private, no-store"
    assert "frame-ancestors 'none'" in page.headers["Content-Security-Policy"]


def test_internal_text_never_reaches_the_public_variant(client, public_client, hub, make_token):
    ref = declare(hub, f"Portal down {HOSTILE} {SECRET}", ("customer-portal", "payroll"), "outage")
    update(hub, ref, f"Internal: {SECRET} {HOSTILE}")
    update(hub, ref, f"Internal again {SECRET}", public_text=f"We are restoring it {HOSTILE}")
    public = public_client.get("/status")
    assert public.status_code == 200
    html = public.get_data(as_text=True)
    assert public.headers["Cache-Control"] == "public, max-age=2"
    assert SECRET not in html and "DBA" not in html and ref not in html
    assert "Payroll" not in html  # not a public service: neither listed nor named
    assert "<script>alert" not in html and "<img src=x" not in html
    assert "We are restoring it &lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in html
    assert "Outage: Customer portal (shipment tracking)" in text_of(public)
    feed = public_client.get("/status/feed.atom")
    body = feed.get_data(as_text=True)
    assert feed.mimetype == "application/atom+xml"
    assert SECRET not in body and "<script>" not in body and "DBA" not in body
    parsed = feedparser.parse(body)
    assert not parsed.bozo, parsed.get("bozo_exception")
    texts = [e.get("summary", "") for e in parsed.entries]
    # escaped in XML, the same text read back (less the control character XML cannot carry)
    assert f"We are restoring it {HOSTILE.replace(chr(11), '')}" in texts
    # the API's public view holds the same, and the internal view both texts
    headers = bearer(make_token, "ivan")
    public_doc = str(client.get("/api/v1/status?view=public", headers=headers).get_json())
    assert SECRET not in public_doc
    internal = client.get("/api/v1/status", headers=headers).get_json()
    updates = internal["incidents"][0]["updates"]
    assert [u["public_text"] for u in updates] == [f"We are restoring it {HOSTILE}", None]
    # signed-in staff see the internal page at /status, escaped too
    sign_in(public_client, hub, "ivan")
    staff = public_client.get("/status").get_data(as_text=True)
    assert SECRET in staff and "<script>alert" not in staff
    assert "Not on the public page (no public text)." in staff


def test_an_incident_on_public_services_without_public_text_shows_no_update(public_client, hub):
    ref = declare(hub, "Portal is down", ("customer-portal",), "outage")
    update(hub, ref, "The load balancer lost its pool")
    page = text_of(public_client.get("/status"))
    assert "Some services are down" in page
    assert "We are investigating; the first update follows." in page
    assert "load balancer" not in page
    assert "Nothing else in the last 30 days." in page  # the open incident is above, not "none"
    html = public_client.get("/status").get_data(as_text=True)
    assert '<option value="service:customer-portal" selected>' in html  # the one in trouble
    # what is down comes first on a phone; the form to follow it after the open incidents
    assert (
        html.index('id="services-h"')
        < html.index('id="incidents-h"')
        < html.index('id="subscribe-h"')
    )


def test_maintenance_needs_the_comms_owner_or_an_admin(client, hub, make_token):
    now = utcnow()
    body = {
        "services": ["portal", "erp"],
        "start": (now - timedelta(minutes=5)).isoformat(),
        "end": (now + timedelta(hours=2)).isoformat(),
        "text": f"Patching the SAP kernel {SECRET}",
        "public_text": "Planned maintenance of the portal",
    }
    refused = client.post(
        "/api/v1/status/maintenance", json=body, headers=bearer(make_token, "ivan")
    )
    assert refused.status_code == 403
    made = client.post("/api/v1/status/maintenance", json=body, headers=bearer(make_token, "chloe"))
    assert made.status_code == 201, made.get_json()
    window = made.get_json()
    assert window["services"] == ["customer-portal", "erp"] and window["state"] == "scheduled"
    states = {
        s["key"]: s["state"]
        for s in client.get("/api/v1/status", headers=bearer(make_token, "ivan")).get_json()[
            "services"
        ]
    }
    assert states["customer-portal"] == states["erp"] == "maintenance"
    listed = client.get("/api/v1/status/maintenance", headers=bearer(make_token, "ivan"))
    assert [w["id"] for w in listed.get_json()["maintenance"]] == [window["id"]]
    bad = client.post(
        "/api/v1/status/maintenance",
        json={**body, "end": body["start"]},
        headers=bearer(make_token, "anna"),
    )
    assert bad.status_code == 422
    gone = client.delete(
        f"/api/v1/status/maintenance/{window['id']}", headers=bearer(make_token, "anna")
    )
    assert gone.status_code == 200 and gone.get_json()["state"] == "cancelled"
    again = client.get("/api/v1/status", headers=bearer(make_token, "ivan")).get_json()
    assert {s["state"] for s in again["services"]} == {"operational"}


def test_maintenance_from_the_console_form_and_its_public_text(client, public_client, hub):
    from tests.web_kit import post

    sign_in(client, hub, "ivan")
    refused = client.get("/status/maintenance")
    assert "only policy admins and Communications Owners" in text_of(refused)
    sign_in(client, hub, "chloe")
    now = utcnow() + timedelta(hours=1)
    form = {
        "services": ["vpn"],
        "start": now.strftime("%Y-%m-%dT%H:%M"),
        "end": (now + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M"),
        "text": f"Firewall firmware {SECRET}",
        "public_text": "VPN maintenance tonight",
    }
    done = post(client, "/status/maintenance", form)
    assert done.status_code == 303
    page = text_of(client.get("/status/maintenance"))
    assert "Remote access VPN" in text_of(client.get("/status")) and "Firewall firmware" in page
    public = public_client.get("/status").get_data(as_text=True)
    assert "VPN maintenance tonight" in public and SECRET not in public


def test_feeds_per_service_and_for_all_parse(client, hub):
    sign_in(client, hub, "ivan")
    portal = declare(hub, "Portal is down", ("customer-portal",), "outage")
    update(hub, portal, "Failing over", public_text="Restoring service")
    mail = declare(hub, "Identity is down", ("identity",), "outage", reporter="chloe")
    everything = feedparser.parse(client.get("/status/feed.atom").get_data(as_text=True))
    assert not everything.bozo, everything.get("bozo_exception")
    titles = [e.title for e in everything.entries]
    assert any(portal in t for t in titles) and any(mail in t for t in titles)
    assert all(e.link.startswith("http") and e.updated for e in everything.entries)
    one = feedparser.parse(
        client.get("/status/services/customer-portal.atom").get_data(as_text=True)
    )
    assert not one.bozo
    assert one.feed.title == "Service status (internal): Customer portal (shipment tracking)"
    assert {e.title.split(":")[0] for e in one.entries} == {portal}
    assert "Failing over" in [e.get("summary") for e in one.entries]
    assert client.get("/status/services/nope.atom").status_code == 404


def test_a_change_shows_on_the_next_request_and_unchanged_pages_come_from_the_cache(
    client, hub, app
):
    from hub.web.status import CACHE

    sign_in(client, hub, "ivan")
    client.get("/status")
    cache = app.extensions[CACHE]
    renders = cache.renders
    client.get("/status")
    assert cache.renders == renders  # nothing changed: the same page
    ref = declare(hub, "Portal is down", ("customer-portal",), "outage")
    assert ref in client.get("/status").get_data(as_text=True)
    assert cache.renders == renders + 1


def test_the_room_form_posts_the_public_text(client, hub, make_token):
    from tests.web_kit import post

    ref = declare(hub, "Portal is down", ("customer-portal",), "outage")
    sign_in(client, hub, "anna")
    room = client.get(f"/incidents/{ref}").get_data(as_text=True)
    assert 'name="public_text"' in room
    post(client, f"/incidents/{ref}/updates", {"text": "DB failover", "public_text": "Recovering"})
    doc = client.get("/api/v1/status", headers=bearer(make_token, "ivan")).get_json()
    assert doc["incidents"][0]["updates"][0] == {
        **doc["incidents"][0]["updates"][0],
        "text": "DB failover",
        "public_text": "Recovering",
    }
    api = client.post(
        f"/api/v1/incidents/{ref}/updates",
        json={"text": "Still failing over", "public_text": "Still recovering"},
        headers=bearer(make_token, "anna"),
    )
    assert api.status_code == 200, api.get_json()


ATOM_NS = "{http://www.w3.org/2005/Atom}"


def atom_structure(text: str) -> tuple[dict[str, str], list]:
    """The feed's links by rel, after checking what RFC 4287 requires of a feed and of each
    entry (one id, title and updated; an entry's alternate link)."""
    root = ElementTree.fromstring(text)
    assert root.tag == f"{ATOM_NS}feed"
    for name in ("id", "title", "updated"):
        assert len(root.findall(f"{ATOM_NS}{name}")) == 1, name
    links = {link.get("rel"): link.get("href") for link in root.findall(f"{ATOM_NS}link")}
    entries = root.findall(f"{ATOM_NS}entry")
    for entry in entries:
        for name in ("id", "title", "updated"):
            assert len(entry.findall(f"{ATOM_NS}{name}")) == 1, name
        assert entry.find(f"{ATOM_NS}link").get("href").startswith("http")
    return links, entries


@pytest.mark.parametrize("configured", ["https://hub.example.test/mihub", None])
def test_every_feed_names_its_own_absolute_address(client, hub, public_client, configured):
    hub.settings.values["HUB_BASE_URL"] = configured
    base = configured or "http://localhost"  # else the address the request came to
    sign_in(client, hub, "ivan")
    ref = declare(hub, "Portal is down", ("customer-portal",), "outage")
    update(hub, ref, "Failing over", public_text="Restoring service")
    for reader, path in [
        (client, "/status/feed.atom"),
        (client, "/status/services/customer-portal.atom"),
        (public_client, "/status/feed.atom"),
        (public_client, "/status/public/services/customer-portal.atom"),
    ]:
        answer = reader.get(path)
        assert answer.status_code == 200 and answer.mimetype == "application/atom+xml"
        links, entries = atom_structure(answer.get_data(as_text=True))
        assert links["self"] == f"{base}{path}", path
        assert links["alternate"].startswith(f"{base}/status")
        assert entries, path
