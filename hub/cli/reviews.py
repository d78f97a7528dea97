"""`mihub publish` and `mihub review export/import`: the knowledge base and review files."""

from __future__ import annotations

from pathlib import Path

import click

from hub.cli.common import setup_logging, start_hub


@click.command()
@click.option("--full", is_flag=True, help="Render every review page again, not only changed ones.")
def publish(full):
    """Build the knowledge base of published reviews (shows progress on long builds)."""
    import time

    from hub.app.db import utcnow
    from hub.reviews.publish.build import SiteBuildError
    from hub.reviews.publish.site import publish_site

    hub = start_hub()
    setup_logging("WARNING")
    shown = {"at": 0.0}

    def progress(what, done, total):
        if total and (time.monotonic() - shown["at"] >= 2 or done == total):
            shown["at"] = time.monotonic()
            click.echo(f"  {what}: {done}/{total}", err=True)

    try:
        counts, built = publish_site(hub, full=full, progress=progress, now=utcnow())
    except SiteBuildError as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        hub.db.dispose()
    click.echo(
        f"published {counts['reviews']} review(s) ({counts['rendered']} re-rendered), "
        f"{built.pages} pages in {built.seconds:.1f} s → {built.site}"
    )


@click.group()
def review():
    """Post-incident reviews as Markdown files for your editor."""


@review.command("export")
@click.argument("incident")
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="File (default: stdout).")
def review_export(incident, output):
    """Print the review of INCIDENT as Markdown with front matter."""
    from hub.app.errors import HubError
    from hub.reviews.markdown import export_markdown
    from hub.reviews.operations import get_review

    hub = start_hub()
    try:
        with hub.db.session(write=False) as session:
            text = export_markdown(get_review(session, incident))
    except HubError as exc:
        raise click.ClickException(exc.message) from exc
    finally:
        hub.db.dispose()
    if output:
        Path(output).write_text(text, encoding="utf-8")
    else:
        click.echo(text, nl=False)


@review.command("import")
@click.argument("incident")
@click.argument("file", type=click.File("r", encoding="utf-8"))
@click.option("--as", "actor", required=True, help="Person key the edit is made as (PM or MIM).")
@click.option("--force", is_flag=True, help="Apply even if the review changed since the export.")
def review_import(incident, file, actor, force):
    """Apply an edited Markdown FILE (from `review export`) to the review of INCIDENT."""
    from hub.app.db import utcnow
    from hub.app.errors import HubError
    from hub.http.validate import REVIEW, check
    from hub.reviews.markdown import parse_markdown
    from hub.reviews.operations import get_review, update_review

    hub = start_hub()
    try:
        if actor not in hub.policy.people:
            raise click.ClickException(f"unknown person {actor!r}")
        changes = check(parse_markdown(file.read(), incident), REVIEW)
        if force:
            changes.pop("version", None)
        with hub.transaction() as session:
            review = get_review(session, incident, lock=True)
            update_review(session, hub.policy, review, changes, actor=actor, now=utcnow())
            version = review.version
    except HubError as exc:
        raise click.ClickException(exc.message) from exc
    finally:
        hub.db.dispose()
    click.echo(f"{incident}: review updated (version {version})")


COMMANDS = (publish, review)
