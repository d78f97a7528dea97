"""The `mihub` command line."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

import click

from hub.app.settings import join_hostport, load_settings, mask, split_hostport
from hub.app.settings_checks import check_settings
from hub.app.settings_table import SETTINGS


def _setup_logging(level: str) -> None:
    logging.basicConfig(
        level=level, stream=sys.stderr, format="%(asctime)s %(levelname)-7s %(name)s: %(message)s"
    )


def _settings_or_exit():
    settings = load_settings()
    problems = check_settings(settings)
    if problems:
        raise click.ClickException("the hub cannot start:\n  " + "\n  ".join(problems))
    return settings


def _policy_or_exit(settings):
    from hub.policy.load import PolicyError, load_policy

    path = Path(settings["HUB_POLICY"])
    try:
        # A part started by `mihub run` (HUB_CHILD): the parent has just loaded this file
        # and logged its warnings; the terminal shows them once, not once per part.
        return load_policy(path, log_warnings=not os.environ.get("HUB_CHILD"))
    except FileNotFoundError as exc:
        raise click.ClickException(f"policy file not found: {path} (set HUB_POLICY)") from exc
    except PolicyError as exc:
        raise click.ClickException(
            f"the policy has errors; fix them and start again:\n{exc}"
        ) from exc


def _hub(migrate: bool = True):
    from hub.app.context import Hub
    from hub.app.migrate import upgrade
    from tasks.runtime import set_hub

    settings = _settings_or_exit()
    policy = _policy_or_exit(settings)
    if migrate:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        upgrade(settings.database_url)
    hub = Hub(settings, policy=policy)
    set_hub(hub)
    return hub


def web_worker_hub(checked):
    """A web worker process's own Hub, made after the fork (its own engine and queue
    connections) from the settings and policy the master process checked, not reread."""
    from hub.app.context import Hub
    from tasks.runtime import set_hub

    worker_hub = Hub(checked.settings, policy=checked.policy)
    set_hub(worker_hub)
    return worker_hub


def _web_listens(settings) -> str:
    """Where the web server listens, as a URL; and the public address when it differs."""
    listens = f"http://{join_hostport(*split_hostport(settings['HUB_HTTP']))}/"
    public = f"{settings.base_url}/"
    return listens if public == listens else f"{listens} (public address {public})"


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="mihub")
def main():
    """Major Incident Hub: report, classify, mobilise, communicate, review."""


@main.command()
def run():
    """Run everything on this machine: web, worker (and intake) until Ctrl-C."""
    from hub.app.migrate import upgrade
    from hub.runner import run_all

    settings = _settings_or_exit()
    _setup_logging(settings["HUB_LOG_LEVEL"])
    policy = _policy_or_exit(settings)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    upgrade(settings.database_url)
    click.echo(
        f"Major Incident Hub — policy {settings['HUB_POLICY']} "
        f"({len(policy.services)} services, {len(policy.people)} people)"
    )
    click.echo(f"  web console and API  {_web_listens(settings)}")
    click.echo(
        f"  SMTP intake          {join_hostport(*split_hostport(settings['HUB_SMTP_LISTEN']))}"
    )
    click.echo(f"  data                 {settings.data_dir}")
    click.echo(f"  mail out             {settings['HUB_MAIL_TRANSPORT']}")
    click.echo("Press Ctrl-C to stop.")
    sys.exit(run_all())


@main.command()
def web():
    """Run only the web server (API, intake endpoints, console)."""
    from hub import create_app
    from hub.runner import serve_web, web_workers

    hub = _hub()  # settings, policy and migrations checked once, before any worker starts
    settings = hub.settings
    _setup_logging(settings["HUB_LOG_LEVEL"])
    hub.db.dispose()
    serve_web(
        lambda: create_app(hub=web_worker_hub(hub)),
        settings["HUB_HTTP"],
        web_workers(settings["HUB_WEB_WORKERS"]),
        log_level=settings["HUB_LOG_LEVEL"],
    )


@main.command()
@click.option(
    "--workers",
    default=8,
    show_default=True,
    help="Worker threads (each can wait on one SMTP or HTTP send at a time).",
)
def worker(workers):
    """Run only the queue worker (deliveries, timers, publishing)."""
    from hub.runner import run_worker

    hub = _hub()
    _setup_logging(hub.settings["HUB_LOG_LEVEL"])
    run_worker(workers)


@main.command()
def smtpd():
    """Run only the SMTP intake listener on HUB_SMTP_LISTEN."""
    from hub.intake.email.listener import serve_smtp
    from tasks import main as _tasks  # noqa: F401  (the process_inbound wake-up)

    hub = _hub()
    _setup_logging(hub.settings["HUB_LOG_LEVEL"])
    serve_smtp(hub, hub.settings["HUB_SMTP_LISTEN"])


@main.command()
@click.option("--once", is_flag=True, help="Poll once and exit (for cron or a test).")
def mailbox(once):
    """Poll the intake mailbox (IMAP or Microsoft Graph delta) into the email pipeline."""
    from hub.app.settings import SettingsError
    from hub.intake.email.mailbox import run_mailbox
    from tasks import main as _tasks  # noqa: F401  (the process_inbound wake-up)

    hub = _hub()
    _setup_logging(hub.settings["HUB_LOG_LEVEL"])
    try:
        count = run_mailbox(hub, once=once)
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"stored {count} message(s)")


@main.group()
def mail():
    """Inbound email: reprocess a stored message, work the quarantine."""


def _mail_action(action, ident: int, actor: str) -> None:
    from hub.app.db import utcnow
    from hub.app.errors import HubError
    from tasks import main as _tasks  # noqa: F401  (wake-ups the effects queue)

    hub = _hub()
    try:
        result = action(hub, ident, actor=actor, now=utcnow())
    except HubError as exc:
        raise click.ClickException(exc.message) from exc
    click.echo(
        f"email #{result.id}: {result.status}, outcome {result.outcome or '-'}"
        + (f", {result.incident}" if result.incident else "")
    )


@mail.command("reprocess")
@click.argument("ident", type=int)
@click.option("--as", "actor", default="command line", help="Who asks (for the record).")
def mail_reprocess(ident, actor):
    """Process the stored email ID again from its raw copy (failed or unprocessed mail)."""
    from hub.intake.email.quarantine import reprocess

    _mail_action(reprocess, ident, actor)


@mail.group("quarantine", invoke_without_command=True)
@click.pass_context
def mail_quarantine(ctx):
    """List quarantined email; `release ID` or `discard ID` one."""
    if ctx.invoked_subcommand is not None:
        return
    from hub.intake.email.quarantine import list_quarantine

    hub = _hub()
    with hub.db.session(write=False) as session:
        rows = list_quarantine(session)
    for row in rows:
        click.echo(
            f"#{row['id']:<6} {row['received_at'][:19]}  {row['sender'] or '?':<32} "
            f"{row['subject'][:50]!r}  {row['reason']}"
        )
    click.echo(f"{len(rows)} quarantined message(s)")


@mail_quarantine.command("release")
@click.argument("ident", type=int)
@click.option("--as", "actor", default="command line", help="Who vouches (for the record).")
def mail_release(ident, actor):
    """Release a quarantined message: processed without the sender checks."""
    from hub.intake.email.quarantine import release

    _mail_action(release, ident, actor)


@mail_quarantine.command("discard")
@click.argument("ident", type=int)
@click.option("--as", "actor", default="command line", help="Who discards (for the record).")
def mail_discard(ident, actor):
    """Discard a quarantined message (the raw copy is kept)."""
    from hub.intake.email.quarantine import discard

    _mail_action(discard, ident, actor)


@main.command()
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False),
    default=None,
    help="Where to keep the demo's data (default: a new temporary directory).",
)
@click.option("--keep-running", is_flag=True, help="Leave the hub running after the scenario.")
def demo(data_dir, keep_running):
    """Watch a major incident unfold on local sinks (about 90 seconds, no setup)."""
    from hub.demo import Demo

    d = Demo(Path(data_dir) if data_dir else None, echo=click.echo)
    try:
        d.run()
        if keep_running:
            click.echo(f"The hub keeps running on {d.base}/ — press Ctrl-C to stop.")
            d.proc.wait()
    except KeyboardInterrupt:
        pass
    finally:
        d.stop()


@main.command("config")
@click.option("--markdown", is_flag=True, help="Print the settings table for the README instead.")
def show_config(markdown):
    """Print the effective settings (secrets masked)."""
    if markdown:
        click.echo(settings_markdown())
        return
    settings = load_settings()
    width = max(len(s.name) for s in SETTINGS)
    for s in SETTINGS:
        value = settings[s.name]
        shown = mask(s, value)
        origin = "" if value == s.default else "  (set)"
        click.echo(f"{s.name:<{width}}  {shown}{origin}")
    click.echo(f"{'database':<{width}}  {mask(SETTINGS[1], settings.database_url)}")
    click.echo(f"{'queue':<{width}}  {mask(SETTINGS[2], settings.queue_url)}")
    problems = check_settings(settings)
    for p in problems:
        click.secho(f"problem: {p}", fg="red", err=True)
    sys.exit(1 if problems else 0)


def settings_markdown() -> str:
    """The README's configuration table, from the settings table."""
    rows = ["| Variable | Default | What it does |", "|---|---|---|"]
    for s in SETTINGS:
        default = f"`{s.default}`" if s.default else "—"
        secret = " **Secret.**" if s.secret else ""
        help_text = s.help.replace("|", "\\|")
        rows.append(f"| `{s.name}` | {default} | {help_text}{secret} |")
    return "\n".join(rows)


@main.group()
def policy():
    """Work with the policy file."""


@policy.command("check")
@click.argument("file", required=False, type=click.Path(dir_okay=False))
def policy_check(file):
    """Validate a policy file (default: HUB_POLICY) and summarise it."""
    from hub.policy.load import check_policy

    path = Path(file or load_settings()["HUB_POLICY"])
    if not path.exists():
        raise click.ClickException(f"{path}: no such file")
    loaded, problems, warnings = check_policy(path)
    for w in warnings:
        click.secho(f"warning: {w}", fg="yellow", err=True)
    if problems:
        for p in problems:
            click.secho(str(p), fg="red", err=True)
        click.secho(
            f"{path}: {len(problems)} problem(s); the hub will not start with this policy.",
            fg="red",
            err=True,
        )
        sys.exit(1)
    click.echo(
        f"{path}: OK — {len(loaded.people)} people, {len(loaded.services)} services, "
        f"{len(loaded.severities)} severities, {len(loaded.major_criteria)} rules"
    )
    for sev in loaded.severities.values():
        steps = loaded.escalation.get(sev.key, ())
        kind = "major" if sev.major else "not major"
        click.echo(
            f"  {sev.key:<6} {kind:<9} ack {_d(sev.ack_within)}, update every "
            f"{_d(sev.update_every)}, resolve {_d(sev.resolve_within)}, "
            f"{len(steps)} escalation step(s)"
        )


def _d(value) -> str:
    if value is None:
        return "—"
    seconds = int(value.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


@main.group()
def db():
    """Database maintenance."""


@db.command("upgrade")
def db_upgrade():
    """Create or migrate the database to the latest schema."""
    from hub.app.migrate import current_revision, upgrade

    settings = _settings_or_exit()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    before = current_revision(settings.database_url)
    upgrade(settings.database_url)
    after = current_revision(settings.database_url)
    click.echo(f"database at revision {after}" + ("" if before == after else f" (was {before})"))


@main.group()
def teams():
    """Microsoft Teams: the app package that installs the hub's bot."""


@teams.command("app-package")
@click.option(
    "-o",
    "--output",
    default="mihub-teams-app.zip",
    show_default=True,
    type=click.Path(dir_okay=False),
    help="Where to write the zip.",
)
@click.option(
    "--app-version",
    default="1.0.0",
    show_default=True,
    help="Version of the app; raise it for every upload that changes the app.",
)
@click.option("--name", default="Major Incident Hub", show_default=True, help="App name.")
@click.option(
    "--developer", default="IT Service Desk", show_default=True, help="Publisher shown in Teams."
)
def teams_app_package(output, app_version, name, developer):
    """Build the Teams app package (manifest with the bot's commands, icons) from the settings."""
    from hub.intake.teams.app_package import PackageError, build_package

    try:
        data = build_package(load_settings(), version=app_version, name=name, developer=developer)
    except PackageError as exc:
        raise click.ClickException(str(exc)) from exc
    Path(output).write_bytes(data)
    click.echo(
        f"wrote {output} ({len(data)} bytes): manifest.json, color.png, outline.png. "
        "Upload it in Teams: Apps → Manage your apps → Upload an app."
    )


@main.group()
def token():
    """API tokens for scripts and integrations."""


@token.command("create")
@click.argument("person")
@click.option("--label", default="", help="What the token is for.")
def token_create(person, label):
    """Create an API token for PERSON (printed once, as the last word)."""
    from hub.app.errors import HubError
    from hub.http.auth import create_token

    hub = _hub()
    try:
        with hub.db.session() as session:
            value = create_token(session, hub.policy, person, label)
    except HubError as exc:
        raise click.ClickException(exc.message) from exc
    click.echo(f"API token for {person} (shown once; store it safely): {value}")


@token.command("revoke")
@click.argument("token_value")
def token_revoke(token_value):
    """Revoke a token (give the token itself)."""
    from hub.http.auth import revoke_token

    hub = _hub()
    with hub.db.session() as session:
        count = revoke_token(session, token_value)
    if not count:
        raise click.ClickException("no live token matches")
    click.echo("revoked")


@main.command()
@click.option("--full", is_flag=True, help="Render every review page again, not only changed ones.")
def publish(full):
    """Build the knowledge base of published reviews (shows progress on long builds)."""
    import time

    from hub.app.db import utcnow
    from hub.reviews.publish.build import SiteBuildError
    from hub.reviews.publish.site import publish_site

    hub = _hub()
    _setup_logging("WARNING")
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


@main.group()
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

    hub = _hub()
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

    hub = _hub()
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


if __name__ == "__main__":
    main()
