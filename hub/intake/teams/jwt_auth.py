"""Bot Framework bearer tokens: checked against OpenID metadata and keys from a configurable URL.

What a valid request carries (Bot Framework "Authenticate requests from the Bot Connector
service"): a JWT signed with RS256 by a key listed under the metadata's `jwks_uri`, issuer
`https://api.botframework.com` (the metadata's `issuer`), audience our Microsoft App ID, not
expired (5 minutes of clock skew allowed), a signing key that endorses the activity's
`channelId`, and a `serviceurl` claim equal to the activity's `serviceUrl` (so nobody can
make the bot post to, and hand its token to, an address of their choosing).
Keys are cached; an unknown `kid` refetches them, at most every `min_refresh` seconds.
"""

from __future__ import annotations

import ipaddress
import threading
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

import jwt
import requests

DEFAULT_METADATA = "https://login.botframework.com/v1/.well-known/openidconfiguration"
BOTFRAMEWORK_ISSUER = "https://api.botframework.com"
LEEWAY = 300  # seconds of clock skew the Bot Framework spec allows
KEYS_MAX_AGE = 24 * 3600.0  # refetch the metadata and keys at least daily
MIN_REFRESH = 30.0  # seconds between refetches caused by unknown key ids
TIMEOUT = 3.0  # per HTTP request, so that a cold start still answers in time


class AuthError(Exception):
    """The token is missing or invalid (answer 401); the message names the reason."""


class KeysUnavailable(Exception):
    """The metadata or keys could not be fetched (answer 503, the sender retries)."""


@dataclass(frozen=True)
class SigningKey:
    """A published key and the channels it may sign for."""

    key: jwt.PyJWK
    endorsements: tuple[str, ...] | None  # channel ids the key may sign for; None: any


def _check_url(url: str) -> str:
    parts = urlsplit(url or "")
    if parts.scheme == "https" and parts.hostname:
        return url
    host = parts.hostname or ""
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if parts.scheme == "http" and loopback:
        return url
    raise KeysUnavailable(f"refusing to fetch keys from {parts.scheme}://{host}: https required")


class BotAuthenticator:
    """Validates Bot Framework bearer tokens for one app id; thread-safe, one per process."""

    def __init__(
        self,
        metadata_url: str,
        app_id: str,
        *,
        session: requests.Session | None = None,
        leeway: float = LEEWAY,
        min_refresh: float = MIN_REFRESH,
        clock=time.monotonic,
    ):
        self.metadata_url, self.app_id = _check_url(metadata_url), app_id
        self.session = session or requests.Session()
        self.leeway, self.min_refresh, self.clock = leeway, min_refresh, clock
        self.issuer = BOTFRAMEWORK_ISSUER
        self._keys: dict[str, SigningKey] = {}
        self._fetched_at: float | None = None
        self._lock = threading.Lock()
        self.fetches = 0  # how many times the keys were fetched (tests, metrics)

    def _get(self, url: str) -> dict:
        try:
            response = self.session.get(_check_url(url), timeout=TIMEOUT)
            response.raise_for_status()
            doc = response.json()
        except (requests.RequestException, ValueError) as exc:
            raise KeysUnavailable(
                f"cannot fetch {urlsplit(url).path}: {type(exc).__name__}"
            ) from exc
        if not isinstance(doc, dict):
            raise KeysUnavailable(f"{urlsplit(url).path} is not a JSON object")
        return doc

    def close(self) -> None:
        """Close the HTTP connections kept for key fetches."""
        self.session.close()

    def refresh(self) -> None:
        """Fetch the metadata and the signing keys now."""
        meta = self._get(self.metadata_url)
        if not isinstance(meta.get("jwks_uri"), str):
            raise KeysUnavailable("the OpenID metadata has no jwks_uri")
        doc = self._get(meta["jwks_uri"])
        keys = {}
        for item in doc.get("keys") or []:
            if not isinstance(item, dict) or item.get("kty") != "RSA" or not item.get("kid"):
                continue
            if item.get("use") not in (None, "sig"):
                continue
            try:
                key = jwt.PyJWK(item, algorithm="RS256")
            except jwt.PyJWTError:
                continue
            endorsed = item.get("endorsements")
            keys[str(item["kid"])] = SigningKey(
                key, tuple(endorsed) if isinstance(endorsed, list) else None
            )
        self._keys = keys
        self.issuer = (
            meta.get("issuer") if isinstance(meta.get("issuer"), str) else (BOTFRAMEWORK_ISSUER)
        )
        self._fetched_at = self.clock()
        self.fetches += 1

    def signing_key(self, kid: str) -> SigningKey | None:
        """The key with this id; refetches when it is unknown (rate-limited) or the cache is old."""
        with self._lock:
            now = self.clock()
            stale = self._fetched_at is None or now - self._fetched_at > KEYS_MAX_AGE
            unknown = kid not in self._keys and (
                self._fetched_at is None or now - self._fetched_at >= self.min_refresh
            )
            if stale or unknown:
                try:
                    self.refresh()
                except KeysUnavailable:
                    if not self._keys:
                        raise
            return self._keys.get(kid)

    def verify(self, header: str | None) -> tuple[dict, SigningKey]:
        """The claims of a valid `Authorization: Bearer` token, and the key that signed it."""
        scheme, _, token = (header or "").strip().partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise AuthError("no bearer token")
        try:
            head = jwt.get_unverified_header(token.strip())
        except jwt.PyJWTError:
            raise AuthError("the token is not a JWT") from None
        if head.get("alg") != "RS256":
            raise AuthError(f"algorithm {head.get('alg')!r} is not accepted")
        kid = head.get("kid")
        key = self.signing_key(str(kid)) if kid else None
        if key is None:
            raise AuthError("the token is signed with an unknown key")
        try:
            claims = jwt.decode(
                token.strip(),
                key.key,
                algorithms=["RS256"],
                audience=self.app_id,
                issuer=self.issuer,
                leeway=self.leeway,
                options={"require": ["exp", "iss", "aud"]},
            )
        except jwt.ExpiredSignatureError:
            raise AuthError("the token has expired") from None
        except jwt.InvalidAudienceError:
            raise AuthError("the token is for another audience") from None
        except jwt.InvalidIssuerError:
            raise AuthError("the token has the wrong issuer") from None
        except jwt.InvalidSignatureError:
            raise AuthError("the token signature does not verify") from None
        except jwt.PyJWTError as exc:
            raise AuthError(f"invalid token ({type(exc).__name__})") from None
        return claims, key

    def check_activity(self, claims: dict, key: SigningKey, activity: dict) -> None:
        """The token must be for this activity's channel and service URL."""
        channel = activity.get("channelId")
        if key.endorsements is not None and channel not in key.endorsements:
            raise AuthError(f"the signing key does not endorse channel {str(channel)[:40]!r}")
        claimed = claims.get("serviceurl") or claims.get("serviceUrl")
        given = activity.get("serviceUrl")
        if not isinstance(claimed, str) or not isinstance(given, str):
            raise AuthError("the token or the activity has no service URL")
        if claimed.rstrip("/").lower() != given.rstrip("/").lower():
            raise AuthError("the activity's serviceUrl differs from the token's")


_cache: dict[tuple[str, str], BotAuthenticator] = {}
_cache_lock = threading.Lock()


def authenticator_for(metadata_url: str, app_id: str) -> BotAuthenticator:
    """The process-wide authenticator for this metadata URL and app id."""
    with _cache_lock:
        key = (metadata_url, app_id)
        if key not in _cache:
            _cache[key] = BotAuthenticator(metadata_url, app_id)
        return _cache[key]


def clear_cache() -> None:
    """Forget the process-wide authenticators and close their connections (tests)."""
    with _cache_lock:
        for auth in _cache.values():
            auth.close()
        _cache.clear()
