"""What every command shares: logging, the settings and policy checked, the Hub started."""

from __future__ import annotations

import getpass
import logging
import os
import sys
from pathlib import Path

import click

from hub.app import audit
from hub.app.quietlog import RepeatFilter, set_interval
from hub.app.redact import RedactingFormatter
from hub.app.settings import join_hostport, load_settings, split_hostport
from hub.app.settings_checks import check_settings


def cli_actor() -> str:
    """Who changes things from the command line, for the audit log: the login, from "cli"."""
    audit.source.set("cli")
    try:
        login = getpass.getuser()
    except (KeyError, OSError):  # no name for this uid (a container's numeric user)
        login = str(os.getuid())
    return f"{login} (command line)"


def setup_logging(level: str, settings=None) -> None:
    """Log lines to standard error, each passed through the redaction of secrets; repeated
    warnings once a minute (HUB_LOG_REPEAT_INTERVAL) with a count, an outage without its
    traceback."""
    if settings is not None:
        set_interval(settings.duration("HUB_LOG_REPEAT_INTERVAL").total_seconds())
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(RedactingFormatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s"))
    handler.addFilter(RepeatFilter())
    logging.basicConfig(level=level, handlers=[handler])


def settings_or_exit():
    settings = load_settings()
    problems = check_settings(settings)
    if problems:
        raise click.ClickException("the hub cannot start:\n  " + "\n  ".join(problems))
    return settings


NO_POLICY = (
    "no policy file at {path}: set HUB_POLICY to your policy's path, "
    "or start from the example: mihub policy example > policy.yaml"
)


def unreadable_policy(path: Path, exc: OSError) -> str:
    """One line for a policy file that is there but cannot be read."""
    return f"{path}: cannot read the policy file: {exc.strerror or exc}"


def policy_or_exit(settings, warnings: bool = True):
    """The checked policy, or exit with its problems; its warnings logged if `warnings`."""
    from hub.channels.registry import load_channels
    from hub.policy.load import PolicyError, load_policy

    load_channels()  # each outgoing channel registers itself, before the policy names them
    path = Path(settings["HUB_POLICY"])
    try:
        # A part started by `mihub run` (HUB_CHILD): the parent has just loaded this file
        # and logged its warnings; the terminal shows them once, not once per part.
        return load_policy(path, log_warnings=warnings and not os.environ.get("HUB_CHILD"))
    except FileNotFoundError as exc:
        raise click.ClickException(NO_POLICY.format(path=path)) from exc
    except OSError as exc:  # a directory, no permission: what `mihub policy check` says too
        raise click.ClickException(unreadable_policy(path, exc)) from None
    except PolicyError as exc:
        raise click.ClickException(
            f"the policy has errors; fix them and start again:\n{exc}"
        ) from exc


def start_hub(migrate: bool = True, policy_warnings: bool = False):
    """The Hub of a command, its settings, policy and database checked. The policy's warnings
    (an unset webhook, an everyday alias) are for the running hub's log and `mihub policy
    check`: only the long-running parts ask for them (`policy_warnings`); a one-shot command
    (a token, an export) prints its own output alone."""
    from hub.app.context import Hub
    from hub.cli.preflight import check_data_dir, migrate_or_exit

    settings = settings_or_exit()
    check_data_dir(settings.data_dir)  # before the queue (SQLite: a file in it) is made
    from tasks import main as _tasks  # noqa: F401  (registers the tasks it enqueues)
    from tasks.runtime import set_hub

    policy = policy_or_exit(settings, warnings=policy_warnings)
    if migrate:
        migrate_or_exit(settings.database_url)
    hub = Hub(settings, policy=policy)
    set_hub(hub)
    return hub


def web_worker_hub(checked):
    """A web worker process's own Hub, made after the fork (its own engine and queue
    connections) from the settings and policy the master process checked, not reread."""
    from hub.app.context import Hub
    from tasks import main as _tasks  # noqa: F401  (registers the tasks it enqueues)
    from tasks.handoff import Handoff
    from tasks.runtime import set_hub

    worker_hub = Hub(checked.settings, policy=checked.policy)
    set_hub(worker_hub)
    # A request never waits long for the queue (tasks/handoff.py): a hung Redis must not hold
    # every web worker; the committed work is found by the workers' pump all the same.
    handoff = Handoff()
    worker_hub.enqueue = handoff.wrap(worker_hub.enqueue)
    worker_hub.enqueue_at = handoff.wrap(worker_hub.enqueue_at)
    return worker_hub


def web_listens(settings) -> str:
    """Where the web server listens, as a URL; and the public address when it differs."""
    listens = f"http://{join_hostport(*split_hostport(settings['HUB_HTTP']))}/"
    public = f"{settings.base_url}/"
    return listens if public == listens else f"{listens} (public address {public})"
