"""Run a Teams command: dispatch, with refusals and bad input turned into replies."""

from __future__ import annotations

from hub.app.errors import Forbidden, HubError
from hub.intake.commands import Command
from hub.intake.teams import replies
from hub.intake.teams.context import Ctx, Outcome
from hub.intake.teams.oncall import do_oncall
from hub.intake.teams.replies import Reply, esc
from hub.intake.teams.reports import do_declare, do_report, do_status
from hub.intake.teams.responders import (
    do_ack,
    do_assign,
    do_done,
    do_not_this,
    do_resolve,
    do_split,
    do_subscribe,
    do_unsubscribe,
    do_update,
)

HANDLERS = {
    "status": do_status,
    "report": do_report,
    "declare": do_declare,
    "ack": do_ack,
    "update": do_update,
    "assign": do_assign,
    "resolve": do_resolve,
    "subscribe": do_subscribe,
    "oncall": do_oncall,
    "split": do_split,
    "notthis": do_not_this,
    "done": do_done,
    "unsubscribe": do_unsubscribe,
}


def run(ctx: Ctx, cmd: Command) -> Outcome:
    """Execute the command; refusals and bad input become replies, their writes rolled back."""
    if cmd.name in ("unknown", "help"):
        return Outcome(
            replies.help_reply(
                ctx.base_url,
                cmd.error
                or (f"I don't know the command {cmd.text.split()[0]!r}." if cmd.text else None),
            ),
            "help",
        )
    if cmd.error:
        return Outcome(Reply(esc(cmd.error)), "invalid")
    handler = HANDLERS[cmd.name]
    try:
        with ctx.session.begin_nested():
            return handler(ctx, cmd)
    except Forbidden as exc:
        return Outcome(Reply(f"⛔ {esc(exc.message)}"), "refused")
    except HubError as exc:
        return Outcome(Reply(esc(exc.message)), exc.code)
