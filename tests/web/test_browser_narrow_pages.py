"""At 390 px in Debian's Chromium: the approver edits a drafted update's public text in the
room and on the signed link's page, and the pages that show audiences by name (the policy
page, the recipients page) fit the screen."""

from __future__ import annotations

import re

import pytest

from tests.browser_kit import PHONE_390, launched_chromium, open_world, require_browser

sync_api = require_browser()
expect = sync_api.expect
pytestmark = pytest.mark.browser

from tests.browser_steps import new_page, sign_in_by_link  # noqa: E402

NARROW = PHONE_390
APPROVED_SEV2 = "    notify: [it-staff, service-desk]\n"
LONG = "Tracking" + "x" * 90  # one word longer than the screen is wide


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    from hub.app.templates import EXAMPLE_POLICY
    from hub.policy.load import parse_policy

    for world in open_world(tmp_path_factory.mktemp("narrow")):
        text = EXAMPLE_POLICY.read_text().replace(
            APPROVED_SEV2, APPROVED_SEV2 + "    approve_updates: communications_owner\n"
        )  # SEV2 updates are approved by the Communications Owner
        world.hub.policies._policy = parse_policy(text, str(EXAMPLE_POLICY), env={})
        yield world


@pytest.fixture(scope="module")
def browser(world):
    with launched_chromium() as chromium:
        yield chromium


def fits(page, path: str) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= NARROW["width"], (path, width)


def sev2(world) -> int:
    from hub.app.db import utcnow
    from hub.core.classify import Report
    from hub.incidents.reports import create_incident
    from tests.workflow_kit import mobilise_pending

    report = Report(title="VPN gateway down", services=("vpn",), impact="outage", reporter="ivan")
    with world.hub.transaction() as session:
        incident, _ = create_incident(session, world.hub.policy, report, actor="ivan", now=utcnow())
        assert incident.severity == "SEV2"
        iid = incident.id
    mobilise_pending(world.hub, iid)
    return iid


def draft(world, iid: int, text: str, public_text: str):
    from hub.app.db import utcnow
    from hub.incidents import drafts
    from tests.workflow_kit import act

    request = {"text": text, "public_text": public_text}
    return act(world.hub, iid, drafts.submit_update, request, actor="felix", now=utcnow())


def public_text_of_latest_update(world, iid: int) -> str | None:
    from tests.workflow_kit import timeline

    return (timeline(world.hub, iid, "update")[-1].data or {}).get("public_text")


def test_the_approver_edits_the_public_text_on_a_narrow_screen(world, browser):
    iid = sev2(world)
    ref = f"INC-{iid}"
    draft(world, iid, f"Gateway restarting {LONG}", f"VPN is slow {LONG}")
    chloe = sign_in_by_link(world, new_page(world, browser), "chloe")  # the approver
    chloe.set_viewport_size(NARROW)
    chloe.goto(f"{world.url}/incidents/{ref}")
    fits(chloe, "the room with a draft")
    box = chloe.locator("textarea[id^=draft-public-]")
    expect(box).to_have_value(f"VPN is slow {LONG}")
    box.fill("VPN is back for most people")
    chloe.locator("[id^=approve-draft-]").click()
    expect(chloe.locator(".flash-success")).to_contain_text("approved")
    assert public_text_of_latest_update(world, iid) == "VPN is back for most people"

    second = draft(world, iid, "Second", "Second, public")
    mail = world.wait_for_mail(world.hub.policy.people["chloe"].email, "Second, public")
    link = re.search(
        rf"https?://\S+/incidents/{ref}/drafts/{second.id}/\S+",
        mail.get_body(("plain",)).get_content(),
    ).group(0)
    context = browser.new_context(viewport=NARROW, is_mobile=True, has_touch=True)
    try:
        phone = context.new_page()  # no session: the signed link is the permission
        phone.goto(link)
        fits(phone, "the draft's signed link")
        phone.fill("#draft-public", f"All good {LONG}")
        phone.click("#draft-approve")
        expect(phone.locator("h1")).to_have_text("Approved")
        fits(phone, "the approved page")
    finally:
        context.close()
    assert public_text_of_latest_update(world, iid) == f"All good {LONG}"

    anna = sign_in_by_link(world, new_page(world, browser), "anna")  # an administrator
    anna.set_viewport_size(NARROW)
    for path, says in [
        ("/ops/policy", "Executives, IT staff, Service desk, All staff"),
        (f"/incidents/{ref}/deliveries?audience=it-staff", "IT staff"),
    ]:
        anna.goto(world.url + path)
        fits(anna, path)
        expect(anna.locator("main")).to_contain_text(says)
    anna.context.close()
    chloe.context.close()


def test_a_large_incident_fits_a_phone_with_its_pager(world, browser):
    """An incident with 1,200 deliveries of one update: the room lists the latest and links to
    every recipient; the recipients page's pager and its rows fit 390 px on every page."""
    from datetime import timedelta

    from sqlalchemy import insert

    from hub.app.db import utcnow
    from hub.app.models import Notification

    iid, now = sev2(world), utcnow()
    ref, event = f"INC-{iid}", f"update:INC-{iid}:1"
    rows = [
        {
            "incident_id": iid,
            "key": f"{event}|{LONG.lower()}{i:04d}@example.com|email",
            "channel": "email",
            "recipient": f"{LONG.lower()}{i:04d}@example.com",  # longer than the screen
            "template": "stakeholder-update",
            "payload": {},
            "status": "failed" if i % 10 == 0 else "sent",
            "last_error": "552 5.2.2 mailbox full" if i % 10 == 0 else None,
            "created_at": now - timedelta(minutes=2),
            "sent_at": None if i % 10 == 0 else now - timedelta(minutes=1),
            "audience": "executives",
        }
        for i in range(1200)
    ]
    with world.hub.db.session() as session:
        session.execute(insert(Notification), rows)

    anna = sign_in_by_link(world, new_page(world, browser), "anna")
    anna.set_viewport_size(NARROW)
    anna.goto(f"{world.url}/incidents/{ref}")
    fits(anna, "the room of a large incident")
    more = anna.locator("a", has_text="1,000 more: every recipient").first  # in a folded group
    anna.goto(world.url + more.get_attribute("href"))
    expect(anna.locator("nav.pages")).to_contain_text("Page 1 of 3")
    expect(anna.locator("main")).to_contain_text(LONG.lower())  # the long addresses, wrapped
    fits(anna, "recipients, page 1")
    anna.locator("nav.pages a[rel=next]").click()
    expect(anna.locator("nav.pages")).to_contain_text("Page 2 of 3")
    fits(anna, "recipients, page 2")
    anna.context.close()
