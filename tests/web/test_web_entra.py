"""Sign-in with Entra ID against the local fake: auth-code flow with PKCE, checked ID tokens."""

from __future__ import annotations

import time
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest
import requests
from cryptography.hazmat.primitives.asymmetric import rsa

from hub.testing.fakes.microsoft import FakeMicrosoft
from hub.testing.fakes.oidc import KEY_ID, pkce_challenge, signing_key
from hub.web import entra
from tests.browser_kit import CLIENT, SECRET, TENANT, entra_users

pytestmark = pytest.mark.usefixtures("no_internet")


@pytest.fixture
def fake(example_policy):
    server = FakeMicrosoft(
        tenant=TENANT, clients={CLIENT: SECRET}, users=entra_users(example_policy)
    ).start()
    yield server
    server.stop()


@pytest.fixture
def console(hub, fake, example_policy):
    """An app whose sign-in is the fake Entra ID, and its test client."""
    from hub import create_app
    from hub.app.context import Hub
    from hub.app.settings import load_settings

    settings = load_settings(
        overrides={
            **hub.settings.values,
            "HUB_SIGNIN": "entra",
            "HUB_AUTHORITY_HOST": fake.url,
            "HUB_GRAPH_TENANT_ID": TENANT,
            "HUB_GRAPH_CLIENT_ID": CLIENT,
            "HUB_GRAPH_CLIENT_SECRET": SECRET,
            "HUB_BASE_URL": "http://hub.test",
        }
    )
    entra._INSTANCES.clear()
    app = create_app({}, hub=Hub(settings, policy=example_policy, db=hub.db))
    yield app.test_client()
    entra._INSTANCES.clear()


def pick_account(authorize_url: str, username: str) -> dict:
    """What the browser does on the fake's page: choose an account, follow the redirect."""
    http = requests.Session()
    http.trust_env = False
    params = {k: v[0] for k, v in parse_qs(urlsplit(authorize_url).query).items()}
    answer = http.post(
        authorize_url.split("?")[0],
        data={**params, "username": username},
        allow_redirects=False,
        timeout=5,
    )
    assert answer.status_code == 302
    location = urlsplit(answer.headers["Location"])
    assert location.path == "/login/microsoft/callback"
    return {k: v[0] for k, v in parse_qs(location.query).items()}


def start(client, next_url="/ops/") -> str:
    response = client.get(f"/login/microsoft?next={next_url}")
    assert response.status_code == 302
    return response.headers["Location"]


def test_auth_code_flow_with_pkce_signs_a_person_in(console, fake):
    login = console.get("/login").get_data(as_text=True)
    assert "Sign in with Microsoft" in login and "Email me" not in login
    url = start(console)
    query = parse_qs(urlsplit(url).query)
    assert url.startswith(fake.url) and query["code_challenge_method"] == ["S256"]
    assert query["redirect_uri"] == ["http://hub.test/login/microsoft/callback"]
    answer = pick_account(url, "chloe.martin@northwind.example")
    done = console.get("/login/microsoft/callback", query_string=answer)
    assert done.status_code == 302 and done.headers["Location"] == "/ops/"
    board = console.get("/")
    assert board.status_code == 200 and "Chloe Martin" in board.get_data(as_text=True)


def test_a_stranger_and_a_replayed_answer_are_refused(console):
    answer = pick_account(start(console), "stranger@northwind.example")
    refused = console.get("/login/microsoft/callback", query_string=answer)
    assert refused.status_code == 403 and "not among the people" in refused.get_data(as_text=True)
    replay = console.get("/login/microsoft/callback", query_string=answer)
    assert replay.status_code == 302 and console.get("/").status_code == 302


def test_a_forged_state_is_refused(console):
    answer = pick_account(start(console), "anna.schmidt@northwind.example")
    forged = console.get("/login/microsoft/callback", query_string={**answer, "state": "x"})
    assert forged.status_code == 401 and console.get("/").status_code == 302


def test_an_error_from_the_identity_platform_is_shown(console):
    start(console)
    answer = {"error": "access_denied", "error_description": "AADSTS50034: no such user"}
    page = console.get("/login/microsoft/callback", query_string=answer)
    assert page.status_code == 401 and "AADSTS50034" in page.get_data(as_text=True)


def test_the_fake_wants_pkce(fake):
    http = requests.Session()
    http.trust_env = False
    page = http.get(
        f"{fake.url}/{TENANT}/oauth2/v2.0/authorize",
        timeout=5,
        params={"client_id": CLIENT, "response_type": "code", "redirect_uri": "http://x/cb"},
    )
    assert page.status_code == 400 and "Proof Key" in page.text
    assert pkce_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk") == (
        "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
    )  # RFC 7636 appendix B


@pytest.mark.parametrize(
    "change, problem",
    [
        ({}, None),
        ({"aud": "someone-else"}, "Audience"),
        ({"iss": "https://login.evil.example/v2.0"}, "issuer"),
        ({"exp": 1_000_000_000}, "expired"),
        ({"key": "stranger"}, "Signature"),
    ],
)
def test_id_tokens_are_checked(fake, change, problem):
    from hub.app.settings import load_settings

    settings = load_settings(
        overrides={
            "HUB_AUTHORITY_HOST": fake.url,
            "HUB_GRAPH_TENANT_ID": TENANT,
            "HUB_GRAPH_CLIENT_ID": CLIENT,
            "HUB_GRAPH_CLIENT_SECRET": SECRET,
        }
    )
    key = signing_key()
    if change.pop("key", None):
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    now = int(time.time())
    claims = {
        "iss": fake.issuer(TENANT),
        "aud": CLIENT,
        "iat": now,
        "exp": now + 600,
        "oid": "x",
        **change,
    }
    token = jwt.encode(claims, key, algorithm="RS256", headers={"kid": KEY_ID})
    sign_in = entra.EntraSignIn(settings)
    if problem is None:
        assert sign_in.verify_id_token(token)["oid"] == "x"
        return
    with pytest.raises(entra.SignInError, match=problem):
        sign_in.verify_id_token(token)


def test_people_are_matched_by_object_id_then_upn(example_policy):
    anna = example_policy.people["anna"]
    assert entra.match_person(example_policy, {"oid": anna.aad_object_id.upper()}) is anna
    assert entra.match_person(example_policy, {"preferred_username": anna.teams}) is anna
    pinned = {"oid": "00000000-0000-4000-8000-000000000000", "preferred_username": anna.teams}
    assert entra.match_person(example_policy, pinned) is None
    assert entra.match_person(example_policy, {"preferred_username": "nobody@x.example"}) is None
