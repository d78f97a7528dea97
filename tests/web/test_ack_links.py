"""Signed page links through the web app: opening changes nothing, one POST acknowledges, and
every wrong, spent or stale link gets a calm 200 page saying what happened."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from hub.app.models import ActionLink, Incident, Notification, Timer
from hub.incidents import operations as ops
from hub.incidents.page_links import Claim, read, sign
from hub.notifications.notify import materialize
from tests.workflow_kit import T0, act, declare, minutes

LINK = re.compile(r"https?://\S+/incidents/INC-\d+/(?:acknowledge|take-over)/[\w.\-]+")


def page_link(hub, iid: int, person: str, template: str = "page") -> str:
    """The signed link of the page `person` got by email, as the mail says it."""
    with hub.db.session(write=False) as s:
        rows = s.scalars(
            select(Notification).where(
                Notification.incident_id == iid,
                Notification.template == template,
                Notification.channel == "email",
            )
        ).all()
    email = hub.policy.people[person].email
    row = next(r for r in rows if r.recipient == email)
    text = materialize(row.payload, hub.settings)["text"]
    return LINK.search(text).group(0)


def path(url: str) -> str:
    return url.split("://", 1)[1].split("/", 1)[1].join(["/", ""])


def state_of(hub, iid: int) -> dict:
    with hub.db.session(write=False) as s:
        incident = s.get(Incident, iid)
        return {
            "state": incident.state,
            "acked": sorted((r.role, r.person) for r in incident.roles if r.acknowledged_at),
            "holders": sorted((r.role, r.person) for r in incident.roles if r.active),
            "timeline": len(incident.timeline),
            "uses": s.scalar(select(func.count()).select_from(ActionLink)),
        }


def test_sev2_page_link_acknowledges_once_and_cancels_the_escalation(hub, client):
    iid = declare(hub, services=("vpn",), title="VPN down", impact="outage")
    with hub.db.session(write=False) as s:
        assert s.get(Incident, iid).severity == "SEV2"
    url = page_link(hub, iid, "anna")
    assert "/acknowledge/" in url
    before = state_of(hub, iid)

    r = client.get(path(url))
    assert r.status_code == 200
    page = r.get_data(as_text=True)
    assert f"Acknowledge INC-{iid} as Major Incident Manager?" in page
    assert page.count("<button") == 1 and "Cache-Control" in r.headers
    assert state_of(hub, iid) == before  # a scanner's GET changes nothing

    token = url.rsplit("/", 1)[1]
    r = client.post(path(url), data={"token": token})
    assert r.status_code == 200
    assert "Anna Schmidt acknowledged" in r.get_data(as_text=True)
    after = state_of(hub, iid)
    assert ("major_incident_manager", "anna") in after["acked"] and after["uses"] == 1
    assert after["state"] == "mobilised"
    with hub.db.session(write=False) as s:
        steps = s.scalars(select(Timer).where(Timer.incident_id == iid, Timer.kind == "escalate"))
        assert {t.state for t in steps} == {"cancelled"}

    again = client.post(path(url), data={"token": token})
    assert again.status_code == 200 and "This link was used at" in again.get_data(as_text=True)
    assert client.get(path(url)).get_data(as_text=True).count("<button") == 0
    assert state_of(hub, iid)["timeline"] == after["timeline"]


@pytest.mark.parametrize("change", ["incident", "person", "role", "signature", "purpose", "junk"])
def test_changed_links_change_nothing(hub, client, change):
    iid = declare(hub, services=("vpn",), title="VPN down", impact="outage")
    other = declare(hub, title="Payroll down")
    url = page_link(hub, iid, "anna")
    secret = "wrong" if change == "signature" else hub.settings.secret_key
    claim = read(hub.settings.secret_key, url.rsplit("/", 1)[1])
    fields = {"incident": {"incident_id": other}, "person": {"person": "ben"}}
    fields["role"] = {"role": "tech_lead"}
    claim = Claim(**{**claim.__dict__, **fields.get(change, {})})
    token = sign(secret, claim) if change != "junk" else "not-a-token"
    where = f"/incidents/INC-{iid}/{'take-over' if change == 'purpose' else 'acknowledge'}/{token}"
    before = state_of(hub, iid), state_of(hub, other)
    for r in (client.get(where), client.post(where, data={"token": token})):
        assert r.status_code == 200
        assert "not valid" in r.get_data(as_text=True) or "no longer counts" in r.get_data(
            as_text=True
        )
    assert (state_of(hub, iid), state_of(hub, other)) == before


def test_resolved_incident_and_other_ways_say_what_happened(hub, client):
    iid = declare(hub, services=("vpn",), title="VPN down", impact="outage")
    url = page_link(hub, iid, "anna")
    token = url.rsplit("/", 1)[1]
    act(hub, iid, ops.acknowledge, actor="anna", now=T0 + minutes(1))
    text = client.get(path(url)).get_data(as_text=True)
    assert "You acknowledged" in text and "<button" not in text
    act(hub, iid, ops.resolve, "fixed", actor="anna", now=T0 + minutes(2))
    r = client.post(path(url), data={"token": token})
    assert r.status_code == 200 and "is resolved; there is nothing to acknowledge" in (
        r.get_data(as_text=True)
    )


def test_escalation_page_takes_over(hub, client):
    from tests.workflow_kit import fire_due

    iid = declare(hub, services=("vpn",), title="VPN down", impact="outage")
    fire_due(hub, T0 + minutes(16))  # SEV2 step 1: the second Major Incident Manager
    url = page_link(hub, iid, "ben", "escalation")
    assert "/take-over/" in url
    text = client.get(path(url)).get_data(as_text=True)
    assert "Take over INC-" in text and "Anna Schmidt holds the role" in text
    r = client.post(path(url), data={"token": url.rsplit("/", 1)[1]})
    assert "took over and acknowledged" in r.get_data(as_text=True)
    assert ("major_incident_manager", "ben") in state_of(hub, iid)["holders"]
    anna = page_link(hub, iid, "anna")  # her page no longer counts
    text = client.get(path(anna)).get_data(as_text=True)
    assert "is now Ben" in text and "<button" not in text


def test_an_unsigned_acknowledge_link_leads_to_the_room(hub, client):
    iid = declare(hub, services=("vpn",), title="VPN down", impact="outage")
    r = client.get(f"/incidents/INC-{iid}/acknowledge")
    assert r.status_code == 303 and r.headers["Location"].endswith(f"/incidents/INC-{iid}")


def test_hostile_titles_are_escaped_on_the_link_page(hub, client):
    title = 'VPN <script>alert("x")</script><img src=x onerror=alert(1)> down'
    iid = declare(hub, services=("vpn",), title=title, impact="outage")
    page = client.get(path(page_link(hub, iid, "anna"))).get_data(as_text=True)
    assert "<script>alert" not in page and "<img src=x" not in page
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in page
