"""Steps the browser tests share: new pages, signing in by link, seeding data."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from tests.browser_kit import DESKTOP

HOSTILE = (
    '<script>alert("s")</script><img src=x onerror=alert("i")>"\'><svg onload=alert(1)>'
    "{{7*7}} [x](javascript:alert(2)) **bold** <at>Boss</at>"
)


def new_page(world, browser):
    context = browser.new_context(viewport=DESKTOP)
    page = context.new_page()
    page.set_default_timeout(20_000)
    page.on("dialog", lambda d: (world.dialogs.append(d.message), d.dismiss()))
    return page


def sign_in_by_link(world, page, key: str):
    email = world.hub.policy.people[key].email
    seen = len(world.links_to(email))
    page.goto(world.url + "/")
    expect(page).to_have_url(re.compile(r"/login\?next=/$"))
    page.fill("#email", email)
    page.click("text=Email me a sign-in link")
    expect(page.locator("h1")).to_have_text("Check your mail")
    page.goto(world.new_link(email, seen))
    page.click("#continue")
    expect(page.locator("h1")).to_have_text("Board")
    return page


def quarantine_an_email(world, subject: str) -> None:
    """Mail from outside the allowed senders, posted to the intake API: it lands in quarantine."""
    import requests

    from hub.http.auth import create_token

    with world.hub.db.session() as session:
        token = create_token(session, world.hub.policy, "anna", "browser test")
    raw = (
        f"From: Mallory <mallory@evil.example>\r\nTo: incidents@northwind.example\r\n"
        f"Subject: {subject}\r\nMessage-ID: <q-{len(subject)}@evil.example>\r\n"
        f"Content-Type: text/plain; charset=utf-8\r\n\r\n{HOSTILE}\r\n"
    ).encode()
    http = requests.Session()
    http.trust_env = False
    answer = http.post(
        f"{world.url}/intake/email",
        data=raw,
        timeout=10,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "message/rfc822"},
    )
    assert answer.status_code == 202, answer.text
    assert answer.json()["outcome"] == "quarantined"


def open_some_incidents(world) -> None:
    """Active incidents for the board: major unacknowledged, major with an update, minor."""
    from hub.app.db import utcnow
    from hub.core.classify import Report
    from hub.incidents import operations as ops
    from hub.incidents import records
    from hub.incidents.reports import create_incident
    from tests.workflow_kit import mobilise_pending

    hub = world.hub
    reports = [
        Report(
            title="Warehouse scanners offline at Hamburg hub",
            services=("scanners",),
            impact="outage",
            source="teams",
            reporter="hannah",
        ),
        Report(
            title="VPN slow for remote staff",
            text="about 200 users affected",
            services=("vpn",),
            impact="degraded",
            source="email",
            reporter="grace",
        ),
        Report(
            title="Typo on the careers page",
            services=("website",),
            impact="minor",
            source="web",
            reporter="ivan",
        ),
    ]
    for n, report in enumerate(reports):
        with hub.transaction() as session:
            incident, _ = create_incident(
                session, hub.policy, report, actor=report.reporter, now=utcnow()
            )
        mobilise_pending(hub, incident.id)  # the worker's part: roles, pages, timers
        if n == 1:
            with hub.transaction() as session:
                incident = records.get_incident(session, incident.id, lock=True)
                ops.acknowledge(session, hub.policy, incident, actor="anna", now=utcnow())
                ops.post_update(
                    session,
                    hub.policy,
                    incident,
                    "Failing over to the second VPN gateway; reconnect if your session drops.",
                    actor="chloe",
                    now=utcnow(),
                )
