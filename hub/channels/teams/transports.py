"""Teams transports: Workflows webhook, Bot Framework connector, local sink; each has `send(payload)`."""

from __future__ import annotations

import hashlib
import ipaddress
import itertools
import json
import os
import threading
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import quote, urlsplit

import requests

from hub.app.settings import Settings, SettingsError
from hub.channels.base import PermanentError, Sent, TransientError, parse_retry_after, redact_url
from hub.channels.identity import get_token_source
from hub.channels.teams.cards import (
    ACTIONS,
    BOT_ACTIONS,
    MAX_BYTES,
    check_size,
    validate_envelope,
)
from hub.notifications.throttle import RateLimiter, shared_limiter

BOT_SCOPE = "https://api.botframework.com/.default"
SHOWN_PATH = 40  # characters of a URL's path in log lines and the sink (no query: the secret)
MODES = ("webhook", "sink", "auto")
CREDENTIALS = ("HUB_GRAPH_TENANT_ID", "HUB_GRAPH_CLIENT_ID", "HUB_GRAPH_CLIENT_SECRET")


class TokenSource(Protocol):
    """What BotTransport needs from hub.channels.identity: a bearer token for some scopes."""

    def token(self, scopes: list[str]) -> str: ...


def check_endpoint(url: Any) -> str:
    """The URL if it may be posted to: https anywhere, plain http only to a loopback host."""
    parts = urlsplit(url) if isinstance(url, str) else None
    if parts is None or not parts.hostname:
        raise PermanentError(f"not a URL: {redact_url(url, SHOWN_PATH)}")
    if parts.scheme == "https":
        return url
    if parts.scheme == "http" and _is_loopback(parts.hostname):
        return url
    raise PermanentError(f"refusing to post to {redact_url(url, SHOWN_PATH)}: https is required")


def _is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _post(
    session, url: str, what: str, *, timeout, method: str = "POST", **kwargs
) -> requests.Response:
    try:
        return session.request(method, url, timeout=timeout, allow_redirects=False, **kwargs)
    except requests.Timeout as exc:
        raise TransientError(f"{what}: timed out ({type(exc).__name__})") from exc
    except requests.ConnectionError as exc:
        raise TransientError(f"{what}: cannot connect ({type(exc).__name__})") from exc
    except (requests.exceptions.InvalidURL, requests.exceptions.InvalidSchema) as exc:
        raise PermanentError(f"{what}: bad URL ({type(exc).__name__})") from exc
    except requests.RequestException as exc:
        raise TransientError(f"{what}: {type(exc).__name__}") from exc


def _check_response(response: requests.Response, what: str, limiter, key: str) -> None:
    """Map a non-2xx answer to TransientError (429, 408, 5xx) or PermanentError."""
    status = response.status_code
    if 200 <= status < 300:
        return
    retry_after = parse_retry_after(response.headers.get("Retry-After"))
    if status == 429:
        limiter.block(key, retry_after if retry_after is not None else 1.0)
        raise TransientError(f"{what}: 429 throttled", retry_after=retry_after)
    if status == 408 or status >= 500:
        raise TransientError(f"{what}: {status}", retry_after=retry_after)
    body = (response.text or "")[:200]
    raise PermanentError(f"{what}: {status} {response.reason or ''}: {body}".rstrip(": "))


def _body_id(body: bytes) -> str:
    return "sha256:" + hashlib.sha256(body).hexdigest()[:24]


class WebhookTransport:
    """Posts a card envelope to a Teams Workflows webhook: payload {"url", "envelope"}."""

    def __init__(
        self,
        session: requests.Session,
        *,
        rate_per_second: float = 4.0,
        timeout: float = 10,
        limiter: RateLimiter | None = None,
        max_wait: float = 5.0,
    ):
        self.session, self.timeout, self.max_wait = session, timeout, max_wait
        self.limiter = limiter or shared_limiter("teams-webhook", rate_per_second)

    def send(self, payload: dict) -> Sent:
        """POST the envelope; Sent on 2xx, TransientError or PermanentError otherwise."""
        url = check_endpoint(payload.get("url"))
        validate_envelope(payload.get("envelope"))
        message = check_size(payload["envelope"], MAX_BYTES)
        body = json.dumps(message, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        what = f"Teams webhook {redact_url(url, SHOWN_PATH)}"
        if not self.limiter.acquire(url, self.max_wait):
            raise TransientError(
                f"{what}: throttled locally", retry_after=self.limiter.delay_for(url)
            )
        headers = {"Content-Type": "application/json; charset=utf-8"}
        response = _post(self.session, url, what, timeout=self.timeout, data=body, headers=headers)
        _check_response(response, what, self.limiter, url)
        provider_id = (
            response.headers.get("x-ms-workflow-run-id")
            or response.headers.get("x-ms-request-id")
            or _body_id(body)
        )
        return Sent(provider_id, f"{response.status_code} {response.reason or ''}".strip())


class BotTransport:
    """Bot Framework proactive message: payload {"service_url", "conversation_id", "activity"};
    with `activity_id` too, that message is replaced in place (updateActivity, a PUT)."""

    def __init__(
        self,
        settings: Settings,
        token_source: TokenSource,
        session: requests.Session,
        *,
        timeout: float = 10,
        rate_per_second: float = 4.0,
        limiter: RateLimiter | None = None,
        max_wait: float = 5.0,
    ):
        self.settings, self.token_source, self.session = settings, token_source, session
        self.timeout, self.max_wait = timeout, max_wait
        self.limiter = limiter or shared_limiter("teams-bot", rate_per_second)

    def send(self, payload: dict) -> Sent:
        """POST the activity to the conversation; Sent with the activity id."""
        service_url = payload.get("service_url") or self.settings["HUB_BOT_API"]
        check_endpoint(service_url)
        conversation = payload.get("conversation_id")
        activity = payload.get("activity")
        if not conversation or not isinstance(activity, dict) or not activity.get("type"):
            raise PermanentError("bot payload needs conversation_id and an activity with a type")
        if activity.get("attachments"):
            validate_envelope(activity, BOT_ACTIONS)
            activity = check_size(activity, MAX_BYTES)
        url = (
            f"{service_url.rstrip('/')}/v3/conversations/{quote(conversation, safe='')}/activities"
        )
        replaces = payload.get("activity_id")
        if replaces:
            url = f"{url}/{quote(str(replaces), safe='')}"
            activity = {**activity, "id": str(replaces)}
        what = f"Teams bot {redact_url(service_url, SHOWN_PATH)} conversation {conversation[:40]}"
        if not self.limiter.acquire(conversation, self.max_wait):
            raise TransientError(
                f"{what}: throttled locally", retry_after=self.limiter.delay_for(conversation)
            )
        body = json.dumps(activity, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        for attempt in (1, 2):
            token = self.token_source.token([BOT_SCOPE])
            headers = {
                "Authorization": f"Bearer {token}",
                "Content-Type": "application/json; charset=utf-8",
            }
            response = _post(
                self.session,
                url,
                what,
                timeout=self.timeout,
                data=body,
                headers=headers,
                method="PUT" if replaces else "POST",
            )
            invalidate = getattr(self.token_source, "invalidate", None)
            if response.status_code != 401 or attempt == 2 or invalidate is None:
                break
            invalidate()  # a revoked or stale cached token: fetch a fresh one, once
        _check_response(response, what, self.limiter, conversation)
        try:
            activity_id = response.json().get("id")
        except (ValueError, AttributeError):
            activity_id = None
        return Sent(str(activity_id or _body_id(body)), str(response.status_code))


class TeamsSinkTransport:
    """Writes each card envelope to <data_dir>/sinks/teams/<ts>-<n>.json (temp file + link)."""

    _counter = itertools.count(1)
    _lock = threading.Lock()

    def __init__(self, data_dir: str | os.PathLike):
        self.directory = Path(data_dir) / "sinks" / "teams"

    def send(self, payload: dict) -> Sent:
        """Validate like the real transports, then write the file; provider id = file name."""
        message = payload.get("envelope") or payload.get("activity")
        validate_envelope(message, BOT_ACTIONS if "activity" in payload else ACTIONS)
        message = check_size(message, MAX_BYTES)
        now = datetime.now(UTC)
        record = {
            "at": now.isoformat(timespec="milliseconds"),
            "transport": ("bot-update" if payload.get("activity_id") else "bot")
            if "activity" in payload
            else "webhook",
            "to": redact_url(payload["url"], SHOWN_PATH)
            if payload.get("url")
            else payload.get("conversation_id"),
            "envelope": message,
        }
        self.directory.mkdir(parents=True, exist_ok=True)
        tmp = self.directory / f".{uuid.uuid4().hex}.tmp"
        tmp.write_text(json.dumps(record, ensure_ascii=False, indent=2), encoding="utf-8")
        try:
            while True:  # link() never overwrites: another process may have taken the name
                with self._lock:
                    n = next(self._counter)
                name = f"{now:%Y%m%dT%H%M%S%fZ}-{n:06d}.json"
                try:
                    os.link(tmp, self.directory / name)
                    return Sent(name, "written to sink")
                except FileExistsError:
                    continue
        finally:
            tmp.unlink(missing_ok=True)


class AutoTeamsTransport:
    """HUB_TEAMS_TRANSPORT=auto: post where a webhook URL is configured, else to the sink."""

    def __init__(self, webhook: WebhookTransport, sink: TeamsSinkTransport):
        self.webhook, self.sink = webhook, sink

    def send(self, payload: dict) -> Sent:
        """Webhook when the payload has a URL, sink otherwise."""
        return (self.webhook if payload.get("url") else self.sink).send(payload)


def make_teams_transport(
    settings: Settings,
    channel: str = "teams",
    *,
    session: requests.Session | None = None,
    token_source: TokenSource | None = None,
):
    """The transport for outbox rows of `channel` ("teams" webhook posts or "bot")."""
    mode = settings.text("HUB_TEAMS_TRANSPORT").lower()
    if mode not in MODES:
        raise SettingsError(f"HUB_TEAMS_TRANSPORT must be one of {', '.join(MODES)}, got {mode!r}")
    sink = TeamsSinkTransport(settings.data_dir)
    if mode == "sink":
        return sink
    session = session or requests.Session()
    if channel == "bot":
        if token_source is None and all(settings[name] for name in CREDENTIALS):
            token_source = get_token_source(settings)
        if token_source is not None:
            return BotTransport(settings, token_source, session)
        if mode == "auto":
            return sink
        raise SettingsError("the Teams bot needs " + ", ".join(CREDENTIALS))
    if channel != "teams":
        raise ValueError(f"not a Teams channel: {channel!r}")
    webhook = WebhookTransport(session)
    return webhook if mode == "webhook" else AutoTeamsTransport(webhook, sink)
