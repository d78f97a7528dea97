"""`mihub config`, `mihub policy check` and `mihub db upgrade`: settings, policy, schema."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from hub.app.settings import load_settings, mask
from hub.app.settings_checks import check_settings
from hub.app.settings_production import unknown_problems
from hub.app.settings_table import SETTINGS
from hub.cli.common import NO_POLICY, settings_or_exit


@click.command("config")
@click.option("--markdown", is_flag=True, help="Print the settings table for the README instead.")
def show_config(markdown):
    """Print the effective settings (secrets masked) and what is wrong with them.

    Exits 1 when the hub would refuse to start; with HUB_ENV=production that includes a short
    secret key, sink transports, a missing or http: HUB_BASE_URL, settings the chosen
    transport does not read and unknown HUB_* names.
    """
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
    if not settings.production:  # a typo is worth a word in development too
        for w in unknown_problems(settings):
            click.secho(f"warning: {w}", fg="yellow", err=True)
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


@click.group()
def policy():
    """Work with the policy file."""


@policy.command("example")
def policy_example():
    """Print the example policy (a fictional company), a start for your own."""
    from hub.app.templates import EXAMPLE_POLICY

    click.echo(EXAMPLE_POLICY.read_text(encoding="utf-8"), nl=False)


@policy.command("check")
@click.argument("file", required=False, type=click.Path(dir_okay=False))
def policy_check(file):
    """Validate a policy file (default: HUB_POLICY) and summarise it."""
    from hub.channels.registry import load_channels
    from hub.policy.load import check_policy

    load_channels()  # the channels a policy may name in `via:` are the registered ones
    path = Path(file or load_settings()["HUB_POLICY"])
    if not path.exists():
        raise click.ClickException(f"{path}: no such file" if file else NO_POLICY.format(path=path))
    loaded, problems, warnings = check_policy(path)
    if loaded is not None:
        warnings = [*warnings, *schedule_gap_warnings(loaded)]
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
        + (f", {len(loaded.schedules)} schedules" if loaded.schedules else "")
    )
    for sev in loaded.severities.values():
        steps = loaded.escalation.get(sev.key, ())
        kind = "major" if sev.major else "not major"
        click.echo(
            f"  {sev.key:<6} {kind:<9} ack {_d(sev.ack_within)}, update every "
            f"{_d(sev.update_every)}, resolve {_d(sev.resolve_within)}, "
            f"{len(steps)} escalation step(s)"
        )


def schedule_gap_warnings(policy, now=None) -> list[str]:
    """One warning per schedule with times nobody covers in the next 4 weeks."""
    from datetime import UTC, datetime
    from zoneinfo import ZoneInfo

    from hub.core.schedules import HORIZON, gaps

    now = now or datetime.now(UTC)
    out = []
    for name, schedule in policy.schedules.items():
        found = gaps(schedule, now, now + HORIZON)
        if not found:
            continue
        tz = ZoneInfo(schedule.timezone)
        first = found[0]
        span = f"{first.start.astimezone(tz):%a %d %b %H:%M}–{first.end.astimezone(tz):%a %d %b %H:%M %Z}"
        more = f" and {len(found) - 1} more" if len(found) > 1 else ""
        out.append(
            f"{policy.source}:{schedule.line}: schedules.{name}: nobody is on call {span}{more} "
            "in the next 4 weeks (add a layer or people, or widen the hours)"
        )
    return out


def _d(value) -> str:
    if value is None:
        return "—"
    seconds = int(value.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


@click.group()
def db():
    """Database maintenance."""


@db.command("upgrade")
def db_upgrade():
    """Create or migrate the database to the latest schema."""
    from hub.cli.preflight import check_data_dir, migrate_or_exit

    settings = settings_or_exit()
    check_data_dir(settings.data_dir)
    before, after = migrate_or_exit(settings.database_url)
    click.echo(f"database at revision {after}" + ("" if before == after else f" (was {before})"))


COMMANDS = (show_config, policy, db)
