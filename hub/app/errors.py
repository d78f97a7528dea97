"""One small error hierarchy; one handler turns it into JSON or HTML."""

from __future__ import annotations


def one_of(choices) -> str:
    """`a, b or c`: the allowed values, as an error message lists them."""
    choices = list(choices)
    return choices[0] if len(choices) == 1 else f"{', '.join(choices[:-1])} or {choices[-1]}"


class HubError(Exception):
    """Base of every error the hub reports to a caller."""

    status = 400
    code = "bad_request"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        details: dict | None = None,
        headers: dict[str, str] | None = None,
    ):
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        self.details = details or {}
        self.headers = headers or {}  # extra response headers (e.g. WWW-Authenticate on 401)


class Invalid(HubError):
    status = 422
    code = "invalid"


class BadRequest(HubError):
    status = 400
    code = "bad_request"


class Unauthorized(HubError):
    status = 401
    code = "unauthorized"


class Forbidden(HubError):
    status = 403
    code = "forbidden"


class NotFound(HubError):
    status = 404
    code = "not_found"


class Conflict(HubError):
    status = 409
    code = "conflict"


class TooLarge(HubError):
    status = 413
    code = "too_large"


class UnsupportedMediaType(HubError):
    status = 415
    code = "unsupported_media_type"
