"""The browser tests' world: the hub on waitress, its real local peers, and Debian's Chromium.

One hub for the whole session on 127.0.0.1: SQLite, mail over SMTP to an aiosmtpd sink,
Teams cards to the file sink, sign-in through the fake Entra ID endpoint or a mailed link,
and Huey in immediate mode so that deliveries and publishing run as soon as they commit.
"""

from __future__ import annotations

import re
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import policy as email_policy
from email.parser import BytesParser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SHOTS = Path(__file__).resolve().parent.parent / "test-artifacts" / "screenshots"
DESKTOP, PHONE = {"width": 1280, "height": 860}, {"width": 375, "height": 812}
PHONE_390 = {"width": 390, "height": 844}  # the width the console is checked at
HOOKS = {
    name: f"https://hooks.example.test/{name.lower()}?sig=secret-{n}"
    for n, name in enumerate(
        (
            "TEAMS_EXEC_WEBHOOK",
            "TEAMS_IT_WEBHOOK",
            "TEAMS_SERVICEDESK_WEBHOOK",
            "TEAMS_ONCALL_WEBHOOK",
        )
    )
}
TENANT, CLIENT, SECRET = "northwind-test", "hub-console", "console-secret"


def entra_users(policy) -> dict[str, dict]:
    """The fake directory: everyone in the policy, and one stranger."""
    users = {
        p.teams: {"oid": p.aad_object_id, "name": p.name} for p in policy.people.values() if p.teams
    }
    users["stranger@northwind.example"] = {
        "oid": "00000000-0000-4000-8000-00000000dead",
        "name": "Stranger Danger",
    }
    return users


class Recorder:
    """WSGI middleware: remembers each request's method, path, cookie names and status."""

    def __init__(self):
        self.app = None
        self.seen: list[dict] = []

    def __call__(self, environ, start_response):
        entry = {
            "method": environ["REQUEST_METHOD"],
            "path": environ.get("PATH_INFO", ""),
            "cookies": environ.get("HTTP_COOKIE", ""),
            "origin": environ.get("HTTP_ORIGIN"),
        }
        self.seen.append(entry)

        def recording_start(status, headers, exc_info=None):
            entry["status"] = int(status.split()[0])
            return start_response(status, headers, exc_info)

        return self.app(environ, recording_start)


@dataclass
class World:
    """Everything a browser test reaches for."""

    url: str
    hub: object
    smtp: object
    entra: object
    recorder: Recorder
    data_dir: Path
    evil_url: str = ""
    dialogs: list[str] = field(default_factory=list)

    def mails_to(self, address: str) -> list:
        """Parsed messages the SMTP sink received for an address, oldest first."""
        return [
            BytesParser(policy=email_policy.default).parsebytes(m.data)
            for m in self.smtp.messages
            if address.lower() in [r.lower() for r in m.rcpt_tos]
        ]

    def wait_for_mail(self, address: str, needle: str, timeout: float = 10.0):
        """The first message to `address` whose text contains `needle`."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for msg in self.mails_to(address):
                body = msg.get_body(("plain",))
                if body is not None and needle in body.get_content():
                    return msg
            time.sleep(0.1)
        raise AssertionError(f"no mail to {address} containing {needle!r}")

    def links_to(self, address: str) -> list[str]:
        """Every one-time sign-in link mailed to `address`, oldest first."""
        found = []
        for msg in self.mails_to(address):
            body = msg.get_body(("plain",))
            found += re.findall(r"https?://\S+/login/link/\S+", body.get_content() if body else "")
        return found

    def new_link(self, address: str, seen: int, timeout: float = 10.0) -> str:
        """The link mailed after the first `seen` ones."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.links_to(address)
            if len(found) > seen:
                return found[-1]
            time.sleep(0.1)
        raise AssertionError(f"no new sign-in link mailed to {address}")


def serve_evil_page(target: str) -> ThreadingHTTPServer:
    """A page on another site (localhost vs 127.0.0.1) that posts a form to the hub at once."""
    page = (
        f'<!doctype html><title>evil</title><form id="f" method="post" '
        f'action="{target}/declare"><input name="title" value="Forged incident">'
        '<input name="action" value="declare"></form>'
        '<script>document.getElementById("f").submit()</script>'
    ).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - http.server's naming
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(page)))
            self.end_headers()
            self.wfile.write(page)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def shoot(page, name: str) -> None:
    """Screenshots of the current page at desktop and phone width."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    for label, size in (("desktop", DESKTOP), ("phone", PHONE)):
        page.set_viewport_size(size)
        page.wait_for_timeout(150)
        page.screenshot(path=str(SHOTS / f"{name}-{label}.png"), full_page=True)
    page.set_viewport_size(DESKTOP)


def csrf_of(page) -> str:
    """The page's CSRF token (the body carries it for the scripts)."""
    return page.eval_on_selector("body", "b => b.dataset.csrf")


def open_world(tmp: Path):
    """Start the hub and its peers; a generator: yields the World, then stops everything."""
    from hub import create_app
    from hub.app.context import Hub
    from hub.app.migrate import upgrade
    from hub.app.settings import load_settings
    from hub.notifications import delivery
    from hub.policy.load import load_policy
    from hub.runner import serving_in_thread
    from hub.testing.fakes.microsoft import FakeMicrosoft
    from hub.testing.fakes.smtp_sink import SmtpSink
    from tasks import runtime
    from tasks.main import huey
    from tests.conftest import EXAMPLE_POLICY

    data_dir = tmp / "var"
    database = f"sqlite:///{data_dir / 'hub.db'}"
    upgrade(database)
    policy = load_policy(EXAMPLE_POLICY, env=HOOKS)
    smtp = SmtpSink().start()
    entra = FakeMicrosoft(
        tenant=TENANT, clients={CLIENT: SECRET}, users=entra_users(policy)
    ).start()
    recorder = Recorder()
    # the URL first: the settings name it. Each open board, room or review holds a thread
    # with its event stream: threads for several people's pages, and streams below that.
    serving = serving_in_thread(recorder, threads=40)
    url = serving.__enter__()
    settings = load_settings(
        env={},
        overrides={
            "HUB_DATA_DIR": str(data_dir),
            "HUB_DATABASE_URL": database,
            "HUB_QUEUE_URL": "memory://",
            "HUB_POLICY": str(EXAMPLE_POLICY),
            "HUB_BASE_URL": url,
            "HUB_SECRET_KEY": "browser-test",
            "HUB_MAIL_TRANSPORT": "smtp",
            "HUB_SMTP_URL": smtp.url,
            "HUB_MAIL_FROM": "Major Incident Hub <incidents@northwind.example>",
            "HUB_TEAMS_TRANSPORT": "sink",
            "HUB_SIGNIN": "entra,link",
            "HUB_AUTHORITY_HOST": entra.url,
            "HUB_GRAPH_TENANT_ID": TENANT,
            "HUB_GRAPH_CLIENT_ID": CLIENT,
            "HUB_GRAPH_CLIENT_SECRET": SECRET,
            "HUB_WEB_THREADS": "40",
        },
    )
    hub = Hub(settings, policy=policy)
    for channel in ("email", "teams", "bot"):
        delivery.use_transport(channel, None)  # made afresh from these settings
    runtime.set_hub(hub)
    huey.immediate = True  # deliveries and publishing run as soon as their rows commit
    recorder.app = create_app({}, hub=hub)
    evil = serve_evil_page(url)
    try:
        yield World(
            url=url,
            hub=hub,
            smtp=smtp,
            entra=entra,
            recorder=recorder,
            data_dir=data_dir,
            evil_url=f"http://localhost:{evil.server_address[1]}/",
        )
    finally:
        evil.shutdown()
        evil.server_close()
        for stop in recorder.app.extensions.get("hub.stopping", []):
            stop()  # the pages' event streams end, as when the process stops
        serving.__exit__(None, None, None)
        huey.immediate = False
        runtime._hub = None
        for channel in ("email", "teams", "bot"):
            transport = delivery._transports.get(channel)
            if transport is not None and hasattr(transport, "close"):
                transport.close()
            delivery.use_transport(channel, None)
        smtp.stop()
        entra.stop()
        hub.db.dispose()


def require_browser():
    """Playwright's sync API, or the calling test module skipped with the reason: Debian's
    Chromium not installed, or the `playwright` package missing. Call it at module level."""
    if not CHROMIUM.exists():
        pytest.skip(
            "browser tests skipped: Debian's Chromium is not installed at /usr/bin/chromium "
            "(`sudo apt-get install chromium`; CI installs it)",
            allow_module_level=True,
        )
    return pytest.importorskip(
        "playwright.sync_api",
        reason="browser tests skipped: the `playwright` package is missing (pip install -e '.[test]')",
    )


@contextmanager
def launched_chromium():
    """Debian's Chromium under Playwright, closed at the end (a module's `browser` fixture)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()
