"""The long-running commands: run, web, worker, smtpd, mailbox and the demo."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from hub.app.settings import join_hostport, split_hostport
from hub.cli.common import (
    policy_or_exit,
    settings_or_exit,
    setup_logging,
    start_hub,
    web_listens,
    web_worker_hub,
)


@click.command()
def run():
    """Run everything on this machine: web, worker (and intake) until Ctrl-C."""
    from hub.cli.preflight import check_data_dir, check_free, check_tls, migrate_or_exit
    from hub.runner import run_all

    settings = settings_or_exit()
    setup_logging(settings["HUB_LOG_LEVEL"], settings)
    check_data_dir(settings.data_dir)
    check_free(settings["HUB_HTTP"], settings["HUB_SMTP_LISTEN"])  # before any part starts
    check_tls(settings)
    policy = policy_or_exit(settings)
    migrate_or_exit(settings.database_url)
    click.echo(
        f"Major Incident Hub — policy {settings['HUB_POLICY']} "
        f"({len(policy.services)} services, {len(policy.people)} people)"
    )
    click.echo(f"  web console and API  {web_listens(settings)}")
    click.echo(
        f"  SMTP intake          {join_hostport(*split_hostport(settings['HUB_SMTP_LISTEN']))}"
    )
    click.echo(f"  data                 {settings.data_dir}")
    click.echo(f"  mail out             {settings['HUB_MAIL_TRANSPORT']}")
    click.echo("Press Ctrl-C to stop.")
    sys.exit(run_all())


@click.command()
def web():
    """Run only the web server (API, intake endpoints, console)."""
    from hub import create_app
    from hub.cli.preflight import check_free
    from hub.runner import serve_web, web_workers

    check_free(settings_or_exit()["HUB_HTTP"])
    hub = start_hub(
        policy_warnings=True
    )  # settings, policy and migrations checked once, before any worker starts
    settings = hub.settings
    setup_logging(settings["HUB_LOG_LEVEL"], settings)
    hub.db.dispose()
    serve_web(
        lambda: create_app(hub=web_worker_hub(hub)),
        settings["HUB_HTTP"],
        web_workers(settings["HUB_WEB_WORKERS"]),
        log_level=settings["HUB_LOG_LEVEL"],
        threads=settings.int("HUB_WEB_THREADS"),
    )


@click.command()
@click.option(
    "--workers",
    default=8,
    show_default=True,
    help="Worker threads (each can wait on one SMTP or HTTP send at a time).",
)
def worker(workers):
    """Run only the queue worker (deliveries, timers, publishing)."""
    from hub.runner import run_worker

    hub = start_hub(policy_warnings=True)
    setup_logging(hub.settings["HUB_LOG_LEVEL"], hub.settings)
    run_worker(workers)


@click.command()
def smtpd():
    """Run only the SMTP intake listener on HUB_SMTP_LISTEN."""
    from hub.cli.preflight import check_free, check_tls
    from hub.intake.email.listener import serve_smtp

    settings = settings_or_exit()
    check_free(settings["HUB_SMTP_LISTEN"])
    check_tls(settings)
    hub = start_hub(
        policy_warnings=True
    )  # the data directory checked before the queue in it is made
    from tasks import main as _tasks  # noqa: F401  (the process_inbound wake-up)

    setup_logging(hub.settings["HUB_LOG_LEVEL"], hub.settings)
    serve_smtp(hub, hub.settings["HUB_SMTP_LISTEN"])


@click.command()
@click.option("--once", is_flag=True, help="Poll once and exit (for cron or a test).")
def mailbox(once):
    """Poll the intake mailbox (IMAP or Microsoft Graph delta) into the email pipeline."""
    from hub.app.redact import redact_text
    from hub.app.settings import SettingsError
    from hub.intake.email.mailbox import run_mailbox

    hub = start_hub(
        policy_warnings=True
    )  # the data directory checked before the queue in it is made
    from tasks import main as _tasks  # noqa: F401  (the process_inbound wake-up)

    setup_logging(hub.settings["HUB_LOG_LEVEL"], hub.settings)
    try:
        count = run_mailbox(hub, once=once)
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from exc
    except Exception as exc:  # only with --once (polling on logs and retries): one line
        raise click.ClickException(
            redact_text(f"the mailbox poll failed: {type(exc).__name__}: {exc}")
        ) from None
    click.echo(f"stored {count} message(s)")


@click.command()
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False),
    default=None,
    help="Where to keep the demo's data (default: a new temporary directory).",
)
@click.option("--keep-running", is_flag=True, help="Leave the hub running after the scenario.")
def demo(data_dir, keep_running):
    """Watch a major incident unfold on local sinks (about 90 seconds, no setup)."""
    from hub.cli.preflight import check_data_dir
    from hub.demo import Demo

    if data_dir:  # one line, not a traceback, when it cannot be made or written
        check_data_dir(Path(data_dir), "--data-dir")
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


COMMANDS = (run, web, worker, smtpd, mailbox, demo)
