"""Sign-in with Microsoft Entra ID: OpenID Connect auth-code flow with PKCE through msal.

msal makes the flow (state, nonce, PKCE verifier) and redeems the code; since msal 1.38 it
no longer checks the ID token, so `verify_id_token` does: RS256 signature against the
tenant's published keys, issuer, audience, expiry. One msal app per process, built lazily
(its constructor fetches the OpenID configuration). With a loopback HUB_AUTHORITY_HOST the
browser is sent to the local fake instead of `https://login.fake.test` (see hub.channels.identity).
"""

from __future__ import annotations

import threading
import warnings
from urllib.parse import urlsplit

import jwt
import msal
import requests

from hub.app.settings import Settings
from hub.channels.identity import (
    PUBLIC_LOGIN_HOST,
    LoopbackSession,
    TimeoutSession,
    resolve_authority,
)
from hub.policy.model import Person, Policy

CREDENTIALS = ("HUB_GRAPH_TENANT_ID", "HUB_GRAPH_CLIENT_ID", "HUB_GRAPH_CLIENT_SECRET")
LEEWAY = 120  # seconds of clock skew allowed on exp/nbf/iat


class SignInError(Exception):
    """The identity platform refused the sign-in, or its answer did not check out."""


def configured(settings: Settings) -> bool:
    """Whether an Entra app registration is configured."""
    return all(settings[name] for name in CREDENTIALS)


class EntraSignIn:
    """The auth-code flow for one app registration; thread-safe, one msal app reused."""

    def __init__(self, settings: Settings, *, http_client: requests.Session | None = None):
        self.tenant = settings.text("HUB_GRAPH_TENANT_ID")
        self.client_id = settings.text("HUB_GRAPH_CLIENT_ID")
        self._secret = settings.text("HUB_GRAPH_CLIENT_SECRET")
        host = settings.text("HUB_AUTHORITY_HOST")
        self.authority, self.routes = resolve_authority(host, self.tenant)
        self.http = http_client or (
            LoopbackSession(self.routes) if self.routes else TimeoutSession()
        )
        self._app: msal.ConfidentialClientApplication | None = None
        self._metadata: dict | None = None
        self._keys: dict[str, jwt.PyJWK] = {}
        self._lock = threading.Lock()

    def _msal(self) -> msal.ConfidentialClientApplication:
        with self._lock:
            if self._app is None:
                self._app = msal.ConfidentialClientApplication(
                    self.client_id,
                    client_credential=self._secret,
                    authority=self.authority,
                    azure_region=False,
                    http_client=self.http,
                    instance_discovery=None if PUBLIC_LOGIN_HOST in self.authority else False,
                )
            return self._app

    def start(self, redirect_uri: str, login_hint: str | None = None) -> tuple[dict, str]:
        """A new flow (keep it in the session) and the address to send the browser to."""
        try:
            with warnings.catch_warnings():
                # msal suggests response_mode=form_post; a cross-site POST back would arrive
                # without our SameSite=Lax cookie, which binds the flow (state, PKCE) to this
                # browser. The query answer keeps that binding; PKCE protects the code.
                warnings.filterwarnings("ignore", message="response_mode='form_post'")
                flow = self._msal().initiate_auth_code_flow(
                    [], redirect_uri=redirect_uri, login_hint=login_hint, prompt="select_account"
                )
        except (ValueError, requests.RequestException, msal.exceptions.MsalServiceError) as exc:
            self._app = None
            raise SignInError(f"Microsoft sign-in is unavailable: {type(exc).__name__}") from None
        return flow, self.browser_url(flow["auth_uri"])

    def browser_url(self, url: str) -> str:
        """The authorize address as the browser must see it (loopback fake: plain http)."""
        parts = urlsplit(url)
        base = self.routes.get((parts.hostname or "").lower())
        if not base:
            return url
        return base + parts.path + (f"?{parts.query}" if parts.query else "")

    def finish(self, flow: dict, answer: dict) -> dict:
        """Redeem the code from the redirect; the checked ID token claims."""
        if answer.get("error"):
            raise SignInError(f"{answer.get('error')}: {answer.get('error_description', '')}"[:300])
        try:
            result = self._msal().acquire_token_by_auth_code_flow(flow, answer)
        except ValueError as exc:  # state mismatch, or a replayed/forged answer
            raise SignInError(f"the sign-in answer did not match its request ({exc})") from None
        except (requests.RequestException, msal.exceptions.MsalServiceError) as exc:
            self._app = None
            raise SignInError(f"Microsoft sign-in is unavailable: {type(exc).__name__}") from None
        if "id_token" not in result:
            self._app = None
            raise SignInError(
                f"{result.get('error', 'no ID token')}: {result.get('error_description', '')}"[:300]
            )
        claims = self.verify_id_token(result["id_token"])
        app = self._msal()
        for account in app.get_accounts(username=claims.get("preferred_username")):
            app.remove_account(account)  # the hub keeps no user tokens
        return claims

    def _meta(self) -> dict:
        if self._metadata is None:
            url = f"{self.authority}/v2.0/.well-known/openid-configuration"
            response = self.http.get(url)
            response.raise_for_status()
            self._metadata = response.json()
        return self._metadata

    def _key(self, kid: str, refresh: bool = False) -> jwt.PyJWK:
        if refresh or kid not in self._keys:
            response = self.http.get(self._meta()["jwks_uri"])
            response.raise_for_status()
            keys = jwt.PyJWKSet.from_dict(response.json()).keys
            self._keys = {k.key_id: k for k in keys if k.key_id}
        if kid not in self._keys:
            raise SignInError(f"the ID token was signed with an unknown key {kid!r}")
        return self._keys[kid]

    def verify_id_token(self, id_token: str) -> dict:
        """Claims of a valid ID token for this app and tenant (SignInError otherwise)."""
        try:
            header = jwt.get_unverified_header(id_token)
            kid = header.get("kid") or ""
            try:
                key = self._key(kid)
            except SignInError:
                key = self._key(kid, refresh=True)  # keys roll over: fetch them once more
            return jwt.decode(
                id_token,
                key=key,
                algorithms=["RS256"],
                audience=self.client_id,
                issuer=self._meta()["issuer"].replace("{tenantid}", self.tenant),
                leeway=LEEWAY,
                options={"require": ["exp", "iat", "aud", "iss"]},
            )
        except jwt.PyJWTError as exc:
            raise SignInError(f"the ID token did not check out: {exc}") from None
        except requests.RequestException as exc:
            raise SignInError(f"could not fetch the signing keys: {type(exc).__name__}") from None


def match_person(policy: Policy, claims: dict) -> Person | None:
    """The policy's person for these claims: by Entra object id, else by UPN / email."""
    oid = str(claims.get("oid") or "").lower()
    if oid:
        for person in policy.people.values():
            if person.aad_object_id and person.aad_object_id.lower() == oid:
                return person
    for claim in ("preferred_username", "upn", "email"):
        value = claims.get(claim)
        if value and "@" in str(value):
            person = policy.person_by_email(str(value))
            # a person pinned to another object id is not this account, whatever its name
            if person and not (person.aad_object_id and oid):
                return person
    return None


_INSTANCES: dict[tuple, EntraSignIn] = {}
_INSTANCES_LOCK = threading.Lock()


def get_sign_in(settings: Settings) -> EntraSignIn:
    """The process-wide EntraSignIn for these settings."""
    key = tuple(settings[n] for n in ("HUB_AUTHORITY_HOST", *CREDENTIALS))
    with _INSTANCES_LOCK:
        if key not in _INSTANCES:
            _INSTANCES[key] = EntraSignIn(settings)
        return _INSTANCES[key]
