"""What every fake HTTP peer shares: a threaded server, a request recorder and a fault plan.

A fake subclasses `FakeServer` and returns its routes from `routes()` as
`(method, regex, handler)`; `handler(request, **groups)` returns a `Response`. Every request
is recorded before anything else happens, then `FaultPlan` may delay it (`slow`) or answer it
with an injected failure (`fail_next`), then the route runs. `stop()` closes the port,
`start()` opens the same port again, so a test can script "peer down for a while".
"""

from __future__ import annotations

import json
import re
import signal
import socket
import threading
import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit


@dataclass
class Request:
    """One request as the fake received it."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # lower-case names
    body: bytes
    at: float = field(default_factory=time.time)

    def json(self):
        return json.loads(self.body or b"null")

    def form(self) -> dict[str, str]:
        return {k: v[-1] for k, v in parse_qs(self.body.decode("utf-8", "replace")).items()}


@dataclass
class Response:
    """What a route answers."""

    status: int = 200
    body: bytes | dict | list | str = b""
    headers: dict[str, str] = field(default_factory=dict)

    def encoded(self) -> tuple[bytes, str]:
        if isinstance(self.body, dict | list):
            return json.dumps(self.body).encode(), "application/json; charset=utf-8"
        if isinstance(self.body, str):
            return self.body.encode(), "text/plain; charset=utf-8"
        return self.body, "application/octet-stream"


class Recorder:
    """Every request, in arrival order; thread-safe."""

    def __init__(self):
        self._items: list[Request] = []
        self._lock = threading.Lock()

    def add(self, request: Request) -> None:
        with self._lock:
            self._items.append(request)

    def requests(self, prefix: str = "", method: str | None = None) -> list[Request]:
        """Recorded requests whose path starts with `prefix` (and of `method`, if given)."""
        with self._lock:
            return [
                r
                for r in self._items
                if r.path.startswith(prefix) and (method is None or r.method == method)
            ]

    def count(self, prefix: str = "", method: str | None = None) -> int:
        return len(self.requests(prefix, method))

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


@dataclass
class Fault:
    prefix: str
    status: int
    times: int
    retry_after: float | None = None
    body: bytes | dict | str | None = None


class FaultPlan:
    """Scripted failures and delays, consumed by matching requests; thread-safe."""

    def __init__(self):
        self._faults: list[Fault] = []
        self._delays: list[tuple[str, float]] = []
        self._lock = threading.Lock()

    def fail_next(
        self, prefix: str, status: int, times: int = 1, retry_after: float | None = None, body=None
    ) -> None:
        """Answer the next `times` requests under `prefix` with `status`."""
        with self._lock:
            self._faults.append(Fault(prefix, status, times, retry_after, body))

    def slow(self, seconds: float, prefix: str = "") -> None:
        """Delay every request under `prefix` by `seconds` (0 removes the delay)."""
        with self._lock:
            self._delays = [d for d in self._delays if d[0] != prefix]
            if seconds > 0:
                self._delays.append((prefix, seconds))

    def take(self, path: str) -> Fault | None:
        """The fault for this request, if one is scheduled (consumes one use of it)."""
        with self._lock:
            for fault in self._faults:
                if path.startswith(fault.prefix):
                    fault.times -= 1
                    if fault.times <= 0:
                        self._faults.remove(fault)
                    return fault
        return None

    def delay(self, path: str) -> float:
        with self._lock:
            return max((s for p, s in self._delays if path.startswith(p)), default=0.0)

    def reset(self) -> None:
        with self._lock:
            self._faults.clear()
            self._delays.clear()


Route = tuple[str, str, Callable[..., Response]]


class FakeServer:
    """A ThreadingHTTPServer on 127.0.0.1 in a daemon thread, dispatching to `routes()`."""

    def __init__(self, port: int = 0, host: str = "127.0.0.1"):
        self.host, self.port = host, port
        self.recorder = Recorder()
        self.faults = FaultPlan()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._compiled = [(m, re.compile(p + r"\Z"), h) for m, p, h in self.routes()]

    def routes(self) -> list[Route]:
        """`(method, path regex, handler)` triples; subclasses extend `super().routes()`."""
        return []

    def error_response(self, request: Request, status: int, message: str) -> Response:
        """The provider-shaped error body for an injected fault or an unknown path."""
        return Response(status, {"error": {"code": f"Http{status}", "message": message}})

    # -- the fault-injection API tests use -------------------------------------------------
    def fail_next(
        self, prefix: str, status: int, times: int = 1, retry_after: float | None = None, body=None
    ) -> None:
        """Answer the next `times` requests under `prefix` with `status` (and Retry-After)."""
        self.faults.fail_next(prefix, status, times, retry_after, body)

    def slow(self, seconds: float, prefix: str = "") -> None:
        """Answer requests under `prefix` only after `seconds`."""
        self.faults.slow(seconds, prefix)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> FakeServer:
        """Listen (again, on the same port after a `stop()`)."""
        if self._server is not None:
            return self
        server = ThreadingHTTPServer((self.host, self.port), _handler_for(self))
        server.daemon_threads = True
        self._server, self.port = server, server.server_address[1]
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"{type(self).__name__}:{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Close the port: clients get connection refused until `start()`."""
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        if self._thread:
            self._thread.join(timeout=5)
        self._server = self._thread = None

    def __enter__(self) -> FakeServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def dispatch(self, request: Request) -> Response:
        """Record, delay, inject a fault, or run the matching route."""
        self.recorder.add(request)
        time.sleep(self.faults.delay(request.path))
        fault = self.faults.take(request.path)
        if fault is not None:
            response = self.error_response(request, fault.status, "injected fault")
            if fault.body is not None:
                response = Response(fault.status, fault.body)
            if fault.retry_after is not None:
                response.headers["Retry-After"] = str(int(fault.retry_after))
            return response
        for method, pattern, handler in self._compiled:
            match = pattern.match(request.path)
            if match and method == request.method:
                return handler(request, **match.groupdict())
        return self.error_response(request, 404, f"no route for {request.method} {request.path}")


def _handler_for(fake: FakeServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "mihub-fake/1"

        def _serve(self) -> None:
            parts = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            request = Request(
                self.command,
                parts.path,
                {k: v[-1] for k, v in parse_qs(parts.query).items()},
                {k.lower(): v for k, v in self.headers.items()},
                self.rfile.read(length) if length else b"",
            )
            try:
                response = fake.dispatch(request)
            except Exception as exc:  # a bug in a fake must show up as a 500, not a hang
                response = Response(500, {"error": {"code": "FakeBug", "message": repr(exc)}})
            body, content_type = response.encoded()
            self.send_response(response.status)
            headers = {
                "Content-Type": content_type,
                **response.headers,
                "Content-Length": len(body),
            }
            for name, value in headers.items():
                self.send_header(name, str(value))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

        def log_message(self, format, *args):  # noqa: A002 - keep test output quiet
            pass

    return Handler


LOOPBACK = ("127.0.0.1", "::1", "localhost")


@contextmanager
def loopback_only():
    """Within the block, any socket connect to a host other than loopback raises OSError (tests)."""
    real_connect, real_connect_ex = socket.socket.connect, socket.socket.connect_ex

    def check(sock: socket.socket, address) -> None:
        if sock.family in (socket.AF_INET, socket.AF_INET6) and address[0] not in LOOPBACK:
            raise OSError(f"blocked: a test tried to reach {address[0]}:{address[1]}")

    def connect(sock, address):
        check(sock, address)
        return real_connect(sock, address)

    def connect_ex(sock, address):
        check(sock, address)
        return real_connect_ex(sock, address)

    socket.socket.connect, socket.socket.connect_ex = connect, connect_ex
    try:
        yield
    finally:
        socket.socket.connect, socket.socket.connect_ex = real_connect, real_connect_ex


def run_until_interrupted(stop: Callable[[], None]) -> None:
    """Block until Ctrl-C or SIGTERM, then call `stop` (the command-line entry of each fake)."""

    def interrupt(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        stop()
