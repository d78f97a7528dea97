"""`mihub mail`: reprocess stored inbound email, list, release or discard the quarantine."""

from __future__ import annotations

import click

from hub.cli.common import cli_actor, start_hub


@click.group()
def mail():
    """Inbound email: reprocess a stored message, work the quarantine."""


def _mail_action(action, ident: int, actor: str) -> None:
    from hub.app.db import utcnow
    from hub.app.errors import HubError
    from tasks import main as _tasks  # noqa: F401  (wake-ups the effects queue)

    hub = start_hub()
    login = cli_actor()  # the audit log's source: the command line
    actor = login if actor == "command line" else actor
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

    hub = start_hub()
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


@mail.command("unsuppress")
@click.argument("address")
@click.option("--as", "actor", default=None, help="Who lifts it (for the audit log).")
def mail_unsuppress(address, actor):
    """Mail ADDRESS again: lift the suppression a permanent bounce put on it."""
    from hub.app.db import utcnow
    from hub.app.errors import NotFound
    from hub.notifications.suppression import lift

    hub = start_hub()
    who = actor or cli_actor()
    try:
        with hub.transaction() as session:
            lift(session, address, actor=who, now=utcnow())
    except NotFound as exc:
        raise click.ClickException(exc.message) from None
    click.echo(f"{address.strip().lower()}: mailed again")


@mail_quarantine.command("discard")
@click.argument("ident", type=int)
@click.option("--as", "actor", default="command line", help="Who discards (for the record).")
def mail_discard(ident, actor):
    """Discard a quarantined message (the raw copy is kept)."""
    from hub.intake.email.quarantine import discard

    _mail_action(discard, ident, actor)
