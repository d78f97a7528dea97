"""How a Graph answer that is not a success becomes a delivery error (calendar, groups)."""

from __future__ import annotations

import requests

from hub.channels.base import PermanentError, TransientError, graph_failure


def answer(status: int, body: bytes, headers: dict | None = None) -> requests.Response:
    response = requests.Response()
    response.status_code = status
    response._content = body
    response.headers.update(headers or {})
    return response


class Tokens:
    dropped = 0

    def invalidate(self) -> None:
        self.dropped += 1


def test_graph_errors_name_the_code_and_retry_only_what_may_pass():
    tokens = Tokens()
    gone = graph_failure(
        answer(404, b'{"error": {"code": "ResourceNotFound", "message": "no such group"}}'),
        "GET groups",
        tokens,
    )
    assert isinstance(gone, PermanentError)
    assert str(gone) == "Graph GET groups 404: ResourceNotFound: no such group"
    busy = graph_failure(answer(429, b"{}", {"Retry-After": "7"}), "POST events", tokens)
    assert isinstance(busy, TransientError) and busy.retry_after == 7.0
    assert tokens.dropped == 0
    expired = graph_failure(answer(401, b"not json"), "GET groups", tokens)
    assert isinstance(expired, TransientError) and "401: not json" in str(expired)
    assert tokens.dropped == 1  # the next try fetches a new token
    assert isinstance(graph_failure(answer(503, b""), "GET groups"), TransientError)
    assert isinstance(graph_failure(answer(400, b"[]"), "GET groups"), PermanentError)
