"""The `mihub` command line: the group, with each family of commands from its own module."""

from __future__ import annotations

import click

from hub.cli import access, audit, classify, config, mail, processes, reviews, status


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="mihub")
def main():
    """Major Incident Hub: report, classify, mobilise, communicate, review."""


for _command in (
    *processes.COMMANDS,
    mail.mail,
    *config.COMMANDS,
    *access.COMMANDS,
    *reviews.COMMANDS,
    classify.classify,
    *audit.COMMANDS,
    *status.COMMANDS,
):
    main.add_command(_command)
