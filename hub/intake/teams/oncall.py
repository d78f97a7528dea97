"""The Teams `oncall` command: who is on call now and next, per schedule of the policy."""

from __future__ import annotations

from hub.app.db import utcnow
from hub.app.errors import NotFound
from hub.intake.commands import Command
from hub.intake.teams.context import Ctx, Outcome
from hub.intake.teams.replies import Reply, block, card, esc, open_url
from hub.schedules.overrides import active_overrides
from hub.schedules.views import oncall_lines


def do_oncall(ctx: Ctx, cmd: Command) -> Outcome:
    """`oncall`: every schedule; `oncall mim`: that one."""
    policy, now = ctx.policy, ctx.now or utcnow()
    if not policy.schedules:
        return Outcome(Reply("No on-call schedules are defined in the policy."), "oncall")
    names = list(policy.schedules)
    if cmd.text:
        if cmd.text not in policy.schedules:
            raise NotFound(f"No schedule {cmd.text!r}; schedules are: {', '.join(names)}.")
        names = [cmd.text]
    lines = [
        esc(line) for line in oncall_lines(policy, names, active_overrides(ctx.session, now), now)
    ]
    text = "\n\n".join(lines)
    base = ctx.base_url.rstrip("/")
    reply_card = card(
        [block("On call", weight="Bolder"), *(block(line) for line in lines)],
        [open_url("Schedules", f"{base}/schedules")],
    )
    return Outcome(Reply(text, reply_card), "oncall")
