"""Access tokens from the Microsoft identity platform: one msal app per credential per process.

`get_token_source(settings).token(["https://graph.microsoft.com/.default"])` returns a bearer
token; msal caches it (a token with under 5 minutes left counts as expired) and the
`ConfidentialClientApplication` is built lazily, because its constructor makes network calls
(OpenID discovery), then reused. After any failed request the app is dropped and rebuilt on
the next call: msal replays a failed answer from its HTTP cache (400 for 60 s, 429/5xx until
Retry-After), so a healed endpoint would otherwise look broken. Tokens survive the rebuild in a
shared `TokenCache`.

Local fakes: msal accepts only `https://` authorities. Setting `HUB_AUTHORITY_HOST` to a
plain-http loopback address, e.g. `http://127.0.0.1:8901`, makes msal use the authority
`https://login.fake.test/<tenant>` with `instance_discovery=False`, and hands it a
`LoopbackSession` that sends every `https://login.fake.test/...` request to
`http://127.0.0.1:8901/...` and ignores proxy and CA-bundle environment variables
(`trust_env=False`). Plain http to any other host is refused. See `hub.testing.fakes.microsoft`.
"""

from __future__ import annotations

import hashlib
import threading
from urllib.parse import urlsplit

import msal
import requests

from hub.app.settings import Settings, SettingsError
from hub.channels.base import PermanentError, TransientError, parse_retry_after

FAKE_LOGIN_HOST = "login.fake.test"
PUBLIC_LOGIN_HOST = "login.microsoftonline.com"
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")
HTTP_TIMEOUT = 10.0
# OAuth errors that no retry can fix: the credentials or the request are wrong.
CREDENTIAL_ERRORS = frozenset({"invalid_client", "unauthorized_client"})
REQUEST_ERRORS = frozenset(
    {
        "invalid_scope",
        "invalid_request",
        "invalid_grant",
        "unsupported_grant_type",
        "invalid_resource",
        "invalid_tenant",
    }
)


class TimeoutSession(requests.Session):
    """A session that gives every request a timeout and remembers the last Retry-After."""

    def __init__(self, timeout: float = HTTP_TIMEOUT):
        super().__init__()
        self.timeout = timeout
        self.last_retry_after: float | None = None
        self.hooks["response"].append(self._remember)

    def _remember(self, response, *args, **kwargs):
        self.last_retry_after = parse_retry_after(response.headers.get("Retry-After"))

    def request(self, method, url, *args, **kwargs):
        kwargs.setdefault("timeout", self.timeout)
        return super().request(method, url, *args, **kwargs)


class LoopbackSession(TimeoutSession):
    """Rewrites `https://<fake host>/…` to a local `http://127.0.0.1:<port>/…`; ignores env."""

    def __init__(self, routes: dict[str, str], timeout: float = HTTP_TIMEOUT):
        super().__init__(timeout)
        self.trust_env = False
        self.routes = {host.lower(): base.rstrip("/") for host, base in routes.items()}

    def request(self, method, url, *args, **kwargs):
        parts = urlsplit(url)
        base = self.routes.get((parts.hostname or "").lower()) if parts.scheme == "https" else None
        if base:
            url = base + parts.path + (f"?{parts.query}" if parts.query else "")
        return super().request(method, url, *args, **kwargs)


def resolve_authority(authority_host: str, tenant: str) -> tuple[str, dict[str, str]]:
    """The https authority msal sees, and loopback routes when the host is a local fake."""
    parts = urlsplit(authority_host.rstrip("/"))
    if parts.scheme == "http":
        if parts.hostname not in LOOPBACK_HOSTS:
            raise SettingsError(
                "HUB_AUTHORITY_HOST may be plain http only for a local fake "
                f"on 127.0.0.1, got {authority_host!r}"
            )
        return f"https://{FAKE_LOGIN_HOST}/{tenant}", {FAKE_LOGIN_HOST: f"http://{parts.netloc}"}
    if parts.scheme != "https" or not parts.hostname:
        raise SettingsError(f"HUB_AUTHORITY_HOST must be an https URL, got {authority_host!r}")
    return f"https://{parts.netloc}/{tenant}", {}


class TokenSource:
    """Client-credential tokens for one app registration; thread-safe, one msal app reused."""

    def __init__(self, settings: Settings, *, http_client: requests.Session | None = None):
        self.tenant = settings.text("HUB_GRAPH_TENANT_ID")
        self.client_id = settings.text("HUB_GRAPH_CLIENT_ID")
        self._secret = settings.text("HUB_GRAPH_CLIENT_SECRET")
        if not (self.tenant and self.client_id and self._secret):
            raise SettingsError(
                "Microsoft sign-in needs HUB_GRAPH_TENANT_ID, "
                "HUB_GRAPH_CLIENT_ID and HUB_GRAPH_CLIENT_SECRET"
            )
        self.authority, routes = resolve_authority(settings.text("HUB_AUTHORITY_HOST"), self.tenant)
        self.http = http_client or (LoopbackSession(routes) if routes else TimeoutSession())
        self._instance_discovery = None if PUBLIC_LOGIN_HOST in self.authority else False
        self._cache = msal.TokenCache()  # outlives app rebuilds
        self._app: msal.ConfidentialClientApplication | None = None
        self._lock = threading.Lock()
        self.apps_built = 0

    def _build(self) -> msal.ConfidentialClientApplication:
        self.apps_built += 1
        return msal.ConfidentialClientApplication(
            self.client_id,
            client_credential=self._secret,
            authority=self.authority,
            azure_region=False,
            instance_discovery=self._instance_discovery,
            http_client=self.http,
            token_cache=self._cache,
        )

    def token(self, scopes: list[str]) -> str:
        """A bearer token for `scopes`, from the cache when it is still fresh."""
        # One lock: concurrent callers on a cold cache must not all ask for a token.
        with self._lock:
            if isinstance(self.http, TimeoutSession):
                self.http.last_retry_after = None
            try:
                if self._app is None:
                    self._app = self._build()
                result = self._app.acquire_token_for_client(scopes=scopes)
            except (
                msal.exceptions.MsalServiceError,
                requests.RequestException,
                RuntimeError,
            ) as exc:
                self._app = None
                raise TransientError(
                    "Microsoft identity platform unavailable: "
                    f"{type(exc).__name__}: {first_line(str(exc))}",
                    retry_after=self.http_retry_after(),
                ) from None
            except ValueError as exc:  # discovery refused the tenant or authority
                self._app = None
                raise PermanentError(
                    "Microsoft identity platform refused the authority "
                    f"{self.authority}: {first_line(str(exc))}"
                ) from None
            if "access_token" in result:
                return result["access_token"]
            self._app = None
            raise self._error(result)

    def _error(self, result: dict) -> Exception:
        error = str(result.get("error") or "unknown_error")
        text = f"{error}: {first_line(str(result.get('error_description') or ''))}"
        if error in CREDENTIAL_ERRORS:
            return PermanentError(
                f"Microsoft identity platform refused the app credentials: {text}"
            )
        if error in REQUEST_ERRORS:
            return PermanentError(f"Microsoft identity platform refused the token request: {text}")
        retry_after = parse_retry_after(result.get("retry_after")) or self.http_retry_after()
        return TransientError(
            f"Microsoft identity platform did not issue a token: {text}", retry_after=retry_after
        )

    def http_retry_after(self) -> float | None:
        return getattr(self.http, "last_retry_after", None)

    def invalidate(self) -> None:
        """Forget cached tokens, e.g. after an API answered 401 to one of them."""
        with self._lock:
            self._cache = msal.TokenCache()
            self._app = None

    def close(self) -> None:
        self.http.close()


def first_line(text: str) -> str:
    return (text.strip().splitlines() or [""])[0][:300]


_SOURCES: dict[tuple[str, str, str, str], TokenSource] = {}
_SOURCES_LOCK = threading.Lock()


def get_token_source(settings: Settings) -> TokenSource:
    """The process-wide TokenSource for these settings' authority, tenant and client."""
    secret_id = hashlib.sha256(settings.text("HUB_GRAPH_CLIENT_SECRET").encode()).hexdigest()
    key = (
        settings.text("HUB_AUTHORITY_HOST"),
        settings.text("HUB_GRAPH_TENANT_ID"),
        settings.text("HUB_GRAPH_CLIENT_ID"),
        secret_id[:16],
    )
    with _SOURCES_LOCK:
        if key not in _SOURCES:
            _SOURCES[key] = TokenSource(settings)
        return _SOURCES[key]


def clear_token_sources() -> None:
    """Forget every cached TokenSource (tests)."""
    with _SOURCES_LOCK:
        for source in _SOURCES.values():
            source.close()
        _SOURCES.clear()
