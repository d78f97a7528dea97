"""`mihub token` and `mihub teams app-package`: API tokens, and the Teams app for the bot."""

from __future__ import annotations

from pathlib import Path

import click

from hub.app.settings import load_settings
from hub.cli.common import cli_actor, start_hub


@click.group()
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
    try:
        Path(output).write_bytes(data)
    except OSError as exc:  # its folder missing, not writable
        raise click.ClickException(f"cannot write {output}: {exc.strerror or exc}") from None
    click.echo(
        f"wrote {output} ({len(data)} bytes): manifest.json, color.png, outline.png. "
        "Upload it in Teams: Apps → Manage your apps → Upload an app."
    )


@click.group()
def token():
    """API tokens for scripts and integrations."""


@token.command("create")
@click.argument("person", required=False)
@click.option("--label", default="", help="What the token is for.")
@click.option(
    "--source",
    metavar="NAME",
    help="A token for a monitoring source instead of a person (alert intake only), "
    "e.g. alertmanager-prod.",
)
def token_create(person, label, source):
    """Create an API token for PERSON, or with --source NAME for a monitoring source
    (printed once, as the last word)."""
    from hub.app.errors import HubError
    from hub.http.auth import create_token
    from hub.intake.alerts.sources import create_source_token

    if bool(person) == bool(source):
        raise click.UsageError("give either PERSON or --source NAME")
    hub = start_hub()
    try:
        with hub.db.session() as session:
            if source:
                value = create_source_token(session, source, label)
            else:
                value = create_token(session, hub.policy, person, label, actor=cli_actor())
    except HubError as exc:
        raise click.ClickException(exc.message) from exc
    if source:
        click.echo(
            f"Alert intake token for source {source} (shown once; store it safely; send it as "
            f"a bearer token, as the password of HTTP basic auth with user {source}, or as "
            f"?token= in an Azure action group's webhook URL): {value}"
        )
    else:
        click.echo(f"API token for {person} (shown once; store it safely): {value}")


@token.command("revoke")
@click.argument("token_value")
def token_revoke(token_value):
    """Revoke a token (give the token itself)."""
    from hub.http.auth import revoke_token

    hub = start_hub()
    with hub.db.session() as session:
        count = revoke_token(session, token_value, actor=cli_actor())
    if not count:
        raise click.ClickException("no live token matches")
    click.echo("revoked")


COMMANDS = (teams, token)
