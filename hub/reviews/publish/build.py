"""The one place that runs MkDocs: a strict build into a fresh directory, swapped in atomically.

Keep it that way: an engine that reads mkdocs.yml (e.g. Zensical) replaces this module only.
`mkdocs.exceptions.Abort` is a SystemExit; inside a Huey task it would kill the worker thread,
so every way MkDocs can fail comes out of here as a `SiteBuildError` with MkDocs' own messages.
"""

from __future__ import annotations

import logging
import os
import shutil
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

log = logging.getLogger("hub.reviews.publish")
KEEP_BUILDS = 2  # the live one and the one before (requests in flight may still read it)


class SiteBuildError(Exception):
    """The site could not be built; the message says why (MkDocs' errors and warnings)."""


@dataclass(frozen=True)
class Built:
    site: Path  # the live path (a symlink to the build)
    build_dir: Path
    pages: int
    seconds: float
    cleaner: threading.Thread | None = None  # deleting retired builds; join() to wait


class _Progress:
    """A tiny MkDocs plugin that reports each page written."""

    def __init__(self, report: Callable[[int, int], None]):
        self.report, self.done, self.total = report, 0, 0

    def on_files(self, files, *, config):
        self.total = len(files.documentation_pages())
        return files

    def on_post_page(self, output, *, page, config):
        self.done += 1
        self.report(self.done, self.total)
        return output


class _Collect(logging.Handler):
    def __init__(self):
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record):
        self.messages.append(record.getMessage())


def build_site(
    config_file: Path,
    docs_dir: Path,
    site: Path,
    *,
    nav: list | None = None,
    tags_allowed: list[str] | None = None,
    strict: bool = True,
    progress: Callable[[int, int], None] | None = None,
) -> Built:
    """Build `docs_dir` with `config_file` into a new directory and make `site` point at it."""
    from mkdocs.commands.build import build
    from mkdocs.config import load_config
    from mkdocs.exceptions import Abort, MkDocsException

    builds = site.parent / "builds"
    builds.mkdir(parents=True, exist_ok=True)
    # sortable to the microsecond: several builds in one second must still prune in order
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
    target = builds / f"{stamp}-{uuid.uuid4().hex[:8]}"
    collect = _Collect()
    mkdocs_log = logging.getLogger("mkdocs")
    mkdocs_log.addHandler(collect)
    started = time.monotonic()
    pages = _Progress(progress or (lambda done, total: None))
    try:
        overrides = {"nav": nav} if nav is not None else {}
        cfg = load_config(
            str(config_file),
            strict=strict,
            docs_dir=str(docs_dir),
            site_dir=str(target),
            **overrides,
        )
        if tags_allowed is not None and "material/tags" in cfg.plugins:
            plugin = cfg.plugins["material/tags"]
            plugin.config.tags_allowed = type(plugin.config).tags_allowed.validate(
                sorted(tags_allowed)
            )
        cfg.plugins["mihub/progress"] = pages
        cfg.plugins.on_startup(command="build", dirty=False)
        try:
            build(cfg)
        finally:
            cfg.plugins.on_shutdown()
    except (Abort, MkDocsException, SystemExit) as exc:  # Abort is a SystemExit: never let it out
        shutil.rmtree(target, ignore_errors=True)
        details = "; ".join(dict.fromkeys(collect.messages)) or "no details"
        raise SiteBuildError(f"the knowledge base build failed: {exc} ({details})") from None
    except Exception:
        shutil.rmtree(target, ignore_errors=True)
        raise
    finally:
        mkdocs_log.removeHandler(collect)
    swap(target, site)
    cleaner = prune(builds, keep=target.name)
    return Built(site, target, pages.done, time.monotonic() - started, cleaner)


def swap(target: Path, site: Path) -> None:
    """Point the `site` symlink at `target` in one atomic rename."""
    link = site.with_name(f".{site.name}.{uuid.uuid4().hex[:8]}")
    os.symlink(os.path.relpath(target, site.parent), link)
    if site.exists() and not site.is_symlink():  # a plain directory from a hand-made build
        site.rename(site.with_name(f"{site.name}.old-{uuid.uuid4().hex[:8]}"))
    os.replace(link, site)
    log.info("knowledge base now served from %s", target)


def prune(builds: Path, keep: str) -> threading.Thread | None:
    """Retire all but the newest KEEP_BUILDS builds (and `keep`); delete them in the background.

    Renaming is instant; deleting thousands of pages is not, and nobody needs to wait for it.
    A deletion cut short (the process exits) is finished by the next prune.
    """
    entries = sorted(
        (p for p in builds.iterdir() if p.is_dir() and not p.name.startswith(".")),
        key=lambda p: p.name,
    )
    for path in entries[:-KEEP_BUILDS]:
        if path.name != keep:
            path.rename(builds / f".trash-{path.name}")
    trash = [p for p in builds.iterdir() if p.name.startswith(".trash-")]
    if not trash:
        return None
    worker = threading.Thread(target=_delete, args=(trash,), name="kb-prune", daemon=True)
    worker.start()
    return worker


def _delete(paths: list[Path]) -> None:
    for path in paths:
        shutil.rmtree(path, ignore_errors=True)
