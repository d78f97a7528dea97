"""A local Microsoft identity platform and Graph mail, close enough to the real protocol for msal.

Serves, on one port: OpenID discovery (`GET /{tenant}/v2.0/.well-known/openid-configuration`),
the client-credentials token endpoint (`POST /{tenant}/oauth2/v2.0/token`, AAD error format)
and Graph `POST /v1.0/users/{mailbox}/sendMail` (JSON or base64 MIME, Bearer checked, 202),
calendar events (hub.testing.fakes.calendar) and Entra groups with their transitive members
(hub.testing.fakes.groups).
Point the hub at it with `HUB_AUTHORITY_HOST=http://127.0.0.1:PORT` (see hub.channels.identity) and
`HUB_GRAPH_API=http://127.0.0.1:PORT/v1.0`. Discovery advertises `https://login.fake.test/…`
endpoints, as msal insists on https; hub.channels.identity.LoopbackSession brings them back here.

Tests: `fake = FakeMicrosoft(tenant="t1", clients={"c1": "secret"}).start()`, then
`fake.token_requests`, `fake.sent`, `fake.fail_next("/v1.0/users", 429, retry_after=7)`,
`fake.slow(2)`, `fake.revoke_tokens()`, `fake.stop()`. Shell:
`python -m hub.testing.fakes.microsoft --port 8901 --tenant T --client-id C --client-secret S
[--users-from policy.yaml]` (the policy's people become accounts for the console's sign-in).
"""

from __future__ import annotations

import argparse
import base64
import binascii
import math
import re
import secrets
import threading
import time
from email import policy
from email.parser import BytesParser
from urllib.parse import unquote

from hub.channels.identity import FAKE_LOGIN_HOST
from hub.policy.load import load_policy
from hub.testing.fakes.base import FakeServer, Request, Response, Route, run_until_interrupted
from hub.testing.fakes.calendar import CalendarMixin
from hub.testing.fakes.groups import GroupsMixin
from hub.testing.fakes.oidc import OidcMixin, aad_error


def graph_error(status: int, code: str, message: str) -> Response:
    """An error as Microsoft Graph words it."""
    return Response(status, {"error": {"code": code, "message": message}})


class FakeMicrosoft(GroupsMixin, CalendarMixin, OidcMixin, FakeServer):
    """Identity platform + Graph sendMail on 127.0.0.1; records requests, injects faults.

    Also user sign-in (authorize page, auth-code grant with PKCE, JWKS): see hub.testing.fakes.oidc.
    """

    def __init__(
        self,
        port: int = 0,
        *,
        tenant: str = "fake-tenant",
        clients: dict[str, str] | None = None,
        token_lifetime: int = 3600,
        users: dict[str, dict] | None = None,
    ):
        self.tenant = tenant
        self.clients = dict(clients or {"fake-client": "fake-secret"})
        self.token_lifetime = token_lifetime
        self.tokens: dict[str, tuple[str, str, float]] = {}  # token -> (client, scope, expiry)
        self.sent: list[dict] = []  # {"mailbox", "format", "json" | "mime", "message"}
        self.inbox: dict[str, dict[str, bytes]] = {}  # mailbox -> message id -> raw MIME
        self.inbox_log: dict[str, list[str]] = {}  # mailbox -> ids in change order (delta)
        self._lock = threading.Lock()
        # Exchange's message rate limit per mailbox (None: none): `throttle_mail(30)`
        self.mail_per_minute: int | None = None
        self._mail_times: dict[str, list[float]] = {}
        self.throttled = 0  # sendMail requests answered 429 by that limit
        self.setup_oidc(users)
        self.setup_calendar()
        self.setup_groups()
        super().__init__(port)

    def routes(self) -> list[Route]:
        return (
            super().routes()
            + [
                (
                    "GET",
                    r"/(?P<tenant>[^/]+)/v2\.0/\.well-known/openid-configuration",
                    self.discovery,
                ),
                ("POST", r"/(?P<tenant>[^/]+)/oauth2/v2\.0/token", self.token),
                ("POST", r"/v1\.0/users/(?P<mailbox>[^/]+)/sendMail", self.send_mail),
                (
                    "GET",
                    r"/v1\.0/users/(?P<mailbox>[^/]+)/mailFolders/inbox/messages/delta",
                    self.inbox_delta,
                ),
                (
                    "GET",
                    r"/v1\.0/users/(?P<mailbox>[^/]+)/messages/(?P<ident>[^/]+)/\$value",
                    self.message_value,
                ),
            ]
            + self.oidc_routes()
            + self.calendar_routes()
            + self.groups_routes()
        )

    def error_response(self, request: Request, status: int, message: str) -> Response:
        if "/oauth2/" in request.path or "/.well-known/" in request.path:
            return aad_error(
                status, "temporarily_unavailable", f"AADSTS5000000: fake {message} (HTTP {status})"
            )
        return graph_error(
            status, "TooManyRequests" if status == 429 else f"Http{status}", f"fake {message}"
        )

    @property
    def token_requests(self) -> int:
        return self.recorder.count(f"/{self.tenant}/oauth2/v2.0/token", "POST")

    @property
    def discovery_requests(self) -> int:
        return self.recorder.count(f"/{self.tenant}/v2.0/.well-known", "GET")

    def revoke_tokens(self) -> None:
        """Forget every issued token: the next Graph call with one gets 401."""
        with self._lock:
            self.tokens.clear()

    def discovery(self, request: Request, tenant: str) -> Response:
        if tenant != self.tenant:
            return aad_error(400, "invalid_tenant", f"AADSTS90002: Tenant '{tenant}' not found.")
        base = f"https://{FAKE_LOGIN_HOST}/{tenant}"
        return Response(
            200,
            {
                "issuer": f"{base}/v2.0",
                "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
                "token_endpoint": f"{base}/oauth2/v2.0/token",
                "jwks_uri": f"https://{FAKE_LOGIN_HOST}/{tenant}/discovery/v2.0/keys",
                "response_types_supported": ["code", "id_token", "token"],
                "subject_types_supported": ["pairwise"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "token_endpoint_auth_methods_supported": [
                    "client_secret_post",
                    "client_secret_basic",
                ],
                "tenant_region_scope": "EU",
            },
        )

    def token(self, request: Request, tenant: str) -> Response:
        form = request.form()
        client_id, secret = form.get("client_id"), form.get("client_secret")
        auth = request.headers.get("authorization", "")
        if auth.startswith("Basic "):
            try:
                user, _, password = base64.b64decode(auth[6:]).decode().partition(":")
            except (binascii.Error, UnicodeDecodeError):
                return aad_error(401, "invalid_client", "AADSTS7000216: Malformed Basic auth.")
            client_id, secret = unquote(user.replace("+", " ")), unquote(password.replace("+", " "))
        if tenant != self.tenant:
            return aad_error(400, "invalid_request", f"AADSTS90002: Tenant '{tenant}' not found.")
        if form.get("grant_type") not in ("client_credentials", "authorization_code"):
            return aad_error(
                400,
                "unsupported_grant_type",
                "AADSTS70003: The app requested an unsupported grant type.",
            )
        if client_id not in self.clients:
            return aad_error(
                400,
                "unauthorized_client",
                f"AADSTS700016: Application with "
                f"identifier '{client_id}' was not found in the directory.",
            )
        if not secret or not secrets.compare_digest(secret, self.clients[client_id]):
            return aad_error(
                401,
                "invalid_client",
                "AADSTS7000215: Invalid client secret "
                "provided. Ensure the secret being sent in the request is the "
                "client secret value, not the client secret ID.",
            )
        if form.get("grant_type") == "authorization_code":
            return self.auth_code_grant(form, client_id, tenant)
        scope = form.get("scope", "")
        if not any(s.endswith("/.default") for s in scope.split()):
            return aad_error(
                400,
                "invalid_scope",
                "AADSTS1002012: The provided value for "
                "scope is not valid. Client credential flows must have a scope "
                "value with /.default suffixed to the resource identifier.",
            )
        token = "fake." + secrets.token_urlsafe(24)
        with self._lock:
            self.tokens[token] = (client_id, scope, time.time() + self.token_lifetime)
        return Response(
            200,
            {
                "token_type": "Bearer",
                "expires_in": self.token_lifetime,
                "ext_expires_in": self.token_lifetime,
                "access_token": token,
            },
        )

    def _authorised(self, request: Request) -> bool:
        token = request.headers.get("authorization", "").removeprefix("Bearer ")
        with self._lock:
            entry = self.tokens.get(token)
        return entry is not None and entry[2] > time.time() and "graph" in entry[1]

    def throttle_mail(self, per_minute: int | None) -> None:
        """Answer sendMail beyond `per_minute` messages in any 60 s per mailbox with 429 and
        a Retry-After (seconds until the oldest of them leaves the window); None: no limit."""
        with self._lock:
            self.mail_per_minute, self._mail_times = per_minute, {}

    def _over_limit(self, mailbox: str) -> float | None:
        """Seconds to wait if this mailbox is over its limit, else None (and counts the send)."""
        with self._lock:
            if not self.mail_per_minute:
                return None
            now = time.monotonic()
            times = [t for t in self._mail_times.get(mailbox, []) if t > now - 60.0]
            if len(times) >= self.mail_per_minute:
                self._mail_times[mailbox] = times
                self.throttled += 1
                return times[0] + 60.0 - now
            times.append(now)
            self._mail_times[mailbox] = times
            return None

    def send_mail(self, request: Request, mailbox: str) -> Response:
        if not self._authorised(request):
            return graph_error(
                401, "InvalidAuthenticationToken", "Access token is empty, expired or not valid."
            )
        wait = self._over_limit(unquote(mailbox).lower())
        if wait is not None:
            response = graph_error(
                429, "ApplicationThrottled", "Mailbox concurrency or message rate limit exceeded."
            )
            response.headers["Retry-After"] = str(max(1, math.ceil(wait)))
            return response
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        record = {
            "mailbox": unquote(mailbox),
            "format": "json" if content_type == "application/json" else "mime",
            "at": time.time(),
        }
        if content_type == "text/plain":
            try:
                raw = base64.b64decode(request.body, validate=True)
            except binascii.Error:
                return graph_error(
                    400,
                    "ErrorMimeContentInvalidBase64String",
                    "Invalid base64 string for MIME content.",
                )
            record["mime"] = raw
            record["message"] = BytesParser(policy=policy.default).parsebytes(raw)
        elif content_type == "application/json":
            problem = _json_problem(request)
            if problem:
                return graph_error(400, "ErrorInvalidRequest", problem)
            record["json"] = request.json()
        else:
            return graph_error(415, "UnsupportedMediaType", f"Unsupported {content_type!r}.")
        with self._lock:
            self.sent.append(record)
        return Response(202, b"", {"request-id": secrets.token_hex(16)})


# -- the intake mailbox: delta query on the inbox, raw MIME by `$value` --------------------
def deliver_to_inbox(fake: FakeMicrosoft, mailbox: str, raw: bytes) -> str:
    """Put a message in a mailbox's inbox (it shows in the next delta page); returns its id."""
    with fake._lock:
        ident = "AAMk" + secrets.token_hex(12)
        fake.inbox.setdefault(mailbox.lower(), {})[ident] = raw
        fake.inbox_log.setdefault(mailbox.lower(), []).append(ident)
        return ident


def touch_in_inbox(fake: FakeMicrosoft, mailbox: str, ident: str) -> None:
    """The message changed (say, was read): it comes round again in the delta."""
    with fake._lock:
        fake.inbox_log[mailbox.lower()].append(ident)


def _inbox_delta(fake: FakeMicrosoft, request: Request, mailbox: str) -> Response:
    if not fake._authorised(request):
        return graph_error(401, "InvalidAuthenticationToken", "Access token is not valid.")
    box = unquote(mailbox).lower()
    prefer = re.search(r"odata\.maxpagesize=(\d+)", request.headers.get("prefer", ""))
    size = int(prefer.group(1)) if prefer else 10
    start = int(request.query.get("$skiptoken") or request.query.get("$deltatoken") or 0)
    with fake._lock:
        log = list(fake.inbox_log.get(box, []))
        messages = dict(fake.inbox.get(box, {}))
    page = log[start : start + size]
    value = []
    for ident in page:
        mid = re.search(rb"(?im)^message-id:\s*(<[^>\r\n]+>)", messages[ident])
        value.append({"id": ident, **({"internetMessageId": mid.group(1).decode()} if mid else {})})
    base = f"{fake.url}/v1.0/users/{mailbox}/mailFolders/inbox/messages/delta"
    doc = {
        "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#Collection(message)",
        "value": value,
    }
    if start + size < len(log):
        doc["@odata.nextLink"] = f"{base}?$skiptoken={start + size}"
    else:
        doc["@odata.deltaLink"] = f"{base}?$deltatoken={len(log)}"
    return Response(200, doc)


def _message_value(fake: FakeMicrosoft, request: Request, mailbox: str, ident: str) -> Response:
    if not fake._authorised(request):
        return graph_error(401, "InvalidAuthenticationToken", "Access token is not valid.")
    raw = fake.inbox.get(unquote(mailbox).lower(), {}).get(unquote(ident))
    if raw is None:
        return graph_error(404, "ErrorItemNotFound", "The specified object was not found.")
    return Response(200, raw, {"Content-Type": "text/plain"})


FakeMicrosoft.inbox_delta = _inbox_delta
FakeMicrosoft.message_value = _message_value
FakeMicrosoft.deliver_to_inbox = deliver_to_inbox
FakeMicrosoft.touch_in_inbox = touch_in_inbox


def _json_problem(request: Request) -> str | None:
    """What Graph would reject in a JSON sendMail body, or None."""
    try:
        message = request.json()["message"]
    except (ValueError, KeyError, TypeError):
        return "Empty Payload. JSON content expected."
    if not message.get("toRecipients"):
        return "At least one recipient is required."
    headers = message.get("internetMessageHeaders")
    if headers is not None:
        if not 1 <= len(headers) <= 5:
            return "The number of internet message headers is invalid (should be 1 to 5)."
        bad = [
            h.get("name") for h in headers if not str(h.get("name", "")).lower().startswith("x-")
        ]
        if bad:
            return f"The internet message header name '{bad[0]}' should start with 'x-' or 'X-'."
    return None


def main(argv: list[str] | None = None) -> None:
    """Run the fake in the foreground."""
    parser = argparse.ArgumentParser(
        prog="python -m hub.testing.fakes.microsoft", description=__doc__
    )
    parser.add_argument("--port", type=int, default=8901)
    parser.add_argument("--tenant", default="fake-tenant")
    parser.add_argument("--client-id", default="fake-client")
    parser.add_argument("--client-secret", default="fake-secret")
    parser.add_argument(
        "--users-from",
        metavar="POLICY",
        help="offer the people of this policy file as accounts to sign in with",
    )
    args = parser.parse_args(argv)
    users = {}
    if args.users_from:
        users = {
            p.teams: {"oid": p.aad_object_id, "name": p.name}
            for p in load_policy(args.users_from).people.values()
            if p.teams
        }
    fake = FakeMicrosoft(
        args.port, tenant=args.tenant, clients={args.client_id: args.client_secret}, users=users
    ).start()
    print(
        f"fake Microsoft identity + Graph on {fake.url} (tenant {fake.tenant}); "
        f"HUB_AUTHORITY_HOST={fake.url} HUB_GRAPH_API={fake.url}/v1.0",
        flush=True,
    )
    run_until_interrupted(fake.stop)


if __name__ == "__main__":
    main()
