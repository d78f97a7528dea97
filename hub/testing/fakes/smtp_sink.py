"""An aiosmtpd SMTP sink on 127.0.0.1 that records every message; a test can stop and restart it.

In tests: `sink = SmtpSink().start()`, then `sink.messages` (raw bytes, envelope, peer),
`sink.reject[address] = "550 5.1.1 no such user"`, `sink.stop()` / `sink.start()` (same port).
From a shell: `python -m hub.testing.fakes.smtp_sink --port 2526 --dir DIR` writes each message to
DIR as a .eml file until Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import threading
import time
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from hub.testing.fakes.base import run_until_interrupted
from hub.testing.harness import free_port


@dataclass
class Received:
    """One message as the sink accepted it."""

    mail_from: str
    rcpt_tos: list[str]
    data: bytes
    peer: tuple  # (host, port) of the client connection: one per SMTP session
    at: float = field(default_factory=time.time)

    def message(self) -> EmailMessage:
        return BytesParser(policy=policy.default).parsebytes(self.data)


class _Handler:
    def __init__(self, sink: SmtpSink):
        self.sink = sink

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        if self.sink.credentials and not session.authenticated:
            return "530 5.7.0 Authentication required"
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        reply = self.sink.reject.get(address.lower())
        if reply:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        if self.sink.accept_delay:  # a relay that queues each message durably before its 250
            await asyncio.sleep(self.sink.accept_delay)
        self.sink.record(
            Received(
                envelope.mail_from,
                list(envelope.rcpt_tos),
                bytes(envelope.original_content or envelope.content),
                tuple(session.peer),
            )
        )
        return "250 2.0.0 OK queued"


class SmtpSink:
    """Records messages in memory (and as .eml files when `directory` is given)."""

    def __init__(
        self,
        port: int = 0,
        host: str = "127.0.0.1",
        *,
        directory: Path | None = None,
        credentials: tuple[str, str] | None = None,
        accept_delay: float = 0.0,
    ):
        self.host, self.port = host, port or free_port(host)
        self.directory = Path(directory) if directory else None
        self.credentials = credentials
        # seconds before the 250 to DATA: a real relay writes and fsyncs its queue file first
        self.accept_delay = accept_delay
        self.reject: dict[str, str] = {}  # lower-case address -> SMTP reply, e.g. "550 …"
        self.messages: list[Received] = []
        self._lock = threading.Lock()
        self._controller: Controller | None = None

    def _authenticate(self, server, session, envelope, mechanism, auth_data):
        ok = (
            isinstance(auth_data, LoginPassword)
            and self.credentials is not None
            and (auth_data.login.decode(), auth_data.password.decode()) == self.credentials
        )
        return AuthResult(success=ok, handled=False)  # let aiosmtpd answer 235 or 535

    def record(self, received: Received) -> None:
        with self._lock:
            self.messages.append(received)
            count = len(self.messages)
        if self.directory:
            self.directory.mkdir(parents=True, exist_ok=True)
            path = self.directory / f"{time.strftime('%Y%m%dT%H%M%S')}-{count:06d}.eml"
            tmp = path.with_name(f".{path.name}.tmp")
            tmp.write_bytes(received.data)
            tmp.replace(path)

    @property
    def url(self) -> str:
        creds = f"{self.credentials[0]}:{self.credentials[1]}@" if self.credentials else ""
        return f"smtp://{creds}{self.host}:{self.port}"

    def start(self) -> SmtpSink:
        """Listen (again, on the same port after a `stop()`)."""
        if self._controller is None:
            options = (
                {
                    "authenticator": self._authenticate,
                    "auth_require_tls": False,
                    "auth_exclude_mechanism": ["CRAM-MD5", "LOGIN"],
                }
                if self.credentials
                else {}
            )
            controller = Controller(
                _Handler(self),
                hostname=self.host,
                port=self.port,
                server_hostname="smtp-sink.test",
                ready_timeout=5,
                **options,
            )
            controller.start()
            self._controller = controller
        return self

    def stop(self) -> None:
        """Close the port: clients get connection refused until `start()`."""
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def clear(self) -> None:
        with self._lock:
            self.messages.clear()

    def __enter__(self) -> SmtpSink:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> None:
    """Run a sink in the foreground, writing .eml files."""
    parser = argparse.ArgumentParser(
        prog="python -m hub.testing.fakes.smtp_sink", description=__doc__
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=2526)
    parser.add_argument("--dir", type=Path, default=Path("var/sinks/smtp"))
    args = parser.parse_args(argv)
    sink = SmtpSink(args.port, args.host, directory=args.dir).start()
    print(f"SMTP sink on {sink.host}:{sink.port}, writing to {args.dir} (Ctrl-C stops)", flush=True)
    run_until_interrupted(sink.stop)


if __name__ == "__main__":
    main()
