"""`mihub status build`: a copy of the status page for any web server."""

from __future__ import annotations

import time
from pathlib import Path

import click

from hub.cli.common import setup_logging, start_hub


@click.group()
def status():
    """The status page."""


@status.command("build")
@click.option(
    "--out",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Directory to write index.html, feed.atom, services/*.atom and status.css into.",
)
@click.option(
    "--internal", is_flag=True, help="The internal variant (staff text) instead of the public one."
)
@click.option(
    "--url", help="Where the copy is served, for the feeds' links (default: HUB_BASE_URL/status)."
)
@click.option(
    "--watch",
    type=click.FloatRange(min=0.5),
    help="Keep running: look for changes every this many seconds and rebuild when there are.",
)
def status_build(out, internal, url, watch):
    """Write the status page (public variant unless --internal) into a directory."""
    from hub.app.db import utcnow
    from hub.status.render import CACHE_SECONDS
    from hub.status.static import build_static, counter

    hub = start_hub()
    setup_logging("WARNING")
    url = url or hub.settings.base_url.rstrip("/") + "/status"
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise click.ClickException(f"cannot write to {out}: {exc.strerror}") from exc
    seen, built_at = None, 0.0
    try:
        while True:
            now_counter = counter(hub)
            if now_counter != seen or time.monotonic() - built_at >= CACHE_SECONDS:
                files = build_static(hub, out, public=not internal, url=url, now=utcnow())
                seen, built_at = now_counter, time.monotonic()
                click.echo(f"wrote {len(files)} files to {out}")
            if not watch:
                return
            time.sleep(watch)
    except KeyboardInterrupt:
        return
    except OSError as exc:
        raise click.ClickException(f"cannot write to {out}: {exc.strerror or exc}") from exc
    finally:
        hub.db.dispose()


COMMANDS = (status,)
