"""The knowledge base's problem register, and reviews that show their problems, including
reviews published before the problem was linked."""

from __future__ import annotations

from datetime import UTC, datetime

from hub.app.context import Hub
from hub.app.migrate import upgrade
from hub.app.settings import load_settings
from hub.reviews import problems as problem_ops
from hub.reviews.publish.site import publish_site
from hub.testing.fakes.base import loopback_only
from tests.review_factory import published_review

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
HOSTILE = "<script>alert(1)</script> [x](javascript:alert(2))"


def test_the_register_and_a_review_published_before_the_link(tmp_path, example_policy):
    data = tmp_path / "var"
    settings = load_settings(
        overrides={"HUB_DATA_DIR": str(data), "HUB_DATABASE_URL": f"sqlite:///{data / 'hub.db'}"}
    )
    upgrade(settings.database_url)
    hub = Hub(settings, policy=example_policy)
    with hub.db.session() as session:
        ref = published_review(session, hub.policy, 1, title="Payroll runs failed").incident.ref
    with loopback_only():
        publish_site(hub, now=NOW)
    root = (data / "kb" / "site").resolve()
    assert "PRB-" not in (root / "reviews" / ref / "index.html").read_text()
    with hub.db.session() as session:
        problem = problem_ops.create_problem(
            session,
            hub.policy,
            {"title": "Connector leaks memory " + HOSTILE},
            actor="david",
            now=NOW,
        )
        problem_ops.update_problem(
            session,
            hub.policy,
            problem,
            {
                "incidents": [ref],
                "workaround": "Restart the payroll connector nightly. " + HOSTILE,
                "state": "known_error",
            },
            actor="david",
            now=NOW,
        )
        number = problem.ref
    with loopback_only():
        counts, built = publish_site(hub, now=NOW)
    root = built.site.resolve()
    assert counts["rendered"] == 1  # the review published before the link, again
    review = (root / "reviews" / ref / "index.html").read_text()
    assert number in review and "Restart the payroll connector nightly" in review
    assert f'href="../../problems/{number}/"' in review
    register = (root / "problems" / "index.html").read_text()
    assert number in register and "Known error" in register and ref in register
    page = (root / "problems" / number / "index.html").read_text()
    assert "Known error: the workaround" in page and "Restart the payroll connector" in page
    assert f'href="../../reviews/{ref}/"' in page
    for html in (review, register, page):
        assert "<script>alert(1)" not in html and 'href="javascript:' not in html
    hub.db.dispose()
