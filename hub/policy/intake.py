"""The policy file's intake section (inbound email, correlation window), read into the model."""

from __future__ import annotations

from yaml.nodes import Node

from hub.policy.checks import Reader
from hub.policy.model import Intake

EMAIL_INTAKE_KEYS = ("address", "allowed_senders", "max_message_bytes", "rate_per_sender_per_hour")


def read_intake(r: Reader, node: Node | None) -> Intake:
    f = r.mapping(node, "intake", ("email", "correlation_window")) or {}
    email = r.mapping(f.get("email"), "intake.email", EMAIL_INTAKE_KEYS) or {}
    path = "intake.email"
    kwargs = {
        "email_address": r.email(email.get("address"), f"{path}.address"),
        "correlation_window": r.duration(f.get("correlation_window"), "intake.correlation_window"),
        "max_message_bytes": r.integer(
            email.get("max_message_bytes"), f"{path}.max_message_bytes", 1024
        ),
        "rate_per_sender_per_hour": r.integer(
            email.get("rate_per_sender_per_hour"), f"{path}.rate_per_sender_per_hour", 1
        ),
    }
    if "allowed_senders" in email:
        kwargs["allowed_senders"] = r.senders(email["allowed_senders"], f"{path}.allowed_senders")
    return Intake(**{key: value for key, value in kwargs.items() if value is not None})
