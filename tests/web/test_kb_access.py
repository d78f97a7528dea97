"""/kb/: signed-in readers unless HUB_KB_ACCESS=public; security reviews stay private; headers."""

from __future__ import annotations

import base64
import hashlib
import re

import pytest

from hub import create_app
from hub.app.context import Hub
from hub.app.migrate import upgrade
from hub.app.models import Review
from hub.app.settings import load_settings
from hub.http.auth import create_token
from hub.reviews.publish.site import publish_site
from hub.testing.fakes.base import loopback_only
from tests.review_factory import T0, published_review
from tests.web_kit import sign_in

SECRET_TITLE = "Phishing kit harvested VPN passwords"
PUBLIC_TITLE = "Ransomware on the print server, told openly"
ORDINARY_TITLE = "Payroll batch stuck behind a full disk"


def _published_hub(tmp_path, policy, access: str) -> tuple[Hub, dict]:
    data = tmp_path / access / "var"
    settings = load_settings(
        overrides={
            "HUB_DATA_DIR": str(data),
            "HUB_DATABASE_URL": f"sqlite:///{data / 'hub.db'}",
            "HUB_KB_ACCESS": access,
        }
    )
    upgrade(settings.database_url)
    hub = Hub(settings, policy=policy)
    refs = {}
    with hub.db.session() as session:
        for n, (title, security, tags) in enumerate(
            [
                (ORDINARY_TITLE, False, ("software",)),
                (SECRET_TITLE, True, ("security",)),
                (PUBLIC_TITLE, True, ("security", "public")),
            ],
            1,
        ):
            review: Review = published_review(session, policy, n, title=title, tags=tags)
            review.incident.security = security
            session.flush()
            refs[title] = review.incident.ref
    with loopback_only():
        publish_site(hub, now=T0)
    return hub, refs


@pytest.fixture(scope="module")
def sites(tmp_path_factory, example_policy):
    root = tmp_path_factory.mktemp("kb-access")
    hubs = {
        access: _published_hub(root, example_policy, access) for access in ("signed-in", "public")
    }
    yield hubs
    for hub, _ in hubs.values():
        hub.db.dispose()


def test_signed_out_browsers_go_to_sign_in(sites):
    hub, refs = sites["signed-in"]
    client = create_app({"TESTING": True}, hub=hub).test_client()
    for path in ("/kb/", f"/kb/reviews/{refs[SECRET_TITLE]}/", "/kb/search/search_index.json"):
        response = client.get(path)
        assert response.status_code == 302, path
        assert response.headers["Location"].startswith("/login?next=/kb/")


def test_signed_in_readers_see_every_review(sites):
    hub, refs = sites["signed-in"]
    client = create_app({"TESTING": True}, hub=hub).test_client()
    sign_in(client, hub, "anna")
    home = client.get("/kb/")
    assert home.status_code == 200
    for title, ref in refs.items():
        page = client.get(f"/kb/reviews/{ref}/")
        assert page.status_code == 200 and title in page.get_data(as_text=True)


def test_an_api_token_reads_it_too(sites):
    hub, refs = sites["signed-in"]
    client = create_app({"TESTING": True}, hub=hub).test_client()
    with hub.db.session() as session:
        token = create_token(session, hub.policy, "chloe", "test")
    ok = client.get(
        f"/kb/reviews/{refs[ORDINARY_TITLE]}/", headers={"Authorization": f"Bearer {token}"}
    )
    assert ok.status_code == 200
    bad = client.get("/kb/", headers={"Authorization": "Bearer mih_nope"})
    assert bad.status_code == 302 and bad.headers["Location"].startswith("/login")


def test_the_console_security_headers(sites):
    hub, refs = sites["signed-in"]
    client = create_app({"TESTING": True}, hub=hub).test_client()
    sign_in(client, hub, "anna")
    page = client.get(f"/kb/reviews/{refs[ORDINARY_TITLE]}/")
    headers = page.headers
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["X-Frame-Options"] == "DENY"
    csp = headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in csp and "object-src 'none'" in csp
    assert "'unsafe-inline'" not in csp.split("script-src")[1].split(";")[0]
    # every inline script of the page is allowed by its hash, and only those
    body = page.get_data()
    inline = re.findall(
        rb"<script(?![^>]*\bsrc=)(?![^>]*application/json)[^>]*>(.*?)</script>", body, re.S
    )
    for script in inline:
        digest = base64.b64encode(hashlib.sha256(script).digest()).decode()
        assert f"'sha256-{digest}'" in csp
    with client.get("/kb/search/search_index.json") as asset:
        assert asset.headers["X-Content-Type-Options"] == "nosniff"
    missing = client.get("/kb/no-such-page/")
    assert missing.status_code == 404 and missing.headers["X-Frame-Options"] == "DENY"


def test_a_public_kb_leaves_security_reviews_out_unless_tagged_public(sites):
    hub, refs = sites["public"]
    client = create_app({"TESTING": True}, hub=hub).test_client()  # nobody signed in
    assert client.get("/kb/").status_code == 200
    assert client.get(f"/kb/reviews/{refs[ORDINARY_TITLE]}/").status_code == 200
    assert client.get(f"/kb/reviews/{refs[PUBLIC_TITLE]}/").status_code == 200
    assert client.get(f"/kb/reviews/{refs[SECRET_TITLE]}/").status_code == 404
    site = hub.settings.data_dir / "kb" / "site"
    everything = "".join(
        p.read_text(errors="replace")
        for p in site.rglob("*")
        if p.is_file() and p.suffix in (".html", ".json", ".xml")
    )
    assert SECRET_TITLE not in everything and refs[SECRET_TITLE] + "/" not in everything
    assert PUBLIC_TITLE in everything
