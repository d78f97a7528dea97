"""What /healthz, /readyz and /livez check beyond "the database answers".

- templates: the files a page, a declaration and the console need are where the hub looks
  (a wheel built without them answered "ok" while every notification failed);
- outbox: its table answers, no delivery is overdue by more than STUCK_AFTER (no worker
  delivering) and fewer than FAILED_LIMIT deliveries failed in the last FAILED_WINDOW;
- publisher: MkDocs imports, its configuration exists and the knowledge base's directory
  under HUB_DATA_DIR can be written;
- schema: the database is at the migrations' head (a web server started before
  `mihub db upgrade` would fail on the first new column).
Each check answers "ok" or one line saying what is wrong.
"""

from __future__ import annotations

import importlib.util
import tempfile
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from datetime import datetime, timedelta
from functools import cache
from pathlib import Path

from alembic.script import ScriptDirectory
from sqlalchemy import func, select, text

from hub.app import templates as assets
from hub.app.migrate import alembic_config
from hub.app.models import Notification
from hub.app.redact import redact_text

STUCK_AFTER = timedelta(minutes=5)
FAILED_WINDOW = timedelta(hours=1)
FAILED_LIMIT = 5
DATABASE_TIMEOUT = 2.0  # seconds /readyz waits for the database
# What a page, a declaration, the console and a review need; a missing one fails every use.
REQUIRED_TEMPLATES = (
    "web/base.html",
    "web/login.html",
    "web/incident.html",
    "email/page/subject.txt",
    "email/page/body.txt",
    "email/page/body.html",
    "email/incident-declared/body.html",
    "email/stakeholder-update/body.html",
    "teams/page.json.j2",
    "teams/incident-declared.json.j2",
    "teams/stakeholder-update.json.j2",
    "reviews/review.md.j2",
)
_pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="readyz")


def check_templates(root: Path | None = None) -> str:
    """ "ok", or which required template files are missing."""
    root = assets.TEMPLATES if root is None else root
    missing = [name for name in REQUIRED_TEMPLATES if not (root / name).is_file()]
    if missing:
        more = f" and {len(missing) - 3} more" if len(missing) > 3 else ""
        return f"error: templates missing under {root}: {', '.join(missing[:3])}{more}"
    return "ok"


def check_outbox(session, now: datetime) -> str:
    """ "ok", or what is wrong with the deliveries (stuck, failing, unusable table)."""
    try:
        overdue = session.scalar(
            select(func.count())
            .select_from(Notification)
            .where(Notification.status == "pending")
            .where(Notification.next_attempt_at < now - STUCK_AFTER)
        )
        failed = session.scalar(
            select(func.count())
            .select_from(Notification)
            .where(Notification.status == "failed")
            .where(Notification.created_at >= now - FAILED_WINDOW)
        )
    except Exception as exc:  # report, don't crash
        return f"error: the outbox cannot be read: {redact_text(_first_line(exc))}"
    if overdue:
        minutes = int(STUCK_AFTER.total_seconds() // 60)
        return (
            f"error: {overdue} deliveries overdue by more than {minutes} minutes; "
            "is a worker running?"
        )
    if failed >= FAILED_LIMIT:
        hours = int(FAILED_WINDOW.total_seconds() // 3600)
        return f"error: {failed} deliveries failed in the last {hours} h (see /ops/outbox)"
    return "ok"


def check_publisher(data_dir: Path) -> str:
    """ "ok", or why `mihub publish` and the worker's builds cannot work."""
    if importlib.util.find_spec("mkdocs") is None:
        return "error: MkDocs is not installed (pip install mihub installs it)"
    if not assets.MKDOCS_CONFIG.is_file():
        return f"error: the knowledge base configuration {assets.MKDOCS_CONFIG} is missing"
    kb = Path(data_dir) / "kb"
    try:
        kb.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=kb):
            pass
    except OSError as exc:
        return f"error: {kb} is not writable: {exc.strerror or exc}"
    return "ok"


@cache
def migrations() -> tuple[str, frozenset[str]]:
    """The revision the migrations end at, and every revision this code knows."""
    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    return script.get_current_head(), frozenset(r.revision for r in script.walk_revisions())


def within(call, timeout: float | None = None):
    """`call()`'s result, or FutureTimeout after `timeout` (DATABASE_TIMEOUT) seconds: a
    dependency that hangs is reported at once (the call ends in the background)."""
    return _pool.submit(call).result(timeout=timeout or DATABASE_TIMEOUT)


def check_database(db) -> dict[str, str]:
    """{"database": …, "schema": …}: answers within DATABASE_TIMEOUT, at the migrations' head."""

    def ask():
        with db.session(write=False) as session:
            # a hung database: the statement watchdog ends the probe (hub/app/dbwatch.py)
            query = text("SELECT version_num FROM alembic_version")
            return session.execute(query.execution_options(hub_timeout=DATABASE_TIMEOUT)).scalar()

    try:
        revision = _pool.submit(ask).result(timeout=DATABASE_TIMEOUT)
    except FutureTimeout:
        return {"database": f"error: no answer within {DATABASE_TIMEOUT:g} s", "schema": "unknown"}
    except Exception as exc:
        return {"database": f"error: {redact_text(_first_line(exc))}", "schema": "unknown"}
    head, known = migrations()
    if revision != head and (revision in known or revision is None):
        return {
            "database": "ok",
            "schema": f"error: at revision {revision}, the hub needs {head}: run mihub db upgrade",
        }
    if revision != head:  # newer than this code (an upgrade in progress): migrations add only
        return {"database": "ok", "schema": f"ok (at {revision}, newer than this code's {head})"}
    return {"database": "ok", "schema": "ok"}


def _first_line(exc: Exception) -> str:
    orig = getattr(exc, "orig", None) or exc
    lines = str(orig).strip().splitlines()
    return f"{type(orig).__name__}: {lines[0] if lines else ''}"[:300]
