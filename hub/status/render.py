"""The status page's own small renderer: HTML and Atom from templates/status/, cached per
change counter, so a change shows on the next request after it commits (no site build)."""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache

import jinja2
from markupsafe import Markup

from hub.app.templates import TEMPLATES
from hub.app.text import nl2br
from hub.app.timefmt import local_full
from hub.status.board import LABELS, IncidentView, MaintenanceView, StatusPage, compose
from hub.status.read import change_counter, load_rows

STYLESHEET = TEMPLATES / "status" / "status.css"
# The page's history strip and "since" texts move with the clock, not only with changes:
# a cached page is rendered again at least this often.
CACHE_SECONDS = 30


def environment() -> jinja2.Environment:
    """The status templates' Jinja environment: autoescaped HTML and XML, undefined is an error."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES / "status")),
        autoescape=jinja2.select_autoescape(("html", "atom.j2", "xml")),
        undefined=jinja2.StrictUndefined,
        auto_reload=False,  # each include in a loop would stat its file again
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["nl2br"] = nl2br
    env.filters["xml"] = xml_text
    env.globals["labels"] = LABELS
    return env


def xml_text(value) -> str:
    """Text without the characters XML 1.0 cannot carry (C0 controls but tab and newlines,
    lone surrogates, U+FFFE/U+FFFF): a feed stays well-formed whatever an update says."""
    return NOT_XML.sub("", str(value))


NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
ENV = environment()


@dataclass(frozen=True)
class Entry:
    """One Atom entry: an update, an incident's start or end, a maintenance window."""

    id: str
    title: str
    at: datetime
    text: str
    services: tuple[str, ...]
    anchor: str


def feed_entries(page: StatusPage, service: str | None = None) -> list[Entry]:
    """The page's events, newest first; only those about `service` when given."""
    entries: list[Entry] = []
    for item in (*page.incidents, *page.maintenance, *page.history):
        if service and service not in item.services:
            continue
        if isinstance(item, IncidentView):
            entries.extend(_incident_entries(item))
        else:
            entries.append(_window_entry(item))
    return sorted(entries, key=lambda e: (e.at, e.id), reverse=True)


def _incident_entries(i: IncidentView) -> list[Entry]:
    anchor = f"incident-{i.id}"
    name = i.title if i.ref is None else f"{i.ref}: {i.title}"
    out = [
        Entry(f"incident-{i.id}-started", f"{name} — started", i.started_at, "", i.services, anchor)
    ]
    out += [
        Entry(f"update-{u.id}", f"{name} — update", u.at, u.text, i.services, anchor)
        for u in i.updates
    ]
    if i.resolved_at:
        out.append(
            Entry(
                f"incident-{i.id}-resolved",
                f"{name} — resolved",
                i.resolved_at,
                "",
                i.services,
                anchor,
            )
        )
    return out


def _window_entry(m: MaintenanceView) -> Entry:
    title = f"Maintenance: {', '.join(m.service_names)}"
    return Entry(
        f"maintenance-{m.id}", title, m.start_at, m.text, m.services, f"maintenance-{m.id}"
    )


def render_page(page: StatusPage, *, prefix: str, **extra) -> str:
    """The status page's HTML; links start with `prefix` (`/status/` served, `` static)."""
    return ENV.get_template("page.html").render(
        page=page, prefix=prefix, clock=PageClock(page.timezone), **extra
    )


def render_feed(
    page: StatusPage, *, base_url: str, page_url: str, self_url: str, service: str | None = None
) -> str:
    """An Atom 1.0 feed of the page's events (all, or one service's); `self_url`: the absolute
    address it is read at (its `rel="self"` link, which feed readers and validators ask for)."""
    name = None
    if service:
        found = page.service(service)
        name = found.name if found else service
    entries = feed_entries(page, service)
    return ENV.get_template("feed.atom.j2").render(
        page=page,
        entries=entries,
        service=service,
        service_name=name,
        base_url=base_url.rstrip("/"),
        page_url=page_url,
        self_url=self_url,
        updated=max((e.at for e in entries), default=page.generated_at),
    )


class PageClock:
    """Times for the page: `<time datetime="ISO">2026-12-06 14:30 CET</time>`."""

    def __init__(self, tz: str):
        self.tz = tz

    def tag(self, dt: datetime | None) -> Markup:
        return Markup("—") if dt is None else _time_tag(dt, self.tz)


@lru_cache(maxsize=4096)
def _time_tag(dt: datetime, tz: str) -> Markup:
    # digits, the ISO form and the zone's abbreviation: nothing to escape
    return Markup(
        f'<time datetime="{dt.isoformat(timespec="seconds")}">{local_full(dt, tz)}</time>'
    )


class PageCache:
    """Rendered pages by (variant, change counter, clock slot): one render per change, per
    process; a change committed by any process changes the counter, so every process sees it."""

    def __init__(self):
        self._lock = threading.Lock()
        self._pages: dict[tuple, tuple[str, StatusPage]] = {}
        self.renders = 0

    def get(self, db, policy, now: datetime, *, public: bool, what: str, render) -> str:
        """`render(page)` → text, done once per key; `what` names the document (page, feed…)."""
        with db.reading() as connection:
            counter = change_counter(connection)
            key = (what, public, id(policy), counter, int(now.timestamp()) // CACHE_SECONDS)
            with self._lock:
                found = self._pages.get(key)
            if found is not None:
                return found[0]
            incidents, windows = load_rows(connection, now)
        page = compose(policy, incidents, windows, now, public=public)
        text = render(page)
        with self._lock:
            if len(self._pages) > 64:  # old counters are never asked for again
                self._pages.clear()
            self._pages[key] = (text, page)
            self.renders += 1
        return text
