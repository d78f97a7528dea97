"""Teams out: Adaptive Cards from templates/teams/ and the transports that post them."""

from hub.channels.teams.cards import (
    check_size,
    envelope,
    render_card,
    render_message,
    validate_card,
)

__all__ = ["check_size", "envelope", "render_card", "render_message", "validate_card"]
