"""The severities and escalation sections of the policy file, read into the model."""

from __future__ import annotations

from datetime import timedelta

from yaml.nodes import Node

from hub.policy.checks import Reader, suggest
from hub.policy.model import CHANNELS, ROLE_NAMES, EscalationStep, Severity, channel_names

DURATION_KEYS = (
    "ack_within", "update_every", "first_update_within", "resolve_within", "review_within",
)  # fmt: skip
SEVERITY_KEYS = ("major", *DURATION_KEYS, "notify", "approve_updates")
MAJOR_NEEDS = ("ack_within", "update_every")  # without them a major incident has no clock
STEP_KEYS = ("after", "notify", "via", "unless")


def read_severities(r: Reader, entries: list | None, known: dict) -> dict[str, Severity]:
    severities = {}
    for rank, (key, _, node) in enumerate(entries or []):
        path = f"severities.{key}"
        f = r.mapping(node, path, SEVERITY_KEYS)
        if f is None:
            continue
        major = bool(r.boolean(f.get("major"), f"{path}.major"))
        durations = {name: r.duration(f.get(name), f"{path}.{name}") for name in DURATION_KEYS}
        for name in MAJOR_NEEDS if major else ():
            if name not in f:
                r.problem(node, f"{path}.{name}", "required for a major severity (major: true)")
        notify = r.refs(f.get("notify"), f"{path}.notify", known["audiences"], "audience")
        approve = r.string(f.get("approve_updates"), f"{path}.approve_updates")
        if approve is not None and approve not in ROLE_NAMES:
            r.problem(
                f["approve_updates"],
                f"{path}.approve_updates",
                f"unknown role {approve!r}{suggest(approve, ROLE_NAMES)}",
            )
            approve = None
        severities[key] = Severity(
            key=key, rank=rank, major=major, notify=notify, approve_updates=approve, **durations
        )
    return severities


def read_escalation(
    r: Reader, node: Node | None, known: dict
) -> dict[str, tuple[EscalationStep, ...]]:
    escalation = {}
    for key, key_node, value in r.entries(node, "escalation") or []:
        path = f"escalation.{key}"
        r.ref(key_node, path, known["severities"], "severity")
        steps, latest = [], None  # latest: (after, as written) of the latest step so far
        for i, item in enumerate(r.seq(value, path) or []):
            f = r.mapping(item, f"{path}[{i}]", STEP_KEYS, required=("after", "notify"))
            if f is None:
                continue
            steps.append(_read_step(r, f, f"{path}[{i}]", known, latest))
            if "after" in f and (latest is None or steps[-1].after >= latest[0]):
                latest = (steps[-1].after, f["after"].value)
        escalation[key] = tuple(steps)
    return escalation


def _read_step(
    r: Reader, f: dict[str, Node], path: str, known: dict, latest: tuple | None
) -> EscalationStep:
    after = r.duration(f.get("after"), f"{path}.after", positive=False)
    if after is not None and latest is not None and after < latest[0]:
        message = f"steps must be in order of 'after': {f['after'].value} comes after {latest[1]}"
        r.problem(f["after"], f"{path}.after", message)
    for name in ("notify", "via"):
        if name in f and r.seq(f[name], f"{path}.{name}", single_ok=True) == []:
            r.problem(f[name], f"{path}.{name}", "needs at least one entry")
    unless = r.string(f.get("unless"), f"{path}.unless")
    if unless not in (None, "acknowledged"):
        r.problem(
            f["unless"], f"{path}.unless", f"unknown condition {unless!r}; expected 'acknowledged'"
        )
    return EscalationStep(
        after=after or timedelta(0),
        notify=r.targets(f.get("notify"), f"{path}.notify", known),
        via=r.refs(f.get("via"), f"{path}.via", channel_names(), "channel") or CHANNELS,
        unless=unless,
    )
