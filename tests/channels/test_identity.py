"""msal against the local fake identity platform and Graph, over real HTTP on 127.0.0.1."""

from __future__ import annotations

import threading

import pytest

from hub.app.settings import SettingsError, load_settings
from hub.channels.base import PermanentError, TransientError
from hub.channels.email.compose import ThreadInfo, render_email
from hub.channels.email.transports import GraphTransport, make_mail_transport
from hub.channels.identity import (
    FAKE_LOGIN_HOST,
    LoopbackSession,
    TokenSource,
    clear_token_sources,
    get_token_source,
    resolve_authority,
)
from hub.testing.fakes.microsoft import FakeMicrosoft

pytestmark = pytest.mark.usefixtures("no_internet")

GRAPH = ["https://graph.microsoft.com/.default"]
TENANT, CLIENT, SECRET = "tenant-1", "client-1", "s3cret-value"


@pytest.fixture(autouse=True)
def fresh_token_sources():
    """The token sources (one msal app each) hold connections to this module's fake."""
    yield
    clear_token_sources()


@pytest.fixture
def fake():
    server = FakeMicrosoft(tenant=TENANT, clients={CLIENT: SECRET}).start()
    yield server
    server.stop()


def settings_for(fake, **overrides):
    return load_settings(
        env={},
        overrides={
            "HUB_AUTHORITY_HOST": fake.url,
            "HUB_GRAPH_API": f"{fake.url}/v1.0",
            "HUB_GRAPH_TENANT_ID": TENANT,
            "HUB_GRAPH_CLIENT_ID": CLIENT,
            "HUB_GRAPH_CLIENT_SECRET": SECRET,
            "HUB_GRAPH_MAILBOX": "hub@northwind.example",
            "HUB_MAIL_FROM": "Major Incident Hub <hub@northwind.example>",
            "HUB_MAIL_TRANSPORT": "graph",
            "HUB_SECRET_KEY": "test-key",
            **overrides,
        },
    )


def payload(settings, n=0, to="anna@northwind.example"):
    context = {
        "incident": {
            "id": "INC-7",
            "title": "Payroll down",
            "severity": "SEV1",
            "state": "investigating",
            "major": True,
            "services": ["payroll"],
            "reasons": ["critical service down"],
            "summary": "",
            "url": "http://hub/i/7",
            "bridge_url": None,
            "roles": [],
            "created_at_local": "14:02 CET",
        },
        "recipient": {"name": "Anna", "email": to},
        "update": None,
        "next_update_at_local": "14:30 CET",
        "sla": None,
        "page": None,
        "policy_timezone": "Europe/Berlin",
        "hub_url": "http://hub",
        "ack_url": "http://hub/a",
    }
    return render_email(
        "incident-declared",
        context,
        to=to,
        settings=settings,
        thread=ThreadInfo("INC-7", f"declared:INC-7|{to}|email|{n}"),
    )


def test_token_acquired_once_and_reused_across_many_sends(fake):
    settings = settings_for(fake)
    transport = make_mail_transport(settings)
    for n in range(40):
        assert transport.send(payload(settings, n)).detail == "202 Accepted"
    assert len(fake.sent) == 40
    assert fake.token_requests == 1
    assert fake.discovery_requests == 1
    assert get_token_source(settings) is transport.tokens  # one per process


def test_cold_start_from_many_threads_asks_for_one_token(fake):
    source = TokenSource(settings_for(fake))
    tokens, barrier = [], threading.Barrier(8)

    def worker():
        barrier.wait()
        tokens.append(source.token(GRAPH))

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(tokens)) == 1 and fake.token_requests == 1 and source.apps_built == 1


def test_token_endpoint_failures_are_transient_and_heal(fake):
    source = TokenSource(settings_for(fake))
    fake.fail_next(f"/{TENANT}/oauth2/", 500, times=2)
    for _ in range(2):
        with pytest.raises(TransientError, match="HTTP Error: 500"):
            source.token(GRAPH)
    # msal would replay the cached 500 for a while; a rebuilt app asks the endpoint again
    assert source.token(GRAPH).startswith("fake.")
    assert fake.token_requests == 3 and source.apps_built == 3


def test_token_endpoint_429_carries_retry_after(fake):
    source = TokenSource(settings_for(fake))
    fake.fail_next(f"/{TENANT}/oauth2/", 429, retry_after=9)
    with pytest.raises(TransientError) as caught:
        source.token(GRAPH)
    assert caught.value.retry_after == 9
    assert source.token(GRAPH)


def test_wrong_secret_is_permanent_with_a_clear_message(fake):
    source = TokenSource(settings_for(fake, HUB_GRAPH_CLIENT_SECRET="wrong"))
    with pytest.raises(PermanentError) as caught:
        source.token(GRAPH)
    message = str(caught.value)
    assert message.startswith(
        "Microsoft identity platform refused the app credentials: "
        "invalid_client: AADSTS7000215: Invalid client secret provided."
    )
    assert "wrong" not in message and "\n" not in message


def test_unknown_client_and_tenant_are_permanent(fake):
    with pytest.raises(PermanentError, match="unauthorized_client: AADSTS700016"):
        TokenSource(settings_for(fake, HUB_GRAPH_CLIENT_ID="nobody")).token(GRAPH)
    with pytest.raises(PermanentError, match="refused the authority"):
        TokenSource(settings_for(fake, HUB_GRAPH_TENANT_ID="other")).token(GRAPH)


def test_identity_down_is_transient_until_it_returns(fake):
    source = TokenSource(settings_for(fake))
    fake.stop()
    with pytest.raises(TransientError, match="ConnectionError"):
        source.token(GRAPH)
    fake.start()
    assert source.token(GRAPH)


def test_graph_429_is_transient_with_retry_after(fake):
    settings = settings_for(fake)
    transport = make_mail_transport(settings)
    fake.fail_next("/v1.0/users/", 429, retry_after=7)
    with pytest.raises(TransientError) as caught:
        transport.send(payload(settings))
    assert caught.value.retry_after == 7 and "TooManyRequests" in str(caught.value)
    assert transport.send(payload(settings)).detail == "202 Accepted"


@pytest.mark.parametrize("status", [500, 503, 504])
def test_graph_5xx_is_transient(fake, status):
    settings = settings_for(fake)
    fake.fail_next("/v1.0/users/", status)
    with pytest.raises(TransientError, match=f"Graph sendMail {status}"):
        make_mail_transport(settings).send(payload(settings))


def test_graph_4xx_is_permanent_with_graphs_message(fake):
    settings = settings_for(fake)
    fake.fail_next(
        "/v1.0/users/",
        403,
        body={
            "error": {
                "code": "ErrorAccessDenied",
                "message": "Access is denied. Check credentials.",
            }
        },
    )
    with pytest.raises(PermanentError, match="403: ErrorAccessDenied: Access is denied"):
        make_mail_transport(settings).send(payload(settings))


def test_graph_401_drops_the_token_and_the_retry_gets_a_new_one(fake):
    settings = settings_for(fake)
    transport = make_mail_transport(settings)
    transport.send(payload(settings))
    fake.revoke_tokens()
    with pytest.raises(TransientError, match="401: InvalidAuthenticationToken"):
        transport.send(payload(settings, 1))
    transport.send(payload(settings, 1))
    assert fake.token_requests == 2 and len(fake.sent) == 2


def test_slow_graph_times_out_as_transient(fake):
    settings = settings_for(fake)
    transport = GraphTransport(settings, TokenSource(settings), timeout=0.3)
    transport.tokens.token(GRAPH)
    fake.slow(1.0, "/v1.0/")
    with pytest.raises(TransientError, match="Timeout"):
        transport.send(payload(settings))


def test_mime_format_keeps_threading_headers(fake):
    settings = settings_for(fake)
    sent = payload(settings)
    make_mail_transport(settings).send(sent)
    record = fake.sent[0]
    assert record["format"] == "mime" and record["mailbox"] == "hub@northwind.example"
    message = record["message"]
    for name in (
        "Message-ID",
        "In-Reply-To",
        "References",
        "Reply-To",
        "Auto-Submitted",
        "X-Auto-Response-Suppress",
        "Thread-Index",
    ):
        assert message[name].strip() == sent["headers"][name], name  # folding may add a space
    assert message.get_body(("plain",)).get_content().startswith("## Reply above this line")


def test_json_format_sends_only_x_headers_and_skips_sent_items(fake):
    settings = settings_for(fake, HUB_GRAPH_MAIL_FORMAT="json")
    sent = payload(settings)
    make_mail_transport(settings).send(sent)
    body = fake.sent[0]["json"]
    assert body["saveToSentItems"] is False
    message = body["message"]
    headers = {h["name"]: h["value"] for h in message["internetMessageHeaders"]}
    assert 1 <= len(headers) <= 5 and all(n.lower().startswith("x-") for n in headers)
    assert headers["X-Mihub-Message-Id"] == sent["headers"]["Message-ID"]
    assert message["replyTo"][0]["emailAddress"]["address"] == sent["headers"]["Reply-To"]
    assert message["toRecipients"] == [{"emailAddress": {"address": "anna@northwind.example"}}]
    assert message["body"]["contentType"] == "HTML"


def test_authority_for_local_fakes_and_the_real_service():
    authority, routes = resolve_authority("http://127.0.0.1:8901", "t")
    assert authority == f"https://{FAKE_LOGIN_HOST}/t"
    assert routes == {FAKE_LOGIN_HOST: "http://127.0.0.1:8901"}
    assert resolve_authority("https://login.microsoftonline.com", "t") == (
        "https://login.microsoftonline.com/t",
        {},
    )
    with pytest.raises(SettingsError, match="only for a local fake"):
        resolve_authority("http://login.example.com", "t")


def test_loopback_session_rewrites_the_fake_host_and_ignores_env(fake, monkeypatch):
    monkeypatch.setenv("HTTPS_PROXY", "http://10.255.255.1:3128")
    session = LoopbackSession({FAKE_LOGIN_HOST: fake.url}, timeout=5)
    assert session.trust_env is False
    response = session.get(
        f"https://{FAKE_LOGIN_HOST}/{TENANT}/v2.0/.well-known/openid-configuration"
    )
    assert response.json()["token_endpoint"].startswith(f"https://{FAKE_LOGIN_HOST}/")
    session.close()


def test_token_sources_are_cached_per_credential(fake):
    first = get_token_source(settings_for(fake))
    assert get_token_source(settings_for(fake)) is first
    assert get_token_source(settings_for(fake, HUB_GRAPH_CLIENT_SECRET="other")) is not first


def test_access_token_never_logged(fake, caplog):
    caplog.set_level("DEBUG")
    token = TokenSource(settings_for(fake)).token(GRAPH)
    assert token not in caplog.text
