"""Sign-in for the fake identity platform: authorize page, PKCE auth-code grant, JWKS, ID tokens.

Mixed into `hub.testing.fakes.microsoft.FakeMicrosoft`. The browser opens
`GET /{tenant}/oauth2/v2.0/authorize?client_id&redirect_uri&response_type=code&state&nonce
&code_challenge&code_challenge_method=S256`, picks an account on a plain HTML page, and comes
back to `redirect_uri?code=…&state=…`. The token endpoint then takes
`grant_type=authorization_code` with `code`, `redirect_uri`, `code_verifier` and the client
credentials, and answers with an RS256-signed ID token whose key is at
`GET /{tenant}/discovery/v2.0/keys`. Accounts: `users={"upn": {"oid": ..., "name": ...}}`.
Errors are worded as the identity platform words them (`aad_error`, used by both modules).
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import re
import secrets
import threading
import time
from functools import lru_cache
from urllib.parse import urlencode

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

from hub.channels.identity import FAKE_LOGIN_HOST
from hub.testing.fakes.base import Request, Response, Route

KEY_ID = "fake-signing-key-1"
CODE_LIFETIME = 300


def aad_error(status: int, error: str, description: str) -> Response:
    """An error as the Microsoft identity platform words it."""
    code = re.match(r"AADSTS(\d+)", description)
    return Response(
        status,
        {
            "error": error,
            "error_description": description,
            "error_codes": [int(code.group(1))] if code else [],
            "timestamp": time.strftime("%Y-%m-%d %H:%M:%SZ"),
            "trace_id": secrets.token_hex(8),
            "correlation_id": secrets.token_hex(8),
        },
    )


@lru_cache(maxsize=1)
def signing_key() -> rsa.RSAPrivateKey:
    """One RSA key per process, made on first use (generating one takes a moment)."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _b64url_uint(value: int) -> str:
    raw = value.to_bytes((value.bit_length() + 7) // 8, "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def jwks() -> dict:
    """The public half of the signing key as a JSON Web Key Set."""
    numbers = signing_key().public_key().public_numbers()
    key = {
        "kty": "RSA",
        "use": "sig",
        "alg": "RS256",
        "kid": KEY_ID,
        "n": _b64url_uint(numbers.n),
        "e": _b64url_uint(numbers.e),
    }
    return {"keys": [key]}


def pkce_challenge(verifier: str) -> str:
    """S256: base64url(sha256(verifier)) without padding."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


class OidcMixin:
    """Authorize endpoint, auth-code grant with PKCE, JWKS and signed ID tokens."""

    def setup_oidc(self, users: dict[str, dict] | None) -> None:
        self.users = {upn.lower(): dict(u) for upn, u in (users or {}).items()}
        self.codes: dict[str, dict] = {}
        self.issued_id_tokens: list[dict] = []  # claims, for assertions
        self.id_token_issuer: str | None = None  # override to test issuer checks
        self._oidc_lock = threading.Lock()

    def oidc_routes(self) -> list[Route]:
        return [
            ("GET", r"/(?P<tenant>[^/]+)/oauth2/v2\.0/authorize", self.authorize_page),
            ("POST", r"/(?P<tenant>[^/]+)/oauth2/v2\.0/authorize", self.authorize_submit),
            ("GET", r"/(?P<tenant>[^/]+)/discovery/v2\.0/keys", self.keys),
        ]

    def issuer(self, tenant: str) -> str:
        return f"https://{FAKE_LOGIN_HOST}/{tenant}/v2.0"

    def keys(self, request: Request, tenant: str) -> Response:
        return Response(200, jwks())

    def _auth_problem(self, params: dict, tenant: str) -> str | None:
        if tenant != self.tenant:
            return f"AADSTS90002: Tenant '{tenant}' not found."
        if params.get("client_id") not in self.clients:
            return "AADSTS700016: Application not found in the directory."
        if params.get("response_type") != "code":
            return "AADSTS700054: response_type 'code' is required."
        if not params.get("redirect_uri"):
            return "AADSTS900144: The request body must contain the parameter 'redirect_uri'."
        if params.get("code_challenge_method") != "S256" or not params.get("code_challenge"):
            return "AADSTS9002325: Proof Key for Code Exchange is required (S256)."
        return None

    def authorize_page(self, request: Request, tenant: str) -> Response:
        params = dict(request.query)
        problem = self._auth_problem(params, tenant)
        if problem:
            return _html(400, f"<h1>Sign-in error</h1><p>{html.escape(problem)}</p>")
        hidden = "".join(
            f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">'
            for k, v in params.items()
        )
        accounts = "".join(
            f'<li><button type="submit" name="username" value="{html.escape(upn)}">'
            f"{html.escape(u.get('name', upn))} ({html.escape(upn)})</button></li>"
            for upn, u in self.users.items()
        )
        body = (
            f"<h1>Sign in (fake tenant {html.escape(tenant)})</h1>"
            f'<form method="post">{hidden}<ul>{accounts}</ul>'
            '<label>Other account <input name="other" autocomplete="username"></label>'
            '<button type="submit" name="username" value="">Next</button></form>'
        )
        return _html(200, body)

    def authorize_submit(self, request: Request, tenant: str) -> Response:
        params = request.form()
        problem = self._auth_problem(params, tenant)
        if problem:
            return _html(400, f"<h1>Sign-in error</h1><p>{html.escape(problem)}</p>")
        upn = (params.get("username") or params.get("other") or "").strip().lower()
        answer = {"state": params.get("state", "")}
        if upn not in self.users:
            answer.update(
                error="access_denied",
                error_description=(
                    f"AADSTS50034: The user account {upn} does not exist in the directory."
                ),
            )
        else:
            code = secrets.token_urlsafe(32)
            with self._oidc_lock:
                self.codes[code] = {
                    **params,
                    "upn": upn,
                    "tenant": tenant,
                    "expires": time.time() + CODE_LIFETIME,
                }
            answer.update(code=code, session_state=secrets.token_hex(8))
        sep = "&" if "?" in params["redirect_uri"] else "?"
        return Response(302, b"", {"Location": params["redirect_uri"] + sep + urlencode(answer)})

    def auth_code_grant(self, form: dict, client_id: str, tenant: str) -> Response:
        """The token endpoint's answer to `grant_type=authorization_code` (client checked)."""
        with self._oidc_lock:
            grant = self.codes.pop(form.get("code", ""), None)
        if grant is None or grant["expires"] < time.time() or grant["tenant"] != tenant:
            return aad_error(
                400,
                "invalid_grant",
                "AADSTS70008: The provided authorization "
                "code or refresh token has expired or was already redeemed.",
            )
        if grant["client_id"] != client_id or grant["redirect_uri"] != form.get("redirect_uri"):
            return aad_error(
                400,
                "invalid_grant",
                "AADSTS50148: The redirect_uri or client does not match the authorization request.",
            )
        if pkce_challenge(form.get("code_verifier", "")) != grant["code_challenge"]:
            return aad_error(
                400,
                "invalid_grant",
                "AADSTS501481: The Code_Verifier does not "
                "match the code_challenge supplied in the authorization request.",
            )
        user = self.users[grant["upn"]]
        now = int(time.time())
        claims = {
            "iss": self.id_token_issuer or self.issuer(tenant),
            "aud": client_id,
            "iat": now,
            "nbf": now,
            "exp": now + 3600,
            "tid": tenant,
            "oid": user.get("oid", ""),
            "sub": hashlib.sha256(grant["upn"].encode()).hexdigest(),
            "preferred_username": grant["upn"],
            "name": user.get("name", grant["upn"]),
            "nonce": grant.get("nonce"),
            "ver": "2.0",
        }
        self.issued_id_tokens.append(claims)
        id_token = jwt.encode(claims, signing_key(), algorithm="RS256", headers={"kid": KEY_ID})
        client_info = (
            base64.urlsafe_b64encode(
                json.dumps({"uid": user.get("oid", ""), "utid": tenant}).encode()
            )
            .rstrip(b"=")
            .decode()
        )
        return Response(
            200,
            {
                "token_type": "Bearer",
                "scope": form.get("scope", "openid profile"),
                "expires_in": 3600,
                "ext_expires_in": 3600,
                "access_token": "fake-user." + secrets.token_urlsafe(24),
                "refresh_token": "fake-refresh." + secrets.token_urlsafe(24),
                "id_token": id_token,
                "client_info": client_info,
            },
        )


def _html(status: int, body: str) -> Response:
    page = (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        "<title>Fake Microsoft sign-in</title></head><body>" + body + "</body></html>"
    )
    return Response(status, page, {"Content-Type": "text/html; charset=utf-8"})
