"""The status page in Chromium at phone width (390 px), light and dark: axe-core finds no
serious or critical violation, nothing is wider than the screen, and the page works without
script (it has none)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.browser_kit import SHOTS, launched_chromium, open_world, require_browser

sync_api = require_browser()
pytestmark = pytest.mark.browser

from tests.browser_steps import sign_in_by_link  # noqa: E402
from tests.web.test_browser_axe import serious_violations  # noqa: E402

PHONE_390 = {"width": 390, "height": 844}
HOSTILE = "<script>alert('x')</script><b>bold</b>"


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    yield from open_world(tmp_path_factory.mktemp("browser-status"))


@pytest.fixture(scope="module")
def status_world(world):
    """Open and resolved incidents with public and internal updates, and maintenance."""
    from hub.app.db import utcnow
    from hub.incidents import operations as ops
    from hub.incidents import records
    from hub.status.maintenance import schedule_maintenance
    from tests.web.test_web_pages import declare

    hub = world.hub
    hub.settings.values["HUB_STATUS_PUBLIC"] = "true"
    down = declare(hub, f"Portal down {HOSTILE}", ("customer-portal",), "outage")
    slow = declare(hub, "Sign-in slow for everyone", ("identity",), "degraded", reporter="chloe")
    over = declare(hub, "Email bouncing", ("email",), "outage", reporter="felix")
    now = utcnow()
    with hub.transaction() as session:
        for ref, text, public in (
            (down, f"Pool exhausted on db-7 {HOSTILE}", f"Tracking is failing {HOSTILE}"),
            (down, "Raised the pool to 400", None),
            (slow, "MFA provider latency", "Sign-in takes longer than usual"),
            (over, "Connector certificate expired", "Some mail was delayed"),
        ):
            incident = records.get_incident(session, ref, lock=True)
            ops.post_update(
                session, hub.policy, incident, text, actor="anna", now=now, public_text=public
            )
        ops.resolve(
            session,
            hub.policy,
            records.get_incident(session, over, lock=True),
            "Renewed the certificate",
            actor="anna",
            now=now,
        )
        schedule_maintenance(
            session,
            hub.policy,
            services=["vpn"],
            start=now + timedelta(hours=2),
            end=now + timedelta(hours=4),
            text="Firewall firmware",
            public_text="The VPN will be unavailable for two hours",
            actor="chloe",
            now=now,
        )
    return world


@pytest.fixture(scope="module")
def browser(world):
    with launched_chromium() as chromium:
        yield chromium


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_status_pages_pass_axe_at_390_px(status_world, browser, scheme):
    world = status_world
    found = {}
    for label, path, person in (
        ("public", "/status", None),
        ("internal", "/status", "anna"),
        ("maintenance-form", "/status/maintenance", "chloe"),
    ):
        context = browser.new_context(
            viewport=PHONE_390, bypass_csp=True, color_scheme=scheme, java_script_enabled=True
        )
        page = context.new_page()
        page.set_default_timeout(20_000)
        if person:
            sign_in_by_link(world, page, person)
        page.goto(world.url + path)
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE_390["width"]
        assert page.evaluate("document.scripts.length") == (0 if path == "/status" else 1)
        assert page.evaluate("document.querySelectorAll('b').length") == 0  # hostile text escaped
        if path == "/status":  # every link a finger can hit (WCAG 2.5.8: at least 24 px high)
            small = page.evaluate(
                "[...document.querySelectorAll('main a, footer a')]"
                ".filter(a => a.getBoundingClientRect().height < 24).map(a => a.textContent)"
            )
            assert small == []
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / f"status-{label}-{scheme}.png"), full_page=True)
        problems = serious_violations(page)
        if problems:
            found[label] = problems
        context.close()
    assert found == {}


def test_the_public_page_reads_the_same_without_script(status_world, browser):
    context = browser.new_context(viewport=PHONE_390, java_script_enabled=False)
    page = context.new_page()
    page.goto(status_world.url + "/status")
    text = page.inner_text("main")
    assert "Some services are down" in text
    assert "Tracking is failing <script>alert('x')</script><b>bold</b>" in text
    assert "The VPN will be unavailable for two hours" in text
    assert "db-7" not in text and "Portal down" not in text and "Payroll" not in text
    context.close()
