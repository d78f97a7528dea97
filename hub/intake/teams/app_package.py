"""The Teams app package: manifest.json for the bot with its commands, and two icons drawn in code.

The package is a zip with `manifest.json`, `color.png` (192×192, full colour) and
`outline.png` (32×32, white on transparent), ready for "Upload a custom app" in Teams or the
Teams admin centre. It is deterministic: the same settings give the same bytes.
"""

from __future__ import annotations

import io
import json
import re
import struct
import uuid
import zipfile
import zlib
from collections.abc import Callable
from urllib.parse import urlsplit

from hub.app.settings import Settings
from hub.intake.commands import USAGE

MANIFEST_VERSION = "1.17"
SCHEMA = (
    f"https://developer.microsoft.com/en-us/json-schemas/teams/v{MANIFEST_VERSION}"
    "/MicrosoftTeams.schema.json"
)
ACCENT = (196, 49, 75)  # #C4314B
SCOPES = ["personal", "team", "groupChat"]
_GUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.I)
_SEMVER = re.compile(r"^\d+\.\d+\.\d+$")


class PackageError(Exception):
    """The package cannot be built from these settings; the message says what to set."""


def png(
    width: int, height: int, pixel: Callable[[float, float], tuple[int, int, int, int]]
) -> bytes:
    """An 8-bit RGBA PNG; `pixel(u, v)` gets the pixel centre in 0..1 coordinates."""
    rows = bytearray()
    for y in range(height):
        rows.append(0)  # filter type: none
        for x in range(width):
            rows.extend(pixel((x + 0.5) / width, (y + 0.5) / height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data))
            + kind
            + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(bytes(rows), 9))
        + chunk(b"IEND", b"")
    )


def _mark(u: float, v: float, ring: tuple[float, float], bar: float, dot: float) -> bool:
    """A ring with an exclamation mark inside: the hub's alarm sign."""
    r = ((u - 0.5) ** 2 + (v - 0.5) ** 2) ** 0.5
    in_bar = abs(u - 0.5) < bar and 0.27 < v < 0.58
    in_dot = ((u - 0.5) ** 2 + (v - 0.70) ** 2) ** 0.5 < dot
    return ring[0] <= r <= ring[1] or in_bar or in_dot


def color_icon() -> bytes:
    """192×192: the white sign on the accent colour."""
    white, accent = (255, 255, 255, 255), (*ACCENT, 255)
    return png(192, 192, lambda u, v: white if _mark(u, v, (0.34, 0.41), 0.045, 0.05) else accent)


def outline_icon() -> bytes:
    """32×32: the sign in white on a transparent background, as Teams requires."""
    white, clear = (255, 255, 255, 255), (0, 0, 0, 0)
    return png(32, 32, lambda u, v: white if _mark(u, v, (0.38, 0.48), 0.07, 0.075) else clear)


def _https(url: str, what: str) -> str:
    if urlsplit(url).scheme != "https" or not urlsplit(url).hostname:
        raise PackageError(
            f"{what} must be an https address, got {url!r}: set HUB_BASE_URL to "
            "the hub's public https address"
        )
    return url


# A bot menu holds at most 10 commands. Left out (all still understood, and listed by `help`):
# "not this" (a reply to the hub's notice), "split" (the Major Incident Manager's, rare) and
# "report" (writing the problem in one's own words does the same) and "unsubscribe" (each
# update a subscriber gets says how).
NOT_IN_MENU = ("notthis", "split", "report", "unsubscribe")


def manifest(
    settings: Settings,
    *,
    version: str = "1.0.0",
    name: str = "Major Incident Hub",
    developer: str = "IT Service Desk",
) -> dict:
    """manifest.json for the bot, its commands and links to the hub."""
    bot_id = settings.text("HUB_BOT_APP_ID").strip()
    if not _GUID.match(bot_id):
        raise PackageError(
            "HUB_BOT_APP_ID must be the bot's Microsoft App ID (a GUID), "
            f"got {bot_id or '(unset)'!r}"
        )
    if not _SEMVER.match(version):
        raise PackageError(f"the app version must look like 1.0.0, got {version!r}")
    base = _https(settings.base_url, "HUB_BASE_URL")
    commands = [
        {"title": key, "description": f"{usage}: {what}"[:128]}
        for key, (usage, what) in USAGE.items()
        if key not in NOT_IN_MENU
    ]
    return {
        "$schema": SCHEMA,
        "manifestVersion": MANIFEST_VERSION,
        "version": version,
        "id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"mihub:teams-app:{bot_id.lower()}")),
        "developer": {
            "name": developer[:32],
            "websiteUrl": base,
            "privacyUrl": f"{base}/",
            "termsOfUseUrl": f"{base}/",
        },
        "name": {"short": name[:30], "full": name[:100]},
        "description": {
            "short": "Report, declare and run major IT incidents from Teams."[:80],
            "full": (
                "Report a problem or declare a major incident, acknowledge pages, post "
                "updates, hand over roles and resolve, without leaving Teams. Mention the "
                "bot in a channel or chat with it; write `help` for the commands."
            )[:4000],
        },
        "icons": {"outline": "outline.png", "color": "color.png"},
        "accentColor": "#{:02X}{:02X}{:02X}".format(*ACCENT),
        "bots": [
            {
                "botId": bot_id,
                "scopes": SCOPES,
                "supportsFiles": False,
                "isNotificationOnly": False,
                "commandLists": [{"scopes": SCOPES, "commands": commands}],
            }
        ],
        "permissions": ["identity", "messageTeamMembers"],
        "validDomains": [urlsplit(base).hostname],
    }


def build_package(settings: Settings, **options) -> bytes:
    """The zip to upload: manifest.json, color.png, outline.png (fixed timestamps)."""
    files = {
        "manifest.json": json.dumps(manifest(settings, **options), indent=2).encode(),
        "color.png": color_icon(),
        "outline.png": outline_icon(),
    }
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in files.items():
            info = zipfile.ZipInfo(name, date_time=(2024, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, data)
    return buffer.getvalue()
