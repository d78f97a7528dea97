"""A copy of the status page for any web server: index.html, the Atom feeds and the stylesheet,
with relative links, each file replaced atomically (a reader never sees half a file)."""

from __future__ import annotations

import os
import tempfile
from datetime import datetime
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from hub.status.board import compose
from hub.status.read import change_counter, load_rows
from hub.status.render import STYLESHEET, render_feed, render_page


def build_static(hub, out: Path, *, public: bool, url: str, now: datetime) -> list[Path]:
    """Write the page (public or internal variant) into `out`; `url` is where it is served
    (for the feeds' links). Returns the files written."""
    with hub.db.reading() as connection:
        incidents, windows = load_rows(connection, now)
    page = compose(hub.policy, incidents, windows, now, public=public)
    url = url.rstrip("/")
    base = _site_root(url)
    files = {
        "index.html": render_page(
            page,
            prefix="",
            links=[],
            subscribe_action=f"{hub.settings.base_url.rstrip('/')}/subscribe",
        ),
        "feed.atom": render_feed(page, base_url=base, page_url=url, self_url=f"{url}/feed.atom"),
        "status.css": STYLESHEET.read_text(encoding="utf-8"),
    }
    for s in page.services:
        name = f"services/{s.key}.atom"
        files[name] = render_feed(
            page, base_url=base, page_url=url, self_url=f"{url}/{name}", service=s.key
        )
    written = []
    for name, text in files.items():
        written.append(_replace(out / name, text))
    return written


def _site_root(url: str) -> str:
    """`url` without a trailing `/status` or `/status/public` path (the feeds' ids are built
    on it); a host named status… keeps its name."""
    parts = urlsplit(url)
    path = parts.path.rstrip("/")
    for suffix in ("/status/public", "/status"):
        if path.endswith(suffix):
            path = path[: -len(suffix)]
            break
    return urlunsplit((parts.scheme, parts.netloc, path, "", ""))


def counter(hub) -> tuple:
    """The database's change counter (the static copy is rebuilt when it moves)."""
    with hub.db.reading() as connection:
        return change_counter(connection)


def _replace(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
