"""Warnings about service names that read reports badly: overlapping and everyday aliases."""

from __future__ import annotations

import re

from yaml.nodes import Node

from hub.policy.checks import Reader

# everyday words a policy should not use alone as a service's name
EVERYDAY = frozenset(
    [
        "access",
        "account",
        "app",
        "billing",
        "calendar",
        "chat",
        "cloud",
        "data",
        "email",
        "exchange",
        "files",
        "finance",
        "help",
        "home",
        "internet",
        "invoicing",
        "login",
        "logon",
        "mail",
        "network",
        "office",
        "order",
        "orders",
        "phone",
        "portal",
        "print",
        "printer",
        "remote",
        "sales",
        "salary",
        "sap",
        "scanner",
        "scanners",
        "server",
        "service",
        "shop",
        "site",
        "store",
        "system",
        "team",
        "teams",
        "tickets",
        "time",
        "tracking",
        "travel",
        "warehouse",
        "web",
        "website",
        "wifi",
    ]
)


def check_aliases(r: Reader, named: list[tuple[str, str, Node, str]]) -> None:
    """Warn (the policy still loads) about an alias inside another service's name ("portal"
    in "hr portal") and about aliases that are everyday words ("mail", "sap", "orders").

    `named`: (service key, alias, its node, field path) in file order.
    """
    for key, alias, node, field in named:
        low = " ".join(alias.lower().split())
        for other, longer, other_node, _ in named:
            long_low = " ".join(longer.lower().split())
            if other == key or long_low == low:
                continue
            if re.search(rf"(?<!\w){re.escape(low)}(?!\w)", long_low):
                r.warn(
                    node,
                    field,
                    f"alias {alias!r} of {key} is part of {longer!r} of {other} (line "
                    f"{r.line(other_node)}): a report naming {longer!r} is read as {other}, the "
                    f"longer name, but {alias!r} alone still means {key}; make them distinct",
                )
        if low in EVERYDAY:
            r.warn(
                node,
                field,
                f"alias {alias!r} of {key} is an everyday word: a report that uses it in passing "
                f"may be read as about {key}; prefer a name only {key} has",
            )
