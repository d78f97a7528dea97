"""`mihub classify`: how the policy reads one report, for policy authors (nothing is written)."""

from __future__ import annotations

from pathlib import Path

import click

from hub.app.db import utcnow
from hub.app.settings import load_settings
from hub.cli.common import NO_POLICY, unreadable_policy
from hub.core.classify import Report, classify_report
from hub.core.reading import read_services, why_mentioned


@click.command("classify")
@click.argument("text")
@click.option("--title", help="The title or email subject (default: the text's first line).")
@click.option("--service", "services", multiple=True, help="A service named explicitly.")
@click.option("--policy", "policy_file", type=click.Path(dir_okay=False), help="Policy file.")
@click.option("--explain", is_flag=True, help="Say how each word was read, not just the result.")
def classify(text, title, services, policy_file, explain):
    """Classify TEXT as a new report would be (no earlier reports counted)."""
    from hub.channels.registry import load_channels
    from hub.policy.load import PolicyError, load_policy

    load_channels()
    path = Path(policy_file or load_settings()["HUB_POLICY"])
    if not path.exists():
        raise click.ClickException(
            f"{path}: no such file" if policy_file else NO_POLICY.format(path=path)
        )
    try:
        policy = load_policy(path, log_warnings=False)
    except OSError as exc:  # HUB_POLICY names a directory, or a file this user may not read
        raise click.ClickException(unreadable_policy(path, exc)) from None
    except PolicyError as exc:
        raise click.ClickException(f"the policy has errors:\n{exc}") from exc
    text = text.replace("\\n", "\n").strip()
    if not title:  # as an email: the first line is the subject, the rest the body
        title, _, text = text.partition("\n")
    report = Report(title=title, text=text, services=tuple(services))
    try:
        result = classify_report(report, policy, (), now=utcnow())
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    kind = "major incident" if result.major else "not major"
    click.echo(f"{result.severity} ({kind}), rule {result.rule}")
    click.echo(f"services: {', '.join(result.services) or 'none'}")
    if not explain:
        return
    reading = read_services(title, text, policy)
    click.echo("how the words were read:")
    for m in reading.mentions:
        said = "about it" if m.why_not is None else f"mentioned only: {why_mentioned(m.why_not)}"
        click.echo(f"  {m.where:<5} {m.term!r} -> {m.service}: {said}")
    if not reading.mentions:
        click.echo("  no service's key or alias appears")
    click.echo(f"impact: {result.impact or 'not said'}")
    click.echo(
        f"affected users: {result.affected_users if result.affected_users is not None else 'not said'}"
    )
    security = (
        f"yes ({result.security_kind})"
        if result.security_kind
        else ("yes" if result.security else "no")
    )
    click.echo(f"security report: {security}")
    click.echo("reasons:")
    for reason in result.reasons:
        click.echo(f"  - {reason}")
