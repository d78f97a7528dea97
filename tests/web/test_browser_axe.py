"""Accessibility: axe-core in Chromium on every console page and the knowledge base's home,
at desktop and phone width: no serious or critical violation."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.browser_kit import DESKTOP, PHONE, launched_chromium, open_world, require_browser

sync_api = require_browser()
pytestmark = pytest.mark.browser

from tests.browser_steps import open_some_incidents, sign_in_by_link  # noqa: E402

AXE = Path(__file__).resolve().parent.parent / "vendor" / "axe-core" / "axe.min.js"
SIZES = {"desktop": DESKTOP, "phone": PHONE}


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    yield from open_world(tmp_path_factory.mktemp("browser-axe"))


@pytest.fixture(scope="module")
def pages(world):
    """(label, path, person or None) for every console page, and the KB's home."""
    from hub.app.db import utcnow
    from hub.reviews.publish.jobs import publish_now
    from tests.web.test_web_pages import declare

    open_some_incidents(world)
    ref = declare(world.hub, title="Payroll is down")
    with world.hub.transaction() as session:
        from hub.incidents import operations as ops
        from hub.incidents import records

        incident = records.get_incident(session, ref, lock=True)
        ops.resolve(session, world.hub.policy, incident, "Restarted.", actor="anna", now=utcnow())
    publish_now(world.hub, None, utcnow())
    with world.hub.transaction() as session:
        from hub.subscriptions import service as subs

        row, _ = subs.subscribe_person(
            session, world.hub.policy, "julia", "service:vpn", "email", "console", utcnow()
        )
        unsubscribe = subs.token_for(world.hub.settings, subs.UNSUBSCRIBE, row)
    link = _awaiting_draft(world.hub, "INC-1")
    return [
        ("login", "/login", None),
        ("board", "/", "anna"),
        ("declare", "/declare", "anna"),
        ("room", "/incidents/INC-1", "anna"),
        ("room-resolved", f"/incidents/{ref}", "anna"),
        ("deliveries", f"/incidents/{ref}/deliveries", "anna"),
        ("review", f"/incidents/{ref}/review", "david"),
        ("ops", "/ops/", "anna"),
        ("ops-outbox", "/ops/outbox?show=all", "anna"),
        ("ops-quarantine", "/ops/quarantine", "anna"),
        ("ops-intake", "/ops/intake", "anna"),
        ("ops-policy", "/ops/policy", "anna"),
        ("ops-sinks", "/ops/sinks/", "anna"),
        ("kb-home", "/kb/", None),
        ("subscriptions", "/subscriptions", "julia"),
        ("unsubscribe", f"/unsubscribe/{unsubscribe}", None),
        ("room-draft", "/incidents/INC-1", "chloe"),
        ("draft-link", "/" + link.split("/", 3)[3], None),
    ]


def _awaiting_draft(hub, ref) -> str:
    """A drafted update waiting for the Communications Owner on `ref`; its signed link."""
    from hub.app.db import utcnow
    from hub.app.models import UpdateDraft
    from hub.incidents import drafts, records

    with hub.transaction() as session:
        incident = records.get_incident(session, ref, lock=True)
        draft = UpdateDraft(incident_id=incident.id, author="felix",
                            request={"text": "Failover <b>started</b>"}, state="awaiting",
                            approver_role="communications_owner", created_at=utcnow(), edits=0)  # fmt: skip
        session.add(draft)
        session.flush()
        assert drafts.may_approve(hub.policy, incident, "chloe", draft.approver_role)  # the form
        return drafts.approval_link(hub.settings, incident, draft, "chloe")


@pytest.fixture(scope="module")
def browser(world):
    with launched_chromium() as chromium:
        yield chromium


@pytest.fixture(scope="module")
def signed_in(world, browser):
    """person (or None) -> a page of a context that bypasses CSP (to inject axe)."""
    made: dict = {}

    def page_for(person):
        if person not in made:
            context = browser.new_context(viewport=DESKTOP, bypass_csp=True)
            page = context.new_page()
            page.set_default_timeout(20_000)
            made[person] = sign_in_by_link(world, page, person) if person else page
        return made[person]

    yield page_for
    for page in made.values():
        page.context.close()


def serious_violations(page) -> list[str]:
    page.add_script_tag(path=str(AXE))
    result = page.evaluate(
        """() => axe.run(document, {resultTypes: ['violations']}).then(r => r.violations
             .filter(v => v.impact === 'serious' || v.impact === 'critical')
             .map(v => v.impact + ' ' + v.id + ': ' + v.help + ' — ' +
                  v.nodes.slice(0, 3).map(n => n.target.join(' ')).join(' | ')))"""
    )
    return list(result)


@pytest.mark.parametrize("size", list(SIZES))
def test_no_serious_or_critical_violation_on_any_page(world, pages, signed_in, size):
    found = {}
    for label, path, person in pages:
        page = signed_in(person)
        page.set_viewport_size(SIZES[size])
        page.goto(world.url + path)
        problems = serious_violations(page)
        if problems:
            found[label] = problems
    assert found == {}
