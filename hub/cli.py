"""The `mihub` command line."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import click

from hub.settings import SETTINGS, check_settings, load_settings, mask


def _setup_logging(level: str) -> None:
    logging.basicConfig(level=level, stream=sys.stderr,
                        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s")


def _settings_or_exit():
    settings = load_settings()
    problems = check_settings(settings)
    if problems:
        raise click.ClickException("the hub cannot start:\n  " + "\n  ".join(problems))
    return settings


def _policy_or_exit(settings):
    from hub.policy import PolicyError, load_policy

    path = Path(settings["HUB_POLICY"])
    try:
        return load_policy(path)
    except FileNotFoundError as exc:
        raise click.ClickException(f"policy file not found: {path} (set HUB_POLICY)") from exc
    except PolicyError as exc:
        raise click.ClickException(f"the policy has errors; fix them and start again:\n{exc}") from exc


def _hub(migrate: bool = True):
    from hub.context import Hub
    from hub.migrate import upgrade
    from tasks.runtime import set_hub

    settings = _settings_or_exit()
    policy = _policy_or_exit(settings)
    if migrate:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        upgrade(settings.database_url)
    hub = Hub(settings, policy=policy)
    set_hub(hub)
    return hub


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="mihub")
def main():
    """Major Incident Hub: report, classify, mobilise, communicate, review."""


@main.command()
def run():
    """Run everything on this machine: web, worker (and intake) until Ctrl-C."""
    from hub.migrate import upgrade
    from hub.runner import run_all

    settings = _settings_or_exit()
    _setup_logging(settings["HUB_LOG_LEVEL"])
    policy = _policy_or_exit(settings)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    upgrade(settings.database_url)
    click.echo(f"Major Incident Hub — policy {settings['HUB_POLICY']} "
               f"({len(policy.services)} services, {len(policy.people)} people)")
    click.echo(f"  web console and API  {settings.base_url}/")
    click.echo(f"  data                 {settings.data_dir}")
    click.echo(f"  mail out             {settings['HUB_MAIL_TRANSPORT']}")
    click.echo("Press Ctrl-C to stop.")
    sys.exit(run_all())


@main.command()
def web():
    """Run only the web server (API, intake endpoints, console)."""
    from hub import create_app
    from hub.runner import serve_web

    hub = _hub()
    _setup_logging(hub.settings["HUB_LOG_LEVEL"])
    serve_web(create_app(hub=hub), hub.settings["HUB_HTTP"], int(hub.settings["HUB_WEB_THREADS"]))


@main.command()
@click.option("--workers", default=4, show_default=True, help="Worker threads.")
def worker(workers):
    """Run only the queue worker (deliveries, timers, publishing)."""
    from hub.runner import run_worker

    hub = _hub()
    _setup_logging(hub.settings["HUB_LOG_LEVEL"])
    run_worker(workers)


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
    from hub.policy import check_policy

    path = Path(file or load_settings()["HUB_POLICY"])
    if not path.exists():
        raise click.ClickException(f"{path}: no such file")
    loaded, problems, warnings = check_policy(path)
    for w in warnings:
        click.secho(f"warning: {w}", fg="yellow", err=True)
    if problems:
        for p in problems:
            click.secho(str(p), fg="red", err=True)
        click.secho(f"{path}: {len(problems)} problem(s); the hub will not start with this policy.",
                    fg="red", err=True)
        sys.exit(1)
    click.echo(f"{path}: OK — {len(loaded.people)} people, {len(loaded.services)} services, "
               f"{len(loaded.severities)} severities, {len(loaded.major_criteria)} rules")
    for sev in loaded.severities.values():
        steps = loaded.escalation.get(sev.key, ())
        kind = "major" if sev.major else "not major"
        click.echo(f"  {sev.key:<6} {kind:<9} ack {_d(sev.ack_within)}, update every "
                   f"{_d(sev.update_every)}, resolve {_d(sev.resolve_within)}, "
                   f"{len(steps)} escalation step(s)")


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
    from hub.migrate import current_revision, upgrade

    settings = _settings_or_exit()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    before = current_revision(settings.database_url)
    upgrade(settings.database_url)
    after = current_revision(settings.database_url)
    click.echo(f"database at revision {after}" + ("" if before == after else f" (was {before})"))


@main.group()
def token():
    """API tokens for scripts and integrations."""


@token.command("create")
@click.argument("person")
@click.option("--label", default="", help="What the token is for.")
def token_create(person, label):
    """Create an API token for PERSON (printed once, as the last word)."""
    from hub.auth import create_token
    from hub.errors import HubError

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
    from hub.auth import revoke_token

    hub = _hub()
    with hub.db.session() as session:
        count = revoke_token(session, token_value)
    if not count:
        raise click.ClickException("no live token matches")
    click.echo("revoked")


if __name__ == "__main__":
    main()
