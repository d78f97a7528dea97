"""The console in a real browser: Debian's Chromium driven by Playwright, against the live hub.

The tests run in order and share one hub and one browser: sign in (one-time link, fake Entra
ID), declare with the preview, acknowledge, post an update and find it at the SMTP sink,
retry a failed delivery, resolve, edit/approve/publish the review, hostile text everywhere,
the cross-site checks, and screenshots of every page at desktop and phone width.
"""

from __future__ import annotations

import re

import pytest

from tests.browser_kit import (
    DESKTOP,
    csrf_of,
    launched_chromium,
    open_world,
    require_browser,
    shoot,
)

sync_api = require_browser()
expect = sync_api.expect
# The walk-through runs beside real-process tests on a busy machine: wait up to 15 s for a
# page to show what it should (the default 5 s fell short once under CI load).
expect.set_options(timeout=15_000)

pytestmark = pytest.mark.browser

from tests.browser_steps import (  # noqa: E402  (needs playwright, checked above)
    HOSTILE,
    new_page,
    open_some_incidents,
    quarantine_an_email,
    sign_in_by_link,
)

UPDATE = "Payroll runs again for 80% of staff; the rest within the hour."
state: dict = {}


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    yield from open_world(tmp_path_factory.mktemp("browser"))


@pytest.fixture(scope="module")
def browser(world):
    with launched_chromium() as chromium:
        yield chromium


@pytest.fixture(scope="module")
def people(world, browser):
    """person key -> a page signed in as them (by one-time link), made on first use."""
    pages: dict = {}

    def page_for(key: str):
        if key not in pages:
            pages[key] = sign_in_by_link(world, new_page(world, browser), key)
        return pages[key]

    yield page_for
    for page in pages.values():
        page.context.close()


def room(world, page, ref=None):
    page.goto(f"{world.url}/incidents/{ref or state['ref']}")
    return page


def test_sign_in_by_one_time_link_and_sign_out(world, browser):
    page = new_page(world, browser)
    page.goto(world.url + "/")
    shoot(page, "login")
    email = world.hub.policy.people["julia"].email
    page.fill("#email", email)
    page.click("text=Email me a sign-in link")
    link = world.new_link(email, 0)
    page.goto(link)
    expect(page.locator("h1")).to_have_text("Sign in as Julia Costa")
    page.click("#continue")
    expect(page.locator(".signout .who")).to_have_text("Julia Costa")
    page.goto(link)  # a link works once
    expect(page.locator("h1")).to_have_text("This link no longer works")
    page.goto(world.url + "/")
    page.click("text=Sign out")
    expect(page.locator("h1")).to_have_text("Sign in")
    page.goto(world.url + "/")
    expect(page).to_have_url(re.compile("/login"))
    page.context.close()


def test_sign_in_through_the_fake_entra_endpoint(world, browser):
    page = new_page(world, browser)
    page.goto(world.url + "/login")
    page.click("#signin-microsoft")
    expect(page).to_have_url(re.compile(re.escape(world.entra.url) + r"/.*/authorize\?"))
    assert "code_challenge_method=S256" in page.url
    page.click("text=chloe.martin@northwind.example")
    expect(page.locator(".signout .who")).to_have_text("Chloe Martin")
    cookie = next(c for c in page.context.cookies() if c["name"] == "mihub_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Lax" and not cookie["secure"]
    assert (
        world.entra.issued_id_tokens[-1]["preferred_username"] == "chloe.martin@northwind.example"
    )
    state["chloe"] = page
    stranger = new_page(world, browser)
    stranger.goto(world.url + "/login")
    stranger.click("#signin-microsoft")
    stranger.click("text=stranger@northwind.example")
    expect(stranger.locator(".flash-error")).to_contain_text("not among the people")
    stranger.context.close()


def test_declare_with_the_live_classification_preview(world, people):
    page = people("anna")
    page.goto(world.url + "/declare")
    page.fill("#title", "Payroll is down for everyone")
    page.check("input[name=services][value=payroll]")
    page.check("input[name=impact][value=outage]")
    expect(page.locator("#classification .rule")).to_have_text("critical-service-outage")
    expect(page.locator("#classification")).to_contain_text("Major incident")
    shoot(page, "declare")
    page.click("#declare")
    expect(page.locator("h1")).to_contain_text("Payroll is down for everyone")
    state["ref"] = re.search(r"INC-\d+", page.url).group(0)
    expect(page.locator(".room-head .state")).to_have_text("declared")


def test_acknowledge(world, people):
    page = room(world, people("anna"))
    page.click("#acknowledge")
    expect(page.locator(".flash-success")).to_contain_text("Acknowledged as Major Incident Manager")
    expect(page.locator(".room-head .state")).to_have_text("mobilised")


def test_post_an_update_and_find_it_at_the_smtp_sink(world):
    world.smtp.reject["exec-team@northwind.example"] = "550 5.1.1 mailbox unavailable"
    page = room(world, state["chloe"])
    page.fill("#update-text", UPDATE)
    expect(page.locator("#update-preview .preview-mail .mail-body")).to_contain_text(UPDATE)
    expect(page.locator("#update-preview .ac-card")).to_contain_text(UPDATE)
    expect(page.locator("#update-preview #preview-status")).to_contain_text(UPDATE)
    shoot(page, "incident-room")
    page.click("#post-update")
    expect(page.locator(".flash-success")).to_have_text("Update posted.")
    expect(page.locator(".timeline")).to_contain_text(UPDATE)
    mail = world.wait_for_mail("it-staff@northwind.example", UPDATE)
    assert f"[{state['ref']}]" in mail["Subject"]


def test_retry_a_failed_delivery_from_the_operations_page(world, people):
    page = people("anna")
    page.goto(world.url + "/ops/outbox?show=failed")
    row = page.locator("tr", has_text="exec-team@northwind.example").first
    expect(row.locator(".status")).to_have_text("failed")
    shoot(page, "ops-outbox")
    world.smtp.reject.clear()
    row.locator("button", has_text="Retry").click()
    expect(page.locator(".flash-success")).to_contain_text("Retrying")
    world.wait_for_mail("exec-team@northwind.example", UPDATE)
    page.goto(world.url + "/ops/outbox?show=all")
    expect(
        page.locator("tr", has_text="exec-team@northwind.example").first.locator(".status")
    ).to_have_text("sent")
    room(world, page)
    expect(page.locator(".timeline")).to_contain_text("retried by anna")


def test_resolve(world, people):
    page = room(world, people("anna"))
    page.click('details.action summary:has-text("Resolve")')
    page.fill("#resolve-summary", "Restarted the payroll connector; runs verified.")
    page.click("#resolve")
    expect(page.locator(".flash-success")).to_have_text("Resolved.")
    page.reload()
    expect(page.locator(".room-head .state")).to_have_text("review due")
    expect(page.locator("text=Post-incident review (draft)")).to_be_visible()


def test_edit_approve_and_publish_the_review(world, people):
    david = people("david")
    david.goto(f"{world.url}/incidents/{state['ref']}/review")
    for field in ("summary", "impact", "root_causes", "trigger", "detection", "resolution"):
        david.fill(f"#f-{field}", f"The {field.replace('_', ' ')} of the payroll outage.")
    david.fill("input[name='item-0-title']", "Alert on connector restarts")
    david.fill("input[name='item-0-owner']", "felix")
    david.fill("input[name='item-0-due']", "2030-01-31")
    david.click("#review-save")
    expect(david.locator(".flash-success")).to_have_text("Review saved.")
    expect(david.locator("input[name='item-0-title']")).to_have_value("Alert on connector restarts")
    david.click("#review-submit")
    expect(david.locator(".flash-success")).to_have_text("Submitted for approval.")
    shoot(david, "review")
    anna = people("anna")
    anna.goto(f"{world.url}/incidents/{state['ref']}/review")
    anna.click("#review-approve")
    expect(anna.locator(".flash-success")).to_contain_text("Approved")
    expect(anna.locator(".review-badge")).to_have_text("Published", timeout=60_000)
    anna.click("#published-link")
    expect(anna.locator("body")).to_contain_text("Alert on connector restarts")


def test_hostile_text_in_every_field_shows_as_text(world, people):
    anna, david = people("anna"), people("david")
    anna.goto(world.url + "/declare")
    anna.fill("#title", HOSTILE)
    anna.fill("#description", HOSTILE)
    anna.fill("#other_services", HOSTILE)
    anna.fill("#reporter", HOSTILE)
    refused = anna.locator("p.flash-error[role=alert]")  # not a service: refused, as text
    expect(refused).to_contain_text("unknown service")
    expect(refused).to_contain_text('<script>alert("s")</script>')
    anna.fill("#other_services", "")
    anna.check("input[name=security]")
    expect(anna.locator("#classification .rule")).to_have_text("security-incident")
    anna.click("#declare")
    expect(anna.locator("h1")).to_contain_text('<script>alert("s")</script>')
    ref = re.search(r"INC-\d+", anna.url).group(0)
    state["hostile"] = ref
    anna.fill("#update-text", HOSTILE)
    expect(anna.locator("#update-preview .preview-mail .mail-body")).to_contain_text("<script>")
    expect(anna.locator("#update-preview #preview-status")).to_contain_text("<script>")
    anna.click("#post-update")
    expect(anna.locator(".timeline")).to_contain_text('onerror=alert("i")')
    anna.click('details.action summary:has-text("Re-classify")')
    anna.fill("#classify-reason", HOSTILE)
    anna.click("#reclassify")
    # the re-classification's page first: a Resolve sent while it still loads gets its
    # "Resolved." taken by that page's redirect
    expect(anna.locator(".flash-success")).to_contain_text("Re-classified")
    anna.click('details.action summary:has-text("Resolve")')
    anna.fill("#resolve-summary", HOSTILE)
    anna.click("#resolve")
    expect(anna.locator(".flash-success")).to_have_text("Resolved.")
    david.goto(f"{world.url}/incidents/{ref}/review")
    for field in ("summary", "impact", "root_causes", "lessons"):
        david.fill(f"#f-{field}", HOSTILE)
    david.fill("input[name='item-0-title']", HOSTILE)
    david.fill("input[name='item-0-owner']", HOSTILE[:100])
    david.click("#review-save")
    expect(david.locator(".flash-success")).to_have_text("Review saved.")
    quarantine_an_email(world, HOSTILE[:150])
    for path in (
        "/",
        f"/incidents/{ref}",
        f"/incidents/{ref}/review",
        "/ops/outbox?show=all",
        "/ops/quarantine",
        "/ops/intake",
        "/ops/sinks/?show=teams",
        "/ops/policy",
    ):
        anna.goto(world.url + path)
        expect(anna.locator("main")).to_be_visible()
        assert anna.locator("main script, main img[src=x], main svg[onload]").count() == 0, path
    anna.goto(f"{world.url}/incidents/{ref}")
    expect(anna.locator(".room-head h1")).to_contain_text("{{7*7}}")
    assert world.dialogs == [], world.dialogs


def test_a_cross_site_form_carries_no_session_cookie_and_is_refused(world, people):
    anna = people("anna")
    anna.goto(world.evil_url)
    expect(anna.locator("h1")).to_have_text("Not allowed")
    forged = [
        r
        for r in world.recorder.seen
        if r["method"] == "POST"
        and r["path"] == "/declare"
        and (r["origin"] or "").startswith("http://localhost")
    ]
    assert forged and forged[-1]["status"] == 403
    assert "mihub_session" not in forged[-1]["cookies"]
    anna.goto(world.url + "/declare")
    status = anna.evaluate("""() => fetch('/declare', {method: 'POST',
        body: new URLSearchParams({title: 'no token'})}).then(r => r.status)""")
    assert status == 403
    token = csrf_of(anna)
    status = anna.evaluate(
        """(t) => fetch('/declare/preview', {method: 'POST',
        headers: {'X-CSRF-Token': t}, body: new URLSearchParams({title: 'ok'})})
        .then(r => r.status)""",
        token,
    )
    assert status == 200


def test_screenshots_of_every_page_fit_a_phone(world, people):
    from hub.app.models import Notification
    from hub.channels.email.sink import SinkTransport
    from hub.notifications.notify import materialize

    open_some_incidents(world)

    with world.hub.db.session(write=False) as session:  # some mail for the email sink's tab
        rows = session.query(Notification).filter_by(channel="email", status="sent").limit(4)
        for row in rows:
            SinkTransport(world.data_dir).send(materialize(row.payload, world.hub.settings))
    anna = people("anna")
    pages = {
        "board": "/",
        "incident-room-resolved": f"/incidents/{state['ref']}",
        "incident-room-hostile": f"/incidents/{state['hostile']}",
        "review-published": f"/incidents/{state['ref']}/review",
        "declare-empty": "/declare",
        "ops": "/ops/",
        "ops-outbox-all": "/ops/outbox?show=all",
        "ops-quarantine": "/ops/quarantine",
        "ops-intake": "/ops/intake",
        "ops-policy": "/ops/policy",
        "schedules": "/schedules",
        "ops-sinks-email": "/ops/sinks/?show=email",
        "ops-sinks-teams": "/ops/sinks/?show=teams",
        "error-404": "/incidents/INC-999999",
    }
    wide = []
    for name, path in pages.items():
        anna.goto(world.url + path)
        shoot(anna, name)
        anna.set_viewport_size({"width": 375, "height": 812})
        if anna.evaluate("document.documentElement.scrollWidth") > 375:
            wide.append(name)
        anna.set_viewport_size(DESKTOP)
    assert wide == [], f"wider than a 375 px phone: {wide}"
    assert world.dialogs == []
