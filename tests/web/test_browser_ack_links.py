"""Acknowledging from a page on a phone, in Debian's Chromium: the link in the page email and
the one on the Teams card, opened without a session, one tap; forged and spent links answer
with a calm page and change nothing."""

from __future__ import annotations

import json
import re

import pytest
from sqlalchemy import select

from tests.browser_kit import PHONE_390, SHOTS, launched_chromium, open_world, require_browser

sync_api = require_browser()
expect = sync_api.expect
pytestmark = pytest.mark.browser

PHONE = PHONE_390
LINK = re.compile(r"https?://\S+/incidents/INC-\d+/(?:acknowledge|take-over)/[\w.\-]+")


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    yield from open_world(tmp_path_factory.mktemp("acklinks"))


@pytest.fixture(scope="module")
def browser(world):
    with launched_chromium() as chromium:
        yield chromium


@pytest.fixture
def phone(browser):
    """A fresh phone-sized page: no cookies, nobody signed in."""
    context = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
    page = context.new_page()
    page.set_default_timeout(20_000)
    yield page
    context.close()


def open_sev2(
    world, title: str, service: str = "vpn", impact: str = "outage", *, alone=True
) -> str:
    """A new SEV2 outage (the earlier ones resolved first, so that it is not joined to them),
    mobilised as the worker would: roles filled, pages delivered."""
    from hub.app.db import utcnow
    from hub.app.models import Incident
    from hub.core.classify import Report
    from hub.incidents import operations as ops
    from hub.incidents.reports import create_incident
    from tests.workflow_kit import act, mobilise_pending

    with world.hub.db.session(write=False) as s:
        active = s.scalars(select(Incident.id).where(Incident.state.in_(("declared", "mobilised"))))
        active = list(active)
    for iid in active if alone else ():
        act(world.hub, iid, ops.resolve, "done", actor="anna", now=utcnow())
    report = Report(title=title, services=(service,), impact=impact, source="api", reporter="ivan")
    with world.hub.transaction() as session:
        incident, _ = create_incident(session, world.hub.policy, report, actor="ivan", now=utcnow())
        assert incident.severity == "SEV2" or impact != "outage"
        iid, ref = incident.id, incident.ref
    mobilise_pending(world.hub, iid)
    return ref


def facts(world, ref: str) -> dict:
    """What the database says: who acknowledged, the escalation steps' states, the timeline."""
    from hub.app.models import Incident, Timer

    with world.hub.db.session(write=False) as s:
        incident = s.get(Incident, int(ref.split("-")[1]))
        steps = s.scalars(select(Timer).where(Timer.incident_id == incident.id))
        return {
            "acked": sorted((r.role, r.person) for r in incident.roles if r.acknowledged_at),
            "escalate": sorted(t.state for t in steps if t.kind == "escalate"),
            "entries": len(incident.timeline),
            "state": incident.state,
        }


def mailed_link(world, person: str, ref: str) -> str:
    msg = world.wait_for_mail(world.hub.policy.people[person].email, f"for {ref} (")
    return LINK.search(msg.get_body(("plain",)).get_content()).group(0)


def card_link(world, person: str, ref: str) -> str:
    """The Acknowledge button's URL on the page card @mentioning `person` (the Teams sink)."""
    upn = world.hub.policy.people[person].teams
    for path in sorted((world.data_dir / "sinks" / "teams").glob("*.json")):
        card = json.loads(path.read_text())["envelope"]["attachments"][0]["content"]
        mentioned = [e["mentioned"]["id"] for e in card["msteams"].get("entities", ())]
        text = json.dumps(card["body"])
        if upn in mentioned and f"{ref} \\u00b7" in text or (upn in mentioned and ref in text):
            for action in card["actions"]:
                if action["title"] == "Acknowledge":
                    assert action["type"] == "Action.OpenUrl"
                    return action["url"]
    raise AssertionError(f"no page card for {person} on {ref}")


def one_tap(page, url: str, ref: str, shots: str | None = None) -> None:
    page.goto(url)
    expect(page.locator("h1")).to_have_text(f"Acknowledge {ref} as Major Incident Manager?")
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    button = page.locator("#ack-confirm").bounding_box()
    assert button["y"] + button["height"] <= PHONE["height"]  # on the first screen
    if shots:
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / f"{shots}-confirm-phone.png"), full_page=True)
    page.locator("#ack-confirm").tap()
    expect(page.locator("h1")).to_have_text("Acknowledged")
    expect(page.locator("main")).to_contain_text("The escalation for the role has stopped.")
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    if shots:
        page.screenshot(path=str(SHOTS / f"{shots}-done-phone.png"), full_page=True)


def test_emailed_link_acknowledges_in_one_tap_without_a_session(world, phone):
    ref = open_sev2(world, "VPN gateway down (first)")
    url = mailed_link(world, "anna", ref)
    before = facts(world, ref)
    assert before["escalate"] == ["pending"] and before["acked"] == []
    one_tap(phone, url, ref, shots="ack-link")
    after = facts(world, ref)
    assert ("major_incident_manager", "anna") in after["acked"]
    assert after["escalate"] == ["cancelled"] and after["state"] == "mobilised"
    # the link acknowledges; it does not sign anyone in: the room asks for a sign-in
    phone.get_by_role("link", name="Open the incident room").tap()
    expect(phone).to_have_url(re.compile(rf"/login\?next=/incidents/{ref}$"))


def test_teams_card_link_acknowledges_in_one_tap(world, phone):
    ref = open_sev2(world, "VPN gateway down (second)")
    url = card_link(world, "anna", ref)
    one_tap(phone, url, ref)
    after = facts(world, ref)
    assert ("major_incident_manager", "anna") in after["acked"]
    assert after["escalate"] == ["cancelled"]


def test_forged_and_reused_links_get_a_calm_page_and_change_nothing(world, phone):
    ref = open_sev2(world, "VPN gateway down (third)")
    url = mailed_link(world, "anna", ref)
    other = open_sev2(world, "Typo on the careers page", "website", "minor", alone=False)
    before = facts(world, ref), facts(world, other)
    forged = url.replace(f"/{ref}/", f"/{other}/")
    tampered = url[:-3] + ("AAA" if not url.endswith("AAA") else "BBB")
    for bad in (forged, tampered):
        answer = phone.goto(bad)
        assert answer.status == 200
        expect(phone.locator("h1")).to_have_text("Nothing to do")
        expect(phone.locator("#ack-outcome")).to_contain_text("not valid")
        assert phone.locator("button").count() == 0
    assert (facts(world, ref), facts(world, other)) == before

    one_tap(phone, url, ref)
    done = facts(world, ref)
    # the same link again, in a new tab and by replaying its form: told, not done twice
    phone.goto(url)
    expect(phone.locator("h1")).to_have_text("Link already used")
    expect(phone.locator("#ack-outcome")).to_contain_text("This link was used at")
    token = url.rsplit("/", 1)[1]
    replay = phone.request.post(url, form={"token": token})
    assert replay.status == 200 and "This link was used at" in replay.text()
    assert facts(world, ref) == done and facts(world, other) == before[1]
