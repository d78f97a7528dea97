"""`mihub audit export`: the audit log as CSV or JSON lines, for a time range."""

from __future__ import annotations

import csv
import json
import sys

import click

from hub.cli.common import start_hub

COLUMNS = ("id", "at", "actor", "action", "target", "source", "incident", "before", "after")


@click.group()
def audit():
    """The audit log: who changed what, when and from where."""


def _when(value: str | None, name: str):
    from hub.app.timefmt import parse_iso

    if not value:
        return None
    try:
        return parse_iso(value if len(value) != 10 else f"{value}T00:00:00+00:00")
    except ValueError as exc:
        raise click.BadParameter(f"{exc} (or a day: 2026-12-01, UTC)", param_hint=name) from None


@audit.command("export")
@click.option("--since", help="From this time (ISO 8601 with an offset) or day (YYYY-MM-DD, UTC).")
@click.option("--until", help="Before this time or day.")
@click.option(
    "--format", "fmt", type=click.Choice(["csv", "jsonl"]), default="jsonl", show_default=True
)
@click.option(
    "-o",
    "--output",
    type=click.File("w", encoding="utf-8"),
    default="-",
    help="File (default: standard output).",
)
def audit_export(since, until, fmt, output):
    """Write the audit records, oldest first: CSV (before/after as JSON text) or JSON lines."""
    from hub.app import audit as log

    first, last = _when(since, "--since"), _when(until, "--until")
    hub = start_hub()
    with hub.db.session(write=False) as session:
        docs = [log.record_doc(r) for r in log.records(session, since=first, until=last)]
    if fmt == "jsonl":
        for doc in docs:
            output.write(json.dumps(doc, ensure_ascii=False) + "\n")
    else:
        writer = csv.DictWriter(output, fieldnames=COLUMNS, lineterminator="\n")
        writer.writeheader()
        for doc in docs:
            row = {**doc}
            for key in ("before", "after"):
                row[key] = "" if doc[key] is None else json.dumps(doc[key], ensure_ascii=False)
            writer.writerow({k: "" if row[k] is None else row[k] for k in COLUMNS})
    if output is not sys.stdout:
        click.echo(f"{len(docs)} record(s)", err=True)


COMMANDS = (audit,)
