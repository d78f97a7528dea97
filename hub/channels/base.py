"""What every outgoing channel adapter shares: the errors that drive retries."""

from __future__ import annotations

from dataclasses import dataclass


class DeliveryError(Exception):
    """A delivery did not happen."""


class TransientError(DeliveryError):
    """Try again later: timeouts, connection errors, 429, 5xx. `retry_after` in seconds if known."""

    def __init__(self, message: str, retry_after: float | None = None):
        super().__init__(message)
        self.retry_after = retry_after


class PermanentError(DeliveryError):
    """Retrying cannot help: other 4xx, a rejected recipient, a broken template."""


@dataclass(frozen=True)
class Sent:
    """The provider accepted the message."""

    provider_id: str  # message id, request id, or sink file name
    detail: str = ""  # e.g. "202 Accepted"
