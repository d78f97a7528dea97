"""Publishing: write the site sources from the database, build them, swap the site in.

Layout under `HUB_DATA_DIR/kb/`: `src/docs/` (hand-written pages copied from
reviews_site/docs, generated review and index pages), `src/manifest.json` (which reviews are
rendered, at which version), `builds/<stamp>/` and `site` → the live build (a symlink, swapped
atomically). Review pages are re-rendered only when the review or the renderer changed; the
index pages are rendered every time (they are small), then MkDocs builds the whole site, so
the search index and the tags are always complete.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import shutil
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import selectinload

from hub.app.models import ActionItem, Incident, Problem, ProblemLink, Review
from hub.app.templates import HANDWRITTEN_DOCS, MKDOCS_CONFIG, TEMPLATES
from hub.policy.model import Policy, person_name
from hub.reviews.content import OPEN_ITEM
from hub.reviews.publish import pages
from hub.reviews.publish.build import Built, build_site
from hub.reviews.publish.problem_pages import load_problems, problem_pages, problem_stamps

log = logging.getLogger("hub.reviews.publish")
CONFIG = MKDOCS_CONFIG
HANDWRITTEN = HANDWRITTEN_DOCS
BATCH = 200  # reviews loaded and rendered at a time
PUBLIC_TAG = "public"  # a security incident's review with this tag is in a public KB too
Progress = Callable[[str, int, int], None]


def renderer_digest() -> str:
    """Changes when the review template or the rendering code changes (re-render everything)."""
    digest = hashlib.sha256()
    for path in [
        TEMPLATES / "reviews" / "review.md.j2",
        *sorted(Path(__file__).parent.glob("*.py")),
    ]:
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


@dataclass(frozen=True)
class Paths:
    root: Path

    @property
    def docs(self) -> Path:
        return self.root / "src" / "docs"

    @property
    def manifest(self) -> Path:
        return self.root / "src" / "manifest.json"

    @property
    def site(self) -> Path:
        return self.root / "site"


def paths_for(data_dir: Path) -> Paths:
    """Where the knowledge base lives under the data directory."""
    return Paths(Path(data_dir) / "kb")


@contextmanager
def locked(paths: Paths):
    """One publisher at a time on this machine (the sources and the swap are shared)."""
    paths.root.mkdir(parents=True, exist_ok=True)
    with open(paths.root / ".lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _write(path: Path, text: str) -> bool:
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists() and path.read_text(encoding="utf-8") == text:
        return False
    path.write_text(text, encoding="utf-8")
    return True


def _published(include, hidden: frozenset[int] = frozenset()):
    """Published reviews, plus those being published now (one id or several); none of the
    `hidden` incidents."""
    cond = Review.state == "published"
    ids = [] if include is None else [include] if isinstance(include, int) else list(include)
    if ids:
        cond = or_(cond, Review.id.in_(ids))
    return and_(cond, Review.incident_id.not_in(hidden)) if hidden else cond


def hidden_from_public(session, settings) -> frozenset[int]:
    """With HUB_KB_ACCESS=public: the incidents whose reviews stay out of the site (security
    incidents, unless their review is tagged `public`). Signed-in only: none."""
    if settings.text("HUB_KB_ACCESS") != "public":
        return frozenset()
    stmt = select(Review.incident_id, Review.tags).join(Incident).where(Incident.security)
    return frozenset(i for i, tags in session.execute(stmt) if PUBLIC_TAG not in (tags or ()))


def sync_reviews(
    session,
    policy: Policy,
    paths: Paths,
    *,
    include: int | None,
    full: bool,
    progress: Progress,
    hidden: frozenset[int] = frozenset(),
) -> int:
    """Render the review pages that are missing or stale; remove unpublished ones."""
    manifest = json.loads(paths.manifest.read_text()) if paths.manifest.exists() else {}
    digest = renderer_digest()
    if full or manifest.get("renderer") != digest:
        manifest = {"renderer": digest, "reviews": {}}
    known: dict[str, str] = manifest.setdefault("reviews", {})
    stamps = problem_stamps(session)  # a problem linked or changed: its reviews again
    wanted = {
        f"INC-{incident_id}": f"{version}"
        + (f"+{stamps[incident_id]}" if incident_id in stamps else "")
        for incident_id, version in session.execute(
            select(Review.incident_id, Review.version).where(_published(include, hidden))
        )
    }
    reviews_dir = paths.docs / "reviews"
    reviews_dir.mkdir(parents=True, exist_ok=True)
    for ref in set(known) - set(wanted):
        for name in (f"{ref}.md", f"{ref}-timeline.svg"):
            (reviews_dir / name).unlink(missing_ok=True)
        del known[ref]
    todo = [
        int(ref[4:])
        for ref, version in wanted.items()
        if known.get(ref) != version or not (reviews_dir / f"{ref}.md").exists()
    ]
    for start in range(0, len(todo), BATCH):
        batch = todo[start : start + BATCH]
        problems = _problems(session, batch)
        stmt = (
            select(Review)
            .where(Review.incident_id.in_(batch))
            .options(
                selectinload(Review.action_items),
                selectinload(Review.incident).selectinload(Incident.tasks),
            )
        )
        for review in session.scalars(stmt):
            text, svg = pages.render_review(review, policy, problems.get(review.incident_id, []))
            ref = review.incident.ref
            _write(reviews_dir / f"{ref}.md", text)
            _write(reviews_dir / f"{ref}-timeline.svg", svg)
            known[ref] = wanted[ref]
        progress("rendering review pages", min(start + BATCH, len(todo)), len(todo))
    paths.manifest.parent.mkdir(parents=True, exist_ok=True)
    paths.manifest.write_text(json.dumps(manifest, indent=0, sort_keys=True))
    return len(todo)


def _problems(session, incident_ids: list[int]) -> dict[int, list[Problem]]:
    out: dict[int, list[Problem]] = {}
    stmt = (
        select(ProblemLink.incident_id, Problem)
        .join(Problem)
        .where(ProblemLink.incident_id.in_(incident_ids))
        .order_by(Problem.id)
    )
    for incident_id, problem in session.execute(stmt):
        out.setdefault(incident_id, []).append(problem)
    return out


def load_rows(
    session, policy: Policy, include: int | None, hidden: frozenset[int] = frozenset()
) -> list[pages.Row]:
    """The index pages' view of every published review (one query, no ORM objects)."""
    stmt = (
        select(
            Review.incident_id,
            Incident.title,
            Incident.severity,
            Review.services,
            Incident.resolved_at,
            Review.created_at,
            Review.metrics,
        )
        .join(Incident, Incident.id == Review.incident_id)
        .where(_published(include, hidden))
    )
    zone = ZoneInfo(policy.timezone)
    rows = []
    for number, title, severity, services, resolved, created, metrics in session.execute(stmt):
        at = resolved or created
        rows.append(
            pages.Row(
                f"INC-{number}",
                title,
                severity,
                tuple(services or ()),
                at,
                at.astimezone(zone).strftime("%Y-%m"),
                (metrics or {}).get("time_to_acknowledge_s"),
                (metrics or {}).get("time_to_resolve_s"),
            )
        )
    return rows


def load_items(
    session, policy: Policy, include: int | None, today, hidden: frozenset[int] = frozenset()
) -> list[dict]:
    """Open action items of published reviews, earliest due first."""
    stmt = (
        select(
            ActionItem.title,
            ActionItem.owner,
            ActionItem.due,
            ActionItem.priority,
            ActionItem.status,
            Review.incident_id,
        )
        .join(Review)
        .where(ActionItem.status.in_(OPEN_ITEM))
        .where(_published(include, hidden))
        .order_by(ActionItem.due.is_(None), ActionItem.due, ActionItem.priority)
    )
    return [
        {
            "title": title,
            "owner": person_name(policy, owner, nobody="—"),
            "due": due.isoformat() if due else "—",
            "priority": priority,
            "status": status.replace("_", " "),
            "overdue": bool(due and due < today),
            "ref": f"INC-{number}",
        }
        for title, owner, due, priority, status, number in session.execute(stmt)
    ]


def copy_handwritten(paths: Paths) -> str:
    """Copy reviews_site/docs into the sources; returns the home page's introduction."""
    for path in HANDWRITTEN.rglob("*"):
        relative = path.relative_to(HANDWRITTEN)
        if path.is_file() and relative.parts[0] != "reviews":
            target = paths.docs / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            if not target.exists() or target.read_bytes() != path.read_bytes():
                shutil.copyfile(path, target)
    return (HANDWRITTEN / "index.md").read_text(encoding="utf-8")


def write_sources(
    hub,
    *,
    include: int | None = None,
    full: bool = False,
    progress: Progress | None = None,
    now: datetime,
) -> dict:
    """Bring the site sources up to date with the database; returns counts."""
    progress = progress or (lambda what, done, total: None)
    paths = paths_for(hub.settings.data_dir)
    policy = hub.policy
    intro = copy_handwritten(paths)
    today = now.astimezone(ZoneInfo(policy.timezone)).date()
    with hub.db.session(write=False) as session:
        hidden = hidden_from_public(session, hub.settings)
        rendered = sync_reviews(
            session, policy, paths, include=include, full=full, progress=progress, hidden=hidden
        )
        rows = load_rows(session, policy, include, hidden)
        items = load_items(session, policy, include, today, hidden)
        problems = load_problems(session, {r.ref for r in rows})
    generated = pages.index_pages(rows, items, policy, intro, today)
    generated.update(problem_pages(problems))
    for stale in (
        (paths.docs / "problems").glob("*.md") if (paths.docs / "problems").exists() else ()
    ):
        if str(stale.relative_to(paths.docs)) not in generated:
            stale.unlink()
    for stale in (paths.docs / "browse").rglob("*.md") if (paths.docs / "browse").exists() else ():
        if str(stale.relative_to(paths.docs)) not in generated:
            stale.unlink()
    for relative, text in generated.items():
        _write(paths.docs / relative, text)
    return {"reviews": len(rows), "rendered": rendered, "open_items": len(items)}


def publish_site(
    hub,
    *,
    include: int | None = None,
    full: bool = False,
    progress: Progress | None = None,
    now: datetime,
) -> tuple[dict, Built]:
    """Write the sources and build the site (serialised per machine); SiteBuildError on failure."""
    paths = paths_for(hub.settings.data_dir)
    report = progress or (lambda what, done, total: None)
    with locked(paths):
        counts = write_sources(hub, include=include, full=full, progress=report, now=now)
        built = build_site(
            CONFIG,
            paths.docs,
            paths.site,
            nav=pages.nav(),
            tags_allowed=pages.allowed_tags(hub.policy),
            progress=lambda done, total: report("building pages", done, total),
        )
    log.info(
        "knowledge base built: %d reviews, %d re-rendered, %d pages in %.1f s",
        counts["reviews"],
        counts["rendered"],
        built.pages,
        built.seconds,
    )
    return counts, built
